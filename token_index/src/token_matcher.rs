//! [`TokenMatcher`]: the byte-level matcher of a compiled grammar, seen
//! through a vocabulary — exact masks, commits, forks and rollback by token.

use std::sync::{Arc, Mutex};

use hashbrown::{HashMap, HashSet};
use trellis_grammars::{
    ByteWalker, CompiledGrammar, LexState, LexemeKey, LexemeStep, LexemeWalker, MatchError, Matcher, StateKey,
};

use crate::token_set::TokenSet;

mod index_file;

use crate::trie::{NodeIndex, TokenTrie};
use crate::vocab::{TokenId, TokenKind, Vocabulary};
pub use index_file::{FORMAT_VERSION, GrammarSource, IndexFile, IndexFileError, Precomputed};

/// The longest forced continuation [`TokenMatcher::forced_bytes`] returns.
const MAX_FORCED_BYTES: usize = 4096;

/// How many token ids (4 bytes each) the boundary memo may hold before it
/// is emptied: 16 MB.
const BOUNDARY_MEMO_TOKENS: usize = 1 << 22;

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

/// A compiled grammar over a vocabulary: the factory of [`TokenMatcher`]s,
/// and the cache of mask parts they share. Cheap to clone (an `Arc`),
/// `Send + Sync`.
///
/// A mask splits in two (design.md §3). Tokens that stay inside the current
/// lexeme depend only on the lexer state and the parser's top state (a
/// [`LexemeKey`]): they are computed once per key, on first use, and kept.
/// Tokens that may end a lexeme depend on the whole parser stack: the cached
/// entry lists the trie nodes where that happens, and a mask walks only
/// those subtrees against the live parser — once per state: the tokens it
/// finds are remembered by [`StateKey`], since decoding meets the same
/// states again and again. The key is the lexer state and the top of the
/// parser stack as deep as that walk read (a [`trellis_grammars::StackProbe`]
/// watches), or the whole stack, so states that differ only deeper share
/// the result.
#[derive(Clone, Debug)]
pub struct TokenConstraint {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    grammar: CompiledGrammar,
    index: TokenIndex,
    lexeme_masks: Mutex<HashMap<LexemeKey, Arc<LexemeMask>>>,
    /// The distinct in-lexeme token sets of `lexeme_masks`: many keys allow
    /// the same tokens (every key inside a JSON string, say), and a set is
    /// a bit per vocabulary token.
    distinct_sets: Mutex<HashSet<Arc<TokenSet>>>,
    /// The same below the nodes of one boundary group, for the state right
    /// after the group's cut.
    subtree_masks: Mutex<HashMap<(LexemeKey, u32), Arc<SubtreeMask>>>,
    /// The next [`BoundaryGroup::id`].
    next_group: std::sync::atomic::AtomicU32,
    boundary_memo: Mutex<BoundaryMemo>,
}

/// The tokens the boundary groups allowed, by matcher state.
///
/// The in-lexeme part of a mask is fixed by a [`LexemeKey`]; the boundary
/// part depends on the whole parser stack, and is the expensive one (each
/// group is a parser step). But the same full states come back: inside a
/// string the lexer returns to one state after every ordinary token, and
/// the members of an object or the items of an array meet the same stacks
/// one after the other. A [`StateKey`] names the state by value, so a hit
/// is exact however the state was reached; a key of the top of the stack
/// only stands for every state with that top, and is stored only when the
/// groups' steps read no deeper (a value nested at another depth then
/// recalls it).
#[derive(Debug, Default)]
struct BoundaryMemo {
    tokens: HashMap<StateKey, Arc<[TokenId]>>,
    /// Token ids and key integers held, against [`BOUNDARY_MEMO_TOKENS`].
    held: usize,
    stats: MemoStats,
}

impl BoundaryMemo {
    /// Accounts for `size` more integers, emptying the memo first if they
    /// would not fit.
    fn make_room(&mut self, size: usize) {
        if self.held + size > BOUNDARY_MEMO_TOKENS {
            self.tokens.clear();
            self.held = 0;
            (self.stats.whole_states, self.stats.stack_tops) = (0, 0);
        }
        self.held += size;
    }
}

/// What the memo of boundary tokens by matcher state holds and has served
/// since the constraint was made or last forgot its states
/// ([`TokenConstraint::memo_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoStats {
    /// Results stored under a whole state (lexer state and every parser
    /// state).
    pub whole_states: usize,
    /// Results stored under a lexer state and the top of the parser stack:
    /// computing them read no deeper, so they hold for every state with
    /// that top.
    pub stack_tops: usize,
    /// Masks whose boundary tokens came from the memo.
    pub recalls: u64,
    /// Of those, the ones found under a stack top.
    pub recalls_by_top: u64,
}

/// The part of a mask below one trie node fixed by a [`LexemeKey`]: the
/// node's own tokens and those below it that stay in the lexeme (a sparse
/// list: subtrees are small), and the boundary groups below it.
#[derive(Debug)]
struct SubtreeMask {
    inside: Vec<TokenId>,
    boundaries: Vec<BoundaryGroup>,
}

/// The part of a mask fixed by a [`LexemeKey`].
#[derive(Debug)]
struct LexemeMask {
    /// Tokens that stay inside the lexeme and are allowed (shared by the
    /// keys that allow the same ones).
    inside: Arc<TokenSet>,
    /// Trie nodes where a lexeme may end, grouped by the lexer state before
    /// them and their byte: a group's first step is the same for all its
    /// nodes, so it is taken once per mask.
    boundaries: Vec<BoundaryGroup>,
}

#[derive(Debug)]
struct BoundaryGroup {
    /// Unique within the constraint: the subtree cache's key.
    id: u32,
    parent: LexState,
    byte: u8,
    nodes: Vec<NodeIndex>,
}

impl TokenConstraint {
    /// `grammar` over `index`'s vocabulary.
    pub fn new(grammar: &CompiledGrammar, index: &TokenIndex) -> TokenConstraint {
        let shared = Shared {
            grammar: grammar.clone(),
            index: index.clone(),
            lexeme_masks: Mutex::new(HashMap::new()),
            distinct_sets: Mutex::new(HashSet::new()),
            subtree_masks: Mutex::new(HashMap::new()),
            next_group: std::sync::atomic::AtomicU32::new(0),
            boundary_memo: Mutex::new(BoundaryMemo::default()),
        };
        TokenConstraint { shared: Arc::new(shared) }
    }

    /// A matcher at the start of the language.
    pub fn matcher(&self) -> TokenMatcher {
        self.matcher_from(self.shared.grammar.matcher())
    }

    /// A matcher continuing from a byte-level matcher's state (for example
    /// after forced bytes that are not a whole number of tokens). The
    /// matcher must run over this constraint's grammar.
    pub fn matcher_from(&self, matcher: Matcher) -> TokenMatcher {
        TokenMatcher { constraint: self.clone(), matcher, committed: 0, finished: false }
    }

    /// The grammar.
    pub fn grammar(&self) -> &CompiledGrammar {
        &self.shared.grammar
    }

    /// The vocabulary and trie.
    pub fn index(&self) -> &TokenIndex {
        &self.shared.index
    }

    /// Empties the memo of mask parts by whole matcher state (the parts
    /// that depend on the full parser stack), keeping the parts fixed by
    /// lexer state and parser top. Masks stay exact either way; this
    /// releases memory, or lets a benchmark measure states it has not met
    /// before. The memo also empties itself when it reaches 16 MB.
    pub fn forget_states(&self) {
        if let Ok(mut memo) = self.shared.boundary_memo.lock() {
            *memo = BoundaryMemo::default();
        }
    }

    /// What the memo of boundary tokens by matcher state holds and has
    /// served.
    pub fn memo_stats(&self) -> MemoStats {
        self.shared.boundary_memo.lock().map_or(MemoStats::default(), |memo| memo.stats)
    }

    /// Number of cached mask parts and their approximate heap bytes.
    pub fn cache_stats(&self) -> (usize, usize) {
        let group_bytes =
            |groups: &[BoundaryGroup]| groups.iter().map(|group| 16 + group.nodes.len() * 4).sum::<usize>();
        let (subtrees, subtree_bytes) = match self.shared.subtree_masks.lock() {
            Ok(cache) => (
                cache.len(),
                cache.values().map(|entry| entry.inside.len() * 4 + group_bytes(&entry.boundaries)).sum::<usize>(),
            ),
            Err(_) => (0, 0),
        };
        let set_bytes = match self.shared.distinct_sets.lock() {
            Ok(sets) => sets.iter().map(|set| set.words().len() * 8).sum::<usize>(),
            Err(_) => 0,
        };
        let (memos, memo_bytes) = match self.shared.boundary_memo.lock() {
            Ok(memo) => (memo.tokens.len(), memo.held * 4 + memo.tokens.len() * 48),
            Err(_) => (0, 0),
        };
        let Ok(cache) = self.shared.lexeme_masks.lock() else {
            return (subtrees + memos, subtree_bytes + set_bytes + memo_bytes);
        };
        let bytes = subtree_bytes
            + set_bytes
            + memo_bytes
            + cache.values().map(|entry| group_bytes(&entry.boundaries)).sum::<usize>();
        (cache.len() + subtrees + memos, bytes)
    }

    fn lexeme_mask(&self, key: LexemeKey) -> Arc<LexemeMask> {
        if let Ok(cache) = self.shared.lexeme_masks.lock()
            && let Some(entry) = cache.get(&key)
        {
            return entry.clone();
        }
        // Computed outside the lock: another thread may compute the same
        // entry; both results are equal.
        let trie = &self.shared.index.trie;
        let mut inside = TokenSet::new(self.shared.index.vocabulary.len());
        let boundaries = self.lexeme_walk(
            key,
            0,
            |enter, on_token| trie.walk_indexed(enter, on_token),
            |token| inside.insert(token),
        );
        let inside = match self.shared.distinct_sets.lock() {
            Ok(mut distinct) => match distinct.get(&inside) {
                Some(shared) => shared.clone(),
                None => {
                    let inside = Arc::new(inside);
                    distinct.insert(inside.clone());
                    inside
                }
            },
            Err(_) => Arc::new(inside),
        };
        let entry = Arc::new(LexemeMask { inside, boundaries });
        if let Ok(mut cache) = self.shared.lexeme_masks.lock() {
            cache.insert(key, entry.clone());
        }
        entry
    }
}

impl TokenConstraint {
    /// Runs a [`LexemeWalker`] from `key` over the nodes `walk` visits
    /// (depths `1..=skip` are entered unconditionally: they are steps
    /// already taken), passing the tokens that stay inside the lexeme to
    /// `inside`; returns the boundary nodes, grouped.
    fn lexeme_walk(
        &self,
        key: LexemeKey,
        skip: usize,
        walk: impl FnOnce(&mut dyn FnMut(NodeIndex, usize, u8) -> bool, &mut dyn FnMut(TokenId)),
        mut inside: impl FnMut(TokenId),
    ) -> Vec<BoundaryGroup> {
        use std::sync::atomic::Ordering;
        let mut walker = LexemeWalker::new(&self.shared.grammar, key);
        let mut groups: HashMap<(LexState, u8), Vec<NodeIndex>> = HashMap::new();
        let mut enter = |node: NodeIndex, depth: usize, byte: u8| {
            if depth <= skip {
                return true;
            }
            match walker.enter(depth - skip, byte) {
                LexemeStep::Inside => true,
                LexemeStep::Boundary => {
                    groups.entry((walker.parent_state(depth - skip), byte)).or_default().push(node);
                    false
                }
                LexemeStep::Dead => false,
            }
        };
        walk(&mut enter, &mut inside);
        groups
            .into_iter()
            .map(|((parent, byte), nodes)| {
                let id = self.shared.next_group.fetch_add(1, Ordering::Relaxed);
                BoundaryGroup { id, parent, byte, nodes }
            })
            .collect()
    }

    /// The tokens below `group`'s nodes (the nodes' own included) for the
    /// state with `key` right after the group's step.
    fn subtree_mask(&self, key: LexemeKey, group: &BoundaryGroup) -> Arc<SubtreeMask> {
        if let Ok(cache) = self.shared.subtree_masks.lock()
            && let Some(entry) = cache.get(&(key, group.id))
        {
            return entry.clone();
        }
        let trie = &self.shared.index.trie;
        let mut inside = Vec::new();
        // The group's nodes are entered (depth 1) in the state `key`, the
        // state after their byte; their descendants are steps from there.
        let boundaries = self.lexeme_walk(
            key,
            1,
            |enter, on_token| {
                for &node in &group.nodes {
                    trie.walk_subtree_indexed(node, &mut *enter, &mut *on_token);
                }
            },
            |token| inside.push(token),
        );
        let entry = Arc::new(SubtreeMask { inside, boundaries });
        if let Ok(mut cache) = self.shared.subtree_masks.lock() {
            cache.insert((key, group.id), entry.clone());
        }
        entry
    }
}

/// The state a level of [`TokenMatcher::add_groups`] steps its groups from.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// The matcher whose mask is computed.
    Matcher(&'a Matcher),
    /// The state a walker holds at depth 1: after a boundary group's step,
    /// one recursion level up.
    Walker { source: &'a ByteWalker, level: usize },
}

/// Why a [`TokenMatcher`] refused a call. The matcher is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The id is not in the vocabulary.
    #[error("unknown token id {token} (the vocabulary has {vocabulary_len} tokens)")]
    UnknownToken { token: TokenId, vocabulary_len: usize },
    /// The token is not allowed here: its bytes do not continue a viable
    /// prefix (or it is a special token other than an allowed EOS).
    #[error("token {token} is not allowed after {consumed} bytes")]
    NotAllowed { token: TokenId, consumed: u64 },
    /// EOS was committed already; nothing may follow.
    #[error("the output is finished (EOS was committed)")]
    Finished,
    /// The grammar could not decide (too ambiguous, or the lazy lexer ran
    /// out of states).
    #[error("the grammar gave up: {0}")]
    GaveUp(MatchError),
    /// Asked to roll back more tokens than are kept.
    #[error("cannot roll back {requested} tokens: only {available} are kept")]
    Rollback { requested: usize, available: usize },
}

/// A constraint at the token level: which tokens may come next, and the
/// state after each committed token.
///
/// The mask is exact (design.md §2): token `t` is allowed iff the output so
/// far followed by `bytes(t)` is a viable prefix of the language; an EOS
/// token iff the output so far is complete; other special and unused tokens
/// never. A fork ([`Clone`]) is O(1); [`TokenMatcher::rollback`] undoes
/// committed tokens.
///
/// ```
/// use std::sync::Arc;
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenIndex, TokenKind, TokenMatcher, TokenSet, Vocabulary};
///
/// let texts = ["<eos>", "1", "2", "12", "+", "+1", "a"];
/// let vocabulary = Vocabulary::from_tokens(
///     texts.iter().enumerate().map(|(id, t)| {
///         let kind = if id == 0 { TokenKind::Special } else { TokenKind::Normal };
///         (t.as_bytes().to_vec(), kind)
///     }).collect(),
///     vec![0],
///     None,
/// )?;
/// let index = TokenIndex::new(Arc::new(vocabulary));
/// let grammar = CompiledGrammar::new(r#"root ::= [0-9]+ ("+" [0-9]+)*"#, Format::Gbnf)?;
/// let mut matcher = TokenMatcher::new(&grammar, &index);
///
/// let mut mask = TokenSet::new(texts.len());
/// matcher.mask(&mut mask);
/// assert_eq!(mask.iter().collect::<Vec<_>>(), [1, 2, 3]); // digits only
/// matcher.commit(3)?; // "12"
/// matcher.mask(&mut mask);
/// assert_eq!(mask.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]); // EOS too
/// assert!(matcher.commit(6).is_err()); // "a" is refused; nothing changes
/// matcher.commit(4)?; // "+"
/// assert_eq!(matcher.forced_bytes(), b"");
/// matcher.rollback(1)?;
/// assert!(matcher.is_complete());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenMatcher {
    constraint: TokenConstraint,
    matcher: Matcher,
    /// Committed tokens that can be rolled back, newest last (EOS included).
    committed: usize,
    finished: bool,
}

impl TokenMatcher {
    /// A matcher at the start of the grammar's language, with a cache of
    /// its own: to share the cache between matchers, make them from one
    /// [`TokenConstraint`].
    pub fn new(grammar: &CompiledGrammar, index: &TokenIndex) -> TokenMatcher {
        TokenConstraint::new(grammar, index).matcher()
    }

    /// A matcher continuing from a byte-level matcher's state, with a cache
    /// of its own (see [`TokenConstraint::matcher_from`]).
    pub fn from_matcher(matcher: Matcher, index: &TokenIndex) -> TokenMatcher {
        TokenConstraint::new(matcher.grammar(), index).matcher_from(matcher)
    }

    /// The constraint this matcher runs over.
    pub fn constraint(&self) -> &TokenConstraint {
        &self.constraint
    }

    /// The vocabulary's size: the length a mask must have.
    pub fn vocabulary_len(&self) -> usize {
        self.constraint.shared.index.vocabulary.len()
    }

    /// The byte-level matcher underneath.
    pub fn byte_matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Writes the allowed tokens into `out` (cleared first; resized to the
    /// vocabulary if its length differs).
    pub fn mask(&self, out: &mut TokenSet) {
        let index = &self.constraint.shared.index;
        let vocabulary = &index.vocabulary;
        if self.finished {
            if out.len() == vocabulary.len() {
                out.clear();
            } else {
                *out = TokenSet::new(vocabulary.len());
            }
            return;
        }
        // A string is viable iff it is viable from one of the matcher's
        // branches (independent lexing/parsing hypotheses): the mask is the
        // union of the branches' masks, each of which has a cacheable key.
        match self.matcher.lexeme_key() {
            Some(key) => {
                // The common case: one copy of the cached part, not a
                // clear and a union (a mask is a bit per vocabulary token).
                let entry = self.constraint.lexeme_mask(key);
                out.copy_from(&entry.inside);
                self.add_boundary_tokens(&self.matcher, &entry, out);
            }
            None => {
                if out.len() == vocabulary.len() {
                    out.clear();
                } else {
                    *out = TokenSet::new(vocabulary.len());
                }
                self.add_branches(out);
            }
        }
        if self.matcher.is_complete() {
            for &eos in vocabulary.eos_tokens() {
                out.insert(eos);
            }
        }
    }

    /// The mask of a state with several branches, or of the GLR driver.
    fn add_branches(&self, out: &mut TokenSet) {
        match self.matcher.split_branches() {
            Some(branches) => {
                for branch in &branches {
                    if let Some(key) = branch.lexeme_key() {
                        self.add_branch_mask(branch, key, out);
                    }
                }
            }
            None => {
                let mut walker = ByteWalker::new(&self.matcher);
                self.constraint
                    .shared
                    .index
                    .trie
                    .walk(|depth, byte| walker.enter(depth, byte), |token| out.insert(token));
            }
        }
    }

    /// Adds the allowed tokens of a single-branch matcher to `out`: the
    /// cached in-lexeme part, then the boundary groups against its parser.
    fn add_branch_mask(&self, matcher: &Matcher, key: LexemeKey, out: &mut TokenSet) {
        let entry = self.constraint.lexeme_mask(key);
        out.union_with(&entry.inside);
        self.add_boundary_tokens(matcher, &entry, out);
    }

    /// Adds the tokens `entry`'s boundary groups allow against the parser
    /// of `matcher` (a single branch), from the memo when the same state
    /// was met before.
    fn add_boundary_tokens(&self, matcher: &Matcher, entry: &LexemeMask, out: &mut TokenSet) {
        if entry.boundaries.is_empty() {
            return;
        }
        let shared = &self.constraint.shared;
        let stepped = |from: &Matcher| {
            let mut tokens = Vec::new();
            self.add_groups(Origin::Matcher(from), &entry.boundaries, &mut tokens, &mut Vec::new());
            tokens
        };
        // A matcher with a lexeme key is a single branch, so it has a state
        // key too.
        let Some(state) = matcher.state_key() else {
            stepped(matcher).iter().for_each(|&token| out.insert(token));
            return;
        };
        // Stepping the groups reads the stack only as deep as reductions
        // pop, so a result is stored under the shortest top of the stack
        // it read (or the whole state); look for one of those first.
        let remembered = shared.boundary_memo.lock().ok().and_then(|mut memo| {
            let (tokens, by_top) = state.covering_keys().find_map(|(depth, key)| {
                let tokens = memo.tokens.get(&key)?.clone();
                Some((tokens, depth.is_some()))
            })?;
            memo.stats.recalls += 1;
            memo.stats.recalls_by_top += u64::from(by_top);
            Some(tokens)
        });
        let tokens = match remembered {
            Some(tokens) => tokens,
            None => {
                let (tokens, read): (Arc<[TokenId]>, Option<usize>) = match matcher.probed() {
                    Some((probed, probe)) => (stepped(&probed).into(), probe.depth()),
                    None => (stepped(matcher).into(), None),
                };
                let top = read.and_then(|depth| state.top(depth));
                if let Ok(mut memo) = shared.boundary_memo.lock() {
                    memo.make_room(tokens.len() + top.as_ref().unwrap_or(&state).len());
                    match &top {
                        Some(_) => memo.stats.stack_tops += 1,
                        None => memo.stats.whole_states += 1,
                    }
                    memo.tokens.insert(top.unwrap_or(state), tokens.clone());
                }
                tokens
            }
        };
        tokens.iter().for_each(|&token| out.insert(token));
    }

    /// Steps each group once against the state `origin` names. When the
    /// state after the step is again a single branch, the group's subtrees
    /// come from the subtree cache under that state's key, and their own
    /// groups are stepped from it, recursively; otherwise they are walked.
    /// `walkers[level]` is the walker of each recursion level, kept across
    /// groups so that resuming one costs no allocation.
    fn add_groups(
        &self,
        origin: Origin<'_>,
        groups: &[BoundaryGroup],
        out: &mut Vec<TokenId>,
        walkers: &mut Vec<Option<ByteWalker>>,
    ) {
        let trie = &self.constraint.shared.index.trie;
        let level = match origin {
            Origin::Matcher(_) => 0,
            Origin::Walker { level, .. } => level,
        };
        if walkers.len() <= level {
            walkers.resize_with(level + 1, || None);
        }
        for group in groups {
            let slot = &mut walkers[level];
            let resumed = match (origin, slot.as_mut()) {
                (Origin::Matcher(matcher), Some(walker)) => walker.resume_in_place(matcher, group.parent),
                (Origin::Walker { source, .. }, Some(walker)) => walker.resume_from_walker(source, 1, group.parent),
                (Origin::Matcher(matcher), None) => {
                    *slot = ByteWalker::resume(matcher, group.parent);
                    slot.is_some()
                }
                (Origin::Walker { source, .. }, None) => {
                    *slot = source.matcher_at(1).and_then(|matcher| ByteWalker::resume(&matcher, group.parent));
                    slot.is_some()
                }
            };
            let Some(walker) = slot.as_mut().filter(|_| resumed) else { continue };
            if !walker.enter(1, group.byte) {
                continue;
            }
            match walker.lexeme_key_at(1) {
                Some(key) => {
                    let entry = self.constraint.subtree_mask(key, group);
                    out.extend_from_slice(&entry.inside);
                    // Below the subtrees' own boundaries, from the state
                    // after the step (this level's walker at depth 1, lent
                    // to the next level while it runs).
                    if !entry.boundaries.is_empty()
                        && let Some(source) = walkers[level].take()
                    {
                        let origin = Origin::Walker { source: &source, level: level + 1 };
                        self.add_groups(origin, &entry.boundaries, out, walkers);
                        walkers[level] = Some(source);
                    }
                }
                None => {
                    // Every node of the group is entered at depth 1 with the
                    // same state, which the walker now holds at depth 1.
                    for &node in &group.nodes {
                        trie.walk_subtree(
                            node,
                            |depth, byte| depth == 1 || walker.enter(depth, byte),
                            |token| out.push(token),
                        );
                    }
                }
            }
        }
    }

    /// Whether `token` is allowed now (the mask's bit, for one token).
    pub fn is_allowed(&self, token: TokenId) -> Result<bool, TokenError> {
        let vocabulary = &self.constraint.shared.index.vocabulary;
        let kind =
            vocabulary.kind(token).ok_or(TokenError::UnknownToken { token, vocabulary_len: vocabulary.len() })?;
        if self.finished {
            return Ok(false);
        }
        if vocabulary.is_eos(token) {
            return Ok(self.matcher.is_complete());
        }
        Ok(match kind {
            TokenKind::Normal | TokenKind::ByteFallback => {
                let bytes = vocabulary.token_bytes(token).unwrap_or_default();
                self.matcher.accepts_prefix(bytes)
            }
            _ => false,
        })
    }

    /// Consumes `token`. Refused (with nothing changed) if it is not
    /// allowed. After an EOS token the matcher is finished.
    pub fn commit(&mut self, token: TokenId) -> Result<(), TokenError> {
        let vocabulary = &self.constraint.shared.index.vocabulary;
        let kind =
            vocabulary.kind(token).ok_or(TokenError::UnknownToken { token, vocabulary_len: vocabulary.len() })?;
        if self.finished {
            return Err(TokenError::Finished);
        }
        let not_allowed = TokenError::NotAllowed { token, consumed: self.matcher.consumed() };
        if vocabulary.is_eos(token) {
            if !self.matcher.is_complete() {
                return Err(not_allowed);
            }
            self.finished = true;
            self.committed += 1;
            return Ok(());
        }
        if !matches!(kind, TokenKind::Normal | TokenKind::ByteFallback) {
            return Err(not_allowed);
        }
        let bytes = vocabulary.token_bytes(token).unwrap_or_default();
        match self.matcher.advance(bytes) {
            Ok(()) => {
                self.committed += 1;
                Ok(())
            }
            Err(MatchError::Rejected { .. }) => Err(not_allowed),
            Err(error) => Err(TokenError::GaveUp(error)),
        }
    }

    /// Undoes the last `tokens` commits (an EOS included).
    pub fn rollback(&mut self, tokens: usize) -> Result<(), TokenError> {
        let available = self.committed.min(self.matcher.rollback_available() + usize::from(self.finished));
        if tokens > available {
            return Err(TokenError::Rollback { requested: tokens, available });
        }
        let mut remaining = tokens;
        if remaining > 0 && self.finished {
            self.finished = false;
            remaining -= 1;
        }
        self.matcher
            .rollback(remaining)
            .map_err(|e| TokenError::Rollback { requested: tokens, available: e.available })?;
        self.committed -= tokens;
        Ok(())
    }

    /// Whether the output so far is complete (EOS would be allowed).
    pub fn is_complete(&self) -> bool {
        !self.finished && self.matcher.is_complete()
    }

    /// Whether EOS was committed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The bytes every continuation must start with (jump-forward
    /// decoding): while exactly one byte can come next and the output is not
    /// complete, that byte is forced. Empty when the next byte is free. At
    /// most 4096 bytes.
    pub fn forced_bytes(&self) -> Vec<u8> {
        let mut forced = Vec::new();
        if self.finished {
            return forced;
        }
        let mut matcher = self.matcher.clone();
        while forced.len() < MAX_FORCED_BYTES && !matcher.is_complete() {
            let mut walker = ByteWalker::new(&matcher);
            let mut only = None;
            let mut count = 0;
            for byte in 0..=255u8 {
                if walker.enter(1, byte) {
                    count += 1;
                    only = Some(byte);
                    if count > 1 {
                        break;
                    }
                }
            }
            match (count, only) {
                (1, Some(byte)) => {
                    if matcher.advance(&[byte]).is_err() {
                        break;
                    }
                    forced.push(byte);
                }
                _ => break,
            }
        }
        forced
    }
}
