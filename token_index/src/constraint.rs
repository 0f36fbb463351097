//! [`TokenConstraint`]: a compiled grammar over a vocabulary, with the
//! mask cache its matchers share.

use std::sync::Arc;

use trellis_grammars::CompiledGrammar;

use crate::index::TokenIndex;
use crate::mask::{CacheStats, MaskCache, Masks};

/// A compiled grammar over a vocabulary: the factory of
/// [`TokenMatcher`](crate::TokenMatcher)s, and the cache of mask parts they
/// share. Cheap to clone (an `Arc`), `Send + Sync`: matchers on many
/// threads may compute masks of one constraint at once.
///
/// A mask is exact whatever the cache holds; the cache only makes it
/// cheap. Its three levels — by lexer state and parser top, by subtree,
/// and by whole matcher state — are described in `src/mask/compute.rs`: in
/// short, the first masks of a grammar walk the
/// vocabulary's trie, later ones copy a cached set and step a few boundary
/// tokens against the parser, or recall those for a state met before.
#[derive(Clone, Debug)]
pub struct TokenConstraint {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    grammar: CompiledGrammar,
    index: TokenIndex,
    cache: MaskCache,
}

/// What [`TokenConstraint::precompute`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Precomputed {
    /// Lexeme keys whose mask parts were computed (or were cached already).
    pub keys: usize,
    /// Distinct in-lexeme token sets among them (identical sets are stored
    /// once).
    pub distinct_sets: usize,
}

impl TokenConstraint {
    /// `grammar` over `index`'s vocabulary, with an empty cache.
    pub fn new(grammar: &CompiledGrammar, index: &TokenIndex) -> TokenConstraint {
        TokenConstraint::with_cache(grammar, index, MaskCache::default())
    }

    pub(crate) fn with_cache(grammar: &CompiledGrammar, index: &TokenIndex, cache: MaskCache) -> TokenConstraint {
        let shared = Shared { grammar: grammar.clone(), index: index.clone(), cache };
        TokenConstraint { shared: Arc::new(shared) }
    }

    /// The grammar.
    pub fn grammar(&self) -> &CompiledGrammar {
        &self.shared.grammar
    }

    /// The vocabulary and trie.
    pub fn index(&self) -> &TokenIndex {
        &self.shared.index
    }

    pub(crate) fn cache(&self) -> &MaskCache {
        &self.shared.cache
    }

    /// The mask computation over this constraint's parts.
    pub(crate) fn masks(&self) -> Masks<'_> {
        let shared = &*self.shared;
        Masks {
            grammar: &shared.grammar,
            vocabulary: shared.index.vocabulary(),
            trie: shared.index.trie(),
            cache: &shared.cache,
        }
    }

    /// Computes the cached mask part of every lexeme key the grammar can
    /// reach ([`trellis_grammars::CompiledGrammar::lexeme_keys`]), so that
    /// no mask later pays for a first visit; identical in-lexeme token sets
    /// are kept once. `progress(done, total)` is called after each key.
    /// Does nothing for grammars without stable keys (GLR driver, or a
    /// lexer built lazily: compile with `config.lexer.eager = true` to have
    /// them).
    pub fn precompute(&self, mut progress: impl FnMut(usize, usize)) -> Precomputed {
        let Some(keys) = self.shared.grammar.lexeme_keys() else { return Precomputed::default() };
        let masks = self.masks();
        for (done, &key) in keys.iter().enumerate() {
            masks.lexeme_part(key);
            progress(done + 1, keys.len());
        }
        Precomputed { keys: keys.len(), distinct_sets: self.cache_stats().distinct_sets }
    }

    /// Empties the memo of mask parts by whole matcher state (the parts
    /// that depend on the full parser stack), keeping the parts fixed by
    /// lexer state and parser top. Masks stay exact either way; this
    /// releases memory, or lets a benchmark measure states it has not met
    /// before. The memo also empties itself when it reaches 16 MB.
    pub fn forget_states(&self) {
        self.shared.cache.forget_states();
    }

    /// What the mask cache holds and its memo of states has served.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.cache.stats()
    }
}
