//! [`TokenIndex`]: a vocabulary with its token trie, built once and shared
//! by every constraint over it.

use std::sync::Arc;

use crate::trie::TokenTrie;
use crate::vocab::Vocabulary;

/// A vocabulary with its token trie: built once per vocabulary, shared by
/// every constraint and every matcher (cloning is an `Arc` bump).
#[derive(Clone, Debug)]
pub struct TokenIndex {
    vocabulary: Arc<Vocabulary>,
    trie: Arc<TokenTrie>,
}

impl TokenIndex {
    /// Builds the trie of `vocabulary`.
    pub fn new(vocabulary: Arc<Vocabulary>) -> TokenIndex {
        let trie = Arc::new(TokenTrie::new(&vocabulary));
        TokenIndex { vocabulary, trie }
    }

    /// The vocabulary.
    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocabulary
    }

    /// The token trie.
    pub fn trie(&self) -> &Arc<TokenTrie> {
        &self.trie
    }
}
