//! [`TokenTrie`]: the vocabulary's text tokens as a prefix tree, laid out
//! flat for the mask walk.
//!
//! # Why a trie, and why this layout
//!
//! A mask asks, for every token t, whether `prefix · bytes(t)` is still a
//! viable prefix of the constraint's language (design.md §2). Tokens share
//! prefixes massively (`" the"`, `" then"`, `" there"`, …), so instead of
//! running the byte-level automaton over each token separately, the mask
//! walk (design.md §3) runs it once per *trie node*: a depth-first walk that
//! advances the automaton by one byte per edge, and skips a node's whole
//! subtree the moment the automaton dies there.
//!
//! The nodes are stored in one array in depth-first (pre-)order. Each node
//! holds its byte, its depth, and the index just past its subtree, so:
//!
//! - visiting the next node is `index + 1` (its first child if it has one,
//!   else the next node up the tree): a linear scan through memory;
//! - pruning a subtree is one jump to `subtree_end`, O(1) whatever its size;
//! - the walker needs no parent pointers: it keeps its own automaton states
//!   in a stack indexed by depth, and a pre-order walk guarantees that
//!   `stack[..depth]` holds exactly the states of the current node's
//!   ancestors.
//!
//! This is the layout of llguidance's `toktrie`. The design (design.md §1)
//! named the `fst` crate for the trie; a DFS over an `fst` map walks the same
//! tree but decodes packed, shared nodes on every step. The bench
//! `token_index/benches/trie_walk.rs` measures both on o200k and SmolLM2
//! with the same regex walk: the flat array walks 4–10× faster and builds
//! 3× faster (figures in the bench's doc comment), so it is the one kept,
//! although the fst is about 2.5× smaller.
//!
//! # Two sections
//!
//! The tokens of the [`TextSlice`] (well-formed text without a quote, a
//! backslash or a control character: 195,273 of o200k's 199,998) form the
//! first section, every other text token the second, each a pre-order
//! forest of its own (o200k: 1,155 prefixes are in both, 0.3 % more
//! nodes). A mask from a state that keeps text inside its lexeme takes the
//! first section's tokens up to the length the lexer allows as one
//! precomputed set and walks only the second section and the longer text
//! tokens (each node knows the longest token below it); see
//! `src/mask/compute.rs`. [`walk`](TokenTrie::walk) visits both sections.

use crate::token_set::TokenSet;
use crate::vocab::{TokenId, Vocabulary};

mod text_slice;
pub use text_slice::TextSlice;

/// The position of a node in a [`TokenTrie`], from
/// [`walk_indexed`](TokenTrie::walk_indexed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeIndex(u32);

impl NodeIndex {
    /// The index as an integer, for storing precomputed masks.
    pub fn to_raw(self) -> u32 {
        self.0
    }
}

/// One trie node: a non-empty prefix of at least one text token.
///
/// 12 bytes, so a walk streams through memory; `u32` fields are enough
/// because [`Vocabulary`] bounds both a token's length (24 bits) and the
/// total bytes (32 bits), and a trie has at most one node per token byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    /// The edge byte in the low 8 bits; the depth (length of the prefix
    /// this node stands for, 1 for the root's children) in the high 24.
    byte_and_depth: u32,
    /// Index of the first node after this node's subtree (the next sibling,
    /// or an ancestor's next sibling, or the sentinel).
    subtree_end: u32,
    /// `tokens[tokens_start..next node's tokens_start]` are the ids whose
    /// bytes are exactly this node's prefix.
    tokens_start: u32,
}

impl Node {
    fn byte(self) -> u8 {
        // Truncation keeps the low 8 bits, which is where the byte lives.
        self.byte_and_depth as u8
    }

    fn depth(self) -> usize {
        (self.byte_and_depth >> 8) as usize
    }
}

/// A prefix tree over a [`Vocabulary`]'s text tokens (Normal and
/// ByteFallback; Special and Unused tokens are left out, since they never
/// match grammar text), built for depth-first walks that prune.
///
/// Build it once per vocabulary and share it as `Arc<TokenTrie>` between
/// every constraint compiled for that vocabulary: it is immutable,
/// `Send + Sync`, and takes 12 bytes per distinct token prefix plus 4 per
/// token, plus the text slice's sets by length (o200k: 422,815 nodes, 7.1 MB,
/// built in 74 ms; SmolLM2: 100,349 nodes, 1.7 MB). [`TokenTrie::walk`] is the only way in; see its
/// documentation for the contract a mask computation relies on.
///
/// ```
/// use std::sync::Arc;
/// use trellis_token_index::{TokenKind, TokenTrie, Vocabulary};
///
/// let vocabulary = Vocabulary::from_tokens(
///     vec![
///         (b"a".to_vec(), TokenKind::Normal),
///         (b"ab".to_vec(), TokenKind::Normal),
///         (b"</s>".to_vec(), TokenKind::Special), // not in the trie
///         (b"b".to_vec(), TokenKind::Normal),
///         (b"a".to_vec(), TokenKind::ByteFallback), // <0x61>: same node as "a"
///     ],
///     vec![2],
///     None,
/// )?;
/// let trie = Arc::new(TokenTrie::new(&vocabulary));
/// assert_eq!(trie.num_tokens(), 4);
/// assert_eq!(trie.num_nodes(), 3); // "a", "ab", "b"
/// assert_eq!(trie.max_depth(), 2);
/// # Ok::<(), trellis_token_index::VocabError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenTrie {
    /// The nodes in pre-order, children in increasing byte order, followed
    /// by one sentinel whose `tokens_start` is `tokens.len()` (so every real
    /// node can read its token range from its successor).
    nodes: Vec<Node>,
    /// Token ids grouped by node, in node order; within a node, by id.
    tokens: Vec<TokenId>,
    max_depth: usize,
    vocabulary_len: usize,
    vocabulary_fingerprint: u64,
    /// Nodes `..text_end` are the text section (the tokens of the
    /// [`TextSlice`]), the rest the other tokens' section; each section is
    /// a pre-order forest of its own.
    text_end: u32,
    /// Per node, the length of the longest token in its subtree (capped at
    /// 255): a walk that already holds every text token up to some length
    /// skips the subtrees with nothing longer.
    max_below: Vec<u8>,
    /// `text_within[k - 1]`: the text tokens of at most `k` bytes, for
    /// `k ≤ TEXT_LENGTHS`; the last entry holds them all.
    text_within: Vec<TokenSet>,
    /// The longest text token.
    text_max_len: usize,
}

/// Text tokens are kept in sets by length up to this many bytes (and all
/// together): on o200k 93 % of text tokens are at most 12 bytes long, and
/// 33 sets take 0.8 MB.
const TEXT_LENGTHS: usize = 32;

impl TokenTrie {
    /// Builds the trie of `vocabulary`'s Normal and ByteFallback tokens.
    ///
    /// O(n log n) in the number of tokens (a sort) plus linear in their
    /// bytes; o200k takes well under a second. Several ids with the same
    /// bytes (a SentencePiece `<0x61>` and `a`) share one node and are all
    /// reported there.
    pub fn new(vocabulary: &Vocabulary) -> TokenTrie {
        let mut text_tokens: Vec<(&[u8], TokenId)> = vocabulary
            .iter()
            .filter(|(_, bytes, kind)| kind.is_text() && !bytes.is_empty())
            .map(|(id, bytes, _)| (bytes, id))
            .collect();
        // Lexicographic order of byte strings is exactly the pre-order of
        // their trie nodes (a prefix sorts before its extensions), and ids
        // break ties so a node's tokens come out sorted.
        text_tokens.sort_unstable();
        let (text, rest): (Vec<_>, Vec<_>) = text_tokens.into_iter().partition(|(bytes, _)| TextSlice.contains(bytes));

        let mut nodes: Vec<Node> = Vec::new();
        let mut tokens: Vec<TokenId> = Vec::with_capacity(text.len() + rest.len());
        let mut max_depth = 0;
        let mut text_end = 0;
        for (number, section) in [&text, &rest].into_iter().enumerate() {
            // `path[d]` is the index of the node at depth d + 1 on the path
            // to the last token inserted; nodes leave the path once the next
            // token diverges above them, and only then is their subtree
            // complete.
            let mut path: Vec<usize> = Vec::new();
            let mut previous: &[u8] = &[];
            for &(bytes, id) in section {
                let common = bytes.iter().zip(previous).take_while(|(a, b)| a == b).count();
                for closed in path.drain(common..) {
                    nodes[closed].subtree_end = to_u32(nodes.len());
                }
                for (offset, &byte) in bytes.iter().enumerate().skip(common) {
                    path.push(nodes.len());
                    nodes.push(Node {
                        // offset + 1 <= Vocabulary::MAX_TOKEN_LEN < 2^24.
                        byte_and_depth: u32::from(byte) | (to_u32(offset + 1) << 8),
                        subtree_end: 0, // set when the node leaves `path`
                        tokens_start: to_u32(tokens.len()),
                    });
                }
                tokens.push(id);
                max_depth = max_depth.max(bytes.len());
                previous = bytes;
            }
            for closed in path.drain(..) {
                nodes[closed].subtree_end = to_u32(nodes.len());
            }
            if number == 0 {
                text_end = to_u32(nodes.len());
            }
        }
        let sentinel = to_u32(nodes.len());
        nodes.push(Node { byte_and_depth: 0, subtree_end: sentinel, tokens_start: to_u32(tokens.len()) });
        // Built once and kept for the life of the vocabulary: give back the
        // growth slack (about a fifth of the memory on o200k).
        nodes.shrink_to_fit();
        tokens.shrink_to_fit();
        let max_below = max_below(&nodes);

        let text_max_len = text.iter().map(|(bytes, _)| bytes.len()).max().unwrap_or(0);
        // By length (the last bucket: longer than TEXT_LENGTHS), then
        // cumulative.
        let mut by_length: Vec<Vec<TokenId>> = vec![Vec::new(); TEXT_LENGTHS + 1];
        for &(bytes, id) in &text {
            by_length[bytes.len().min(TEXT_LENGTHS + 1) - 1].push(id);
        }
        let mut set = TokenSet::new(vocabulary.len());
        let text_within = by_length
            .iter()
            .map(|ids| {
                ids.iter().for_each(|&id| set.insert(id));
                set.clone()
            })
            .collect();
        TokenTrie {
            nodes,
            tokens,
            max_depth,
            vocabulary_len: vocabulary.len(),
            vocabulary_fingerprint: vocabulary.fingerprint(),
            text_end,
            max_below,
            text_within,
            text_max_len,
        }
    }

    /// Walks the trie depth-first, section by section (the text slice's
    /// tokens, then the others; see [the module docs](self)), each in
    /// increasing byte order, letting the
    /// caller prune.
    ///
    /// For every node — every non-empty prefix `p` of some text token —
    /// whose ancestors were all entered, `enter(depth, byte)` is called with
    /// `depth = p.len()` (≥ 1) and `byte = p[depth - 1]`:
    ///
    /// - return `true` to enter the node: `on_token(id)` is then called for
    ///   each token whose bytes are exactly `p` (in increasing id order),
    ///   and the walk goes on into `p`'s children;
    /// - return `false` to prune: nothing under `p` (nor `p`'s own tokens)
    ///   is visited, and the walk jumps to the next node outside `p`'s
    ///   subtree in O(1).
    ///
    /// So `on_token(t)` is called exactly once for each text token `t` for
    /// which `enter` returned `true` on every non-empty prefix of
    /// `bytes(t)`, and for no other token.
    ///
    /// **The state stack.** Because the walk is pre-order, when `enter` is
    /// called at `depth`, the nodes previously entered at depths
    /// `1..depth` are exactly the ancestors of the current node. A walker
    /// that keeps an automaton state per depth — `stack[0]` the state before
    /// the token, `stack[d]` the state after its first `d` bytes — computes
    /// `stack[depth] = step(stack[depth - 1], byte)` and may overwrite
    /// whatever a previous branch left at `stack[depth..]`. The stack needs
    /// [`max_depth`](Self::max_depth)` + 1` entries and is allocated once.
    /// `on_token` runs right after the `enter` of its node, so the state for
    /// the token's last byte is `stack[depth]` of that call.
    ///
    /// # Example
    ///
    /// The tokens of a vocabulary that the constraint "lowercase letters,
    /// then at most one space" (`[a-z]* ?`) allows at the start, using a
    /// two-state automaton. Tokens come in byte order of their bytes:
    ///
    /// ```
    /// use trellis_token_index::{TokenKind, TokenTrie, Vocabulary};
    ///
    /// let texts = ["a", "ab", "ab ", "a b", "b", "B", " ", "ba", "b  "];
    /// let vocabulary = Vocabulary::from_tokens(
    ///     texts.iter().map(|t| (t.as_bytes().to_vec(), TokenKind::Normal)).collect(),
    ///     vec![],
    ///     None,
    /// )?;
    /// let trie = TokenTrie::new(&vocabulary);
    ///
    /// // States: 0 = in the letters, 1 = after the space; None = dead.
    /// let step = |state: u8, byte: u8| match (state, byte) {
    ///     (0, b'a'..=b'z') => Some(0),
    ///     (0, b' ') => Some(1),
    ///     _ => None,
    /// };
    /// let mut stack = vec![0u8; trie.max_depth() + 1]; // stack[0]: the start state
    /// let mut allowed = Vec::new();
    /// trie.walk(
    ///     |depth, byte| match step(stack[depth - 1], byte) {
    ///         Some(next) => {
    ///             stack[depth] = next;
    ///             true
    ///         }
    ///         None => false, // dead: skip every token below this prefix
    ///     },
    ///     |token| allowed.push(texts[token as usize]),
    /// );
    /// assert_eq!(allowed, [" ", "a", "ab", "ab ", "b", "ba"]);
    /// # Ok::<(), trellis_token_index::VocabError>(())
    /// ```
    #[inline]
    pub fn walk<Enter, OnToken>(&self, mut enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        // The sentinel is the last node; it is never entered.
        self.walk_range(0, self.nodes.len() - 1, 0, |_, depth, byte| enter(depth, byte), on_token);
    }

    /// Like [`walk`](Self::walk), but `enter` also gets the node's index,
    /// for a later [`walk_subtree`](Self::walk_subtree) from that node.
    #[inline]
    pub fn walk_indexed<Enter, OnToken>(&self, enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(NodeIndex, usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        self.walk_range(0, self.nodes.len() - 1, 0, enter, on_token);
    }

    /// Walks the subtree rooted at `node` (the node itself first), as
    /// [`walk`](Self::walk) walks the whole trie, with depths relative to
    /// the node's parent: `node` is entered at depth 1.
    ///
    /// # Panics
    ///
    /// If `node` is not an index this trie handed out.
    #[inline]
    pub fn walk_subtree<Enter, OnToken>(&self, node: NodeIndex, mut enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        let index = node.0 as usize;
        assert!(index + 1 < self.nodes.len(), "node index {index} out of range");
        let root = self.nodes[index];
        let base = root.depth() - 1;
        self.walk_range(index, root.subtree_end as usize, base, |_, depth, byte| enter(depth, byte), on_token);
    }

    /// [`walk_subtree`](Self::walk_subtree) that also gives `enter` each
    /// node's index.
    #[inline]
    pub fn walk_subtree_indexed<Enter, OnToken>(&self, node: NodeIndex, enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(NodeIndex, usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        let index = node.0 as usize;
        assert!(index + 1 < self.nodes.len(), "node index {index} out of range");
        let root = self.nodes[index];
        let base = root.depth() - 1;
        self.walk_range(index, root.subtree_end as usize, base, enter, on_token);
    }

    /// The text tokens of at most `length` bytes ([`TextSlice`]), and the
    /// length past which [`walk_text_beyond`](Self::walk_text_beyond) must
    /// walk; `None` for length 0.
    pub(crate) fn text_within(&self, length: usize) -> Option<(&TokenSet, usize)> {
        match length {
            0 => None,
            _ if length >= self.text_max_len => self.text_within.last().map(|set| (set, usize::MAX)),
            _ => {
                let length = length.min(TEXT_LENGTHS);
                Some((&self.text_within[length - 1], length))
            }
        }
    }

    /// The longest token of the text section.
    pub(crate) fn text_max_len(&self) -> usize {
        self.text_max_len
    }

    /// Walks the text section as [`walk_indexed`](Self::walk_indexed)
    /// does, skipping (without entering them) the subtrees that hold no
    /// token longer than `within` bytes: a caller that holds those tokens
    /// already ([`text_within`](Self::text_within)) walks only what lies
    /// deeper. `within == usize::MAX` walks nothing.
    pub(crate) fn walk_text_beyond<Enter, OnToken>(&self, within: usize, mut enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(NodeIndex, usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        if within == usize::MAX {
            return;
        }
        let max_below = &self.max_below;
        let enter =
            |node: NodeIndex, depth, byte| usize::from(max_below[node.0 as usize]) > within && enter(node, depth, byte);
        self.walk_range(0, self.text_end as usize, 0, enter, on_token);
    }

    /// Walks the section of the tokens outside the text slice, as
    /// [`walk_indexed`](Self::walk_indexed) walks both.
    pub(crate) fn walk_rest_indexed<Enter, OnToken>(&self, enter: Enter, on_token: OnToken)
    where
        Enter: FnMut(NodeIndex, usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        self.walk_range(self.text_end as usize, self.nodes.len() - 1, 0, enter, on_token);
    }

    #[inline]
    fn walk_range<Enter, OnToken>(&self, start: usize, end: usize, base: usize, mut enter: Enter, mut on_token: OnToken)
    where
        Enter: FnMut(NodeIndex, usize, u8) -> bool,
        OnToken: FnMut(TokenId),
    {
        let mut index = start;
        while index < end {
            let node = self.nodes[index];
            if enter(NodeIndex(index as u32), node.depth() - base, node.byte()) {
                let first = node.tokens_start as usize;
                let last = self.nodes[index + 1].tokens_start as usize;
                for &token in &self.tokens[first..last] {
                    on_token(token);
                }
                index += 1;
            } else {
                index = node.subtree_end as usize;
            }
        }
    }

    /// The length of the longest token in the trie: a walker's state stack
    /// needs one more entry than this.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The number of tokens in the trie (the vocabulary's Normal and
    /// ByteFallback tokens).
    pub fn num_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// The number of nodes: distinct non-empty prefixes of the tokens.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len() - 1
    }

    /// The number of ids of the vocabulary the trie was built from,
    /// Special and Unused ones included: the length of a mask's bitset.
    pub fn vocabulary_len(&self) -> usize {
        self.vocabulary_len
    }

    /// The [fingerprint](Vocabulary::fingerprint) of the vocabulary the
    /// trie was built from, to check that a trie and a vocabulary belong
    /// together.
    pub fn vocabulary_fingerprint(&self) -> u64 {
        self.vocabulary_fingerprint
    }

    /// The node at this raw index ([`NodeIndex::to_raw`]), if the trie has
    /// one.
    pub fn node_from_raw(&self, raw: u32) -> Option<NodeIndex> {
        ((raw as usize) < self.num_nodes()).then_some(NodeIndex(raw))
    }

    /// Approximate heap memory held by the trie, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.tokens.capacity() * std::mem::size_of::<TokenId>()
            + self.max_below.capacity()
            + self.text_within.iter().map(|set| set.words().len() * 8).sum::<usize>()
    }
}

/// Per node, the length of the longest token in its subtree, capped at
/// 255: in reverse pre-order every node's children are done before it.
fn max_below(nodes: &[Node]) -> Vec<u8> {
    let real = nodes.len() - 1; // the sentinel is no node
    let mut below = vec![0u8; nodes.len()];
    for index in (0..real).rev() {
        let node = nodes[index];
        let own = if nodes[index + 1].tokens_start > node.tokens_start { node.depth().min(255) as u8 } else { 0 };
        let mut longest = own;
        let mut child = index + 1;
        while child < node.subtree_end as usize {
            longest = longest.max(below[child]);
            child = nodes[child].subtree_end as usize;
        }
        below[index] = longest;
    }
    below
}

/// A count or index that [`Vocabulary`]'s limits keep below 2^32.
fn to_u32(value: usize) -> u32 {
    // Vocabulary::from_tokens refuses more than u32::MAX bytes in all, and
    // the trie has at most one node (and one token) per byte, plus the
    // sentinel; a failure here is a bug in those limits, not bad input.
    u32::try_from(value).expect("vocabulary limits keep trie indices within u32")
}

#[cfg(test)]
mod tests;
