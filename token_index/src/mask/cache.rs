//! [`MaskCache`]: the mask parts a constraint's matchers share, at the
//! three levels of [`compute`](super::compute)'s module docs.
//!
//! # Locking
//!
//! Each level has its own mutex, and the rule is the same for all: **a
//! lock is held for one lookup or one insert, never while a part is
//! computed and never together with another lock.** So masks computed on
//! many threads wait only on each other's map operations, and no order of
//! locking can deadlock. Two threads may compute the same part at once;
//! the results are equal, and the first inserted is the one kept.
//! No code that can panic runs while a lock is held, and every critical
//! section leaves its map consistent, so a poisoned lock (a panic
//! elsewhere in the holding thread) is taken over as it is rather than
//! skipping the cache.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use hashbrown::{HashMap, HashSet};
use trellis_grammars::CompiledGrammar;
use trellis_grammars::walk::{LexState, LexemeKey, SliceClasses, StateKey};

use crate::token_set::TokenSet;
use crate::trie::{NodeIndex, TextSlice};
use crate::vocab::TokenId;

/// How many integers (token ids and key parts, 4 bytes each) the memo of
/// boundary tokens by state may hold before it empties itself: 16 MB.
const MEMO_INTEGERS: usize = 1 << 22;

/// The part of a mask fixed by a [`LexemeKey`].
#[derive(Debug)]
pub(crate) struct LexemePart {
    /// Tokens that stay inside the lexeme and are allowed (one set shared
    /// by all the keys that allow the same ones).
    pub inside: Arc<TokenSet>,
    /// Trie nodes where a lexeme may end, grouped by the lexer state before
    /// them and their byte: a group's first step is the same for all its
    /// nodes, so it is taken once per mask.
    pub boundaries: Vec<BoundaryGroup>,
}

/// The part of a mask below one boundary group's nodes fixed by the
/// [`LexemeKey`] of the state right after the group's step: the nodes' own
/// tokens and those below them that stay in the lexeme (a sparse list:
/// subtrees are small), and the boundary groups further down.
#[derive(Debug)]
pub(crate) struct SubtreePart {
    pub inside: Vec<TokenId>,
    pub boundaries: Vec<BoundaryGroup>,
}

/// Trie nodes entered from one lexer state by one byte, where a lexeme may
/// end.
#[derive(Debug)]
pub(crate) struct BoundaryGroup {
    /// Unique within the cache ([`MaskCache::new_group_id`]): the subtree
    /// level's key.
    pub id: u32,
    pub parent: LexState,
    pub byte: u8,
    pub nodes: Vec<NodeIndex>,
}

/// The subtree level's key: the state after a group's step, and the group.
pub(crate) type SubtreeKey = (LexemeKey, u32);

/// What the cache holds, as [`TokenConstraint::cache_stats`] reports it.
///
/// [`TokenConstraint::cache_stats`]: crate::TokenConstraint::cache_stats
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Mask parts by lexeme key.
    pub lexeme_parts: usize,
    /// Distinct in-lexeme token sets among them.
    pub distinct_sets: usize,
    /// Mask parts below boundary groups.
    pub subtree_parts: usize,
    /// Boundary tokens remembered by matcher state.
    pub remembered_states: usize,
    /// Approximate heap bytes of all of it.
    pub bytes: usize,
    /// What the memo of boundary tokens by state has served.
    pub memo: MemoStats,
}

impl CacheStats {
    /// Cached entries of every level.
    pub fn entries(&self) -> usize {
        self.lexeme_parts + self.subtree_parts + self.remembered_states
    }
}

/// What the memo of boundary tokens by matcher state holds and has served
/// since the constraint was made or last forgot its states.
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

/// The cache's parts by lexeme key and by subtree, as an index file stores
/// them ([`MaskCache::export`], [`MaskCache::import`]). The memo by state
/// is not part of it: states are met at run time.
#[derive(Debug, Default)]
pub(crate) struct CacheContents {
    /// The next boundary group id (every stored group's is below it).
    pub next_group: u32,
    pub lexeme_parts: Vec<(LexemeKey, Arc<LexemePart>)>,
    pub subtree_parts: Vec<(SubtreeKey, Arc<SubtreePart>)>,
}

#[derive(Debug, Default)]
struct LexemeParts {
    parts: HashMap<LexemeKey, Arc<LexemePart>>,
    /// The distinct in-lexeme sets of `parts`: many keys allow the same
    /// tokens (every key inside a JSON string, say), and a set is a bit per
    /// vocabulary token.
    distinct: HashSet<Arc<TokenSet>>,
}

/// The tokens the boundary groups allowed, by matcher state: the same full
/// states come back again and again (inside a string the lexer returns to
/// one state after every ordinary token; the members of an object meet the
/// stacks the members before met). A [`StateKey`] names a state by value,
/// so a recall is exact however the state was reached; a key of the top of
/// the stack stands for every state with that top, and is stored only when
/// the groups' steps read no deeper.
#[derive(Debug, Default)]
struct BoundaryMemo {
    tokens: HashMap<StateKey, Arc<[TokenId]>>,
    /// Integers held (token ids and key parts), against [`MEMO_INTEGERS`].
    held: usize,
    stats: MemoStats,
}

/// The mask parts shared by a constraint's matchers: by lexeme key, by
/// subtree, and boundary tokens by whole state (see the
/// [module docs](self) for the locking rule).
#[derive(Debug, Default)]
pub(crate) struct MaskCache {
    lexemes: Mutex<LexemeParts>,
    subtrees: Mutex<HashMap<SubtreeKey, Arc<SubtreePart>>>,
    next_group: AtomicU32,
    memo: Mutex<BoundaryMemo>,
    /// The grammar's byte classes for the text slice, on first use.
    text_classes: OnceLock<SliceClasses>,
    /// How long text stays inside the lexeme from (parser top, lexer
    /// state), as earlier searches found on their way
    /// ([`InsideDepth::met`](trellis_grammars::walk::InsideDepth)):
    /// inside a string of bounded length every position is a new key, and
    /// the search from the first position met them all.
    inside: Mutex<HashMap<(u32, u32), usize>>,
}

/// Entries of [`MaskCache::inside`] past which it empties itself (16 MB).
const INSIDE_ENTRIES: usize = 1 << 20;

/// Takes a lock; a poisoned one is taken over (see the module docs).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MaskCache {
    /// The part of `key`, if computed.
    pub fn lexeme_part(&self, key: LexemeKey) -> Option<Arc<LexemePart>> {
        lock(&self.lexemes).parts.get(&key).cloned()
    }

    /// Stores the part of `key` (its set shared with an equal one already
    /// held) and returns the part kept.
    pub fn insert_lexeme_part(
        &self,
        key: LexemeKey,
        inside: TokenSet,
        boundaries: Vec<BoundaryGroup>,
    ) -> Arc<LexemePart> {
        let mut lexemes = lock(&self.lexemes);
        let inside = match lexemes.distinct.get(&inside) {
            Some(shared) => shared.clone(),
            None => {
                let inside = Arc::new(inside);
                lexemes.distinct.insert(inside.clone());
                inside
            }
        };
        lexemes.parts.entry(key).or_insert_with(|| Arc::new(LexemePart { inside, boundaries })).clone()
    }

    /// Stores `part` (computed for an equivalent key) under `key` too, and
    /// returns the part kept.
    pub fn alias_lexeme_part(&self, key: LexemeKey, part: Arc<LexemePart>) -> Arc<LexemePart> {
        lock(&self.lexemes).parts.entry(key).or_insert(part).clone()
    }

    /// The part below a group's nodes, if computed.
    pub fn subtree_part(&self, key: SubtreeKey) -> Option<Arc<SubtreePart>> {
        lock(&self.subtrees).get(&key).cloned()
    }

    /// Stores the part below a group's nodes and returns the part kept.
    pub fn insert_subtree_part(&self, key: SubtreeKey, part: SubtreePart) -> Arc<SubtreePart> {
        lock(&self.subtrees).entry(key).or_insert_with(|| Arc::new(part)).clone()
    }

    /// `grammar`'s byte classes for the text slice (the cache belongs to
    /// one grammar).
    pub fn text_classes(&self, grammar: &CompiledGrammar) -> &SliceClasses {
        self.text_classes.get_or_init(|| grammar.slice_classes(&TextSlice))
    }

    /// How long text is known to stay inside from `key`'s states.
    pub fn inside_depth(&self, key: LexemeKey) -> Option<usize> {
        let (lex, top) = key.to_raw();
        lock(&self.inside).get(&(top, lex)).copied()
    }

    /// Remembers what a search from a state with parser top `top` found
    /// for the lexer states it met between characters (those a later key
    /// can start from): `depth` for each (`usize::MAX` for any length).
    pub fn remember_inside(&self, top: u32, depths: impl IntoIterator<Item = (u32, usize)>) {
        let mut inside = lock(&self.inside);
        if inside.len() > INSIDE_ENTRIES {
            inside.clear();
        }
        for (lex, depth) in depths {
            inside.entry((top, lex)).or_insert(depth);
        }
    }

    /// A boundary group id not used before.
    pub fn new_group_id(&self) -> u32 {
        self.next_group.fetch_add(1, Ordering::Relaxed)
    }

    /// The boundary tokens remembered for `state`: under one of its stack
    /// tops (most general first) or under the whole state.
    pub fn recall(&self, state: &StateKey) -> Option<Arc<[TokenId]>> {
        let mut memo = lock(&self.memo);
        let (tokens, by_top) = state.covering_keys().find_map(|(depth, key)| {
            let tokens = memo.tokens.get(&key)?.clone();
            Some((tokens, depth.is_some()))
        })?;
        memo.stats.recalls += 1;
        memo.stats.recalls_by_top += u64::from(by_top);
        Some(tokens)
    }

    /// Remembers the boundary tokens of `state`, under `top` when the
    /// computation read only that far into the stack. The memo empties
    /// itself first when it would grow past 16 MB.
    pub fn remember(&self, state: StateKey, top: Option<StateKey>, tokens: Arc<[TokenId]>) {
        let key = top.unwrap_or(state);
        let size = tokens.len() + key.len();
        let mut memo = lock(&self.memo);
        if memo.held + size > MEMO_INTEGERS {
            memo.tokens.clear();
            memo.held = 0;
            (memo.stats.whole_states, memo.stats.stack_tops) = (0, 0);
        }
        memo.held += size;
        if key.is_whole() {
            memo.stats.whole_states += 1;
        } else {
            memo.stats.stack_tops += 1;
        }
        memo.tokens.insert(key, tokens);
    }

    /// Empties the memo by state, keeping the parts by lexeme key and
    /// subtree.
    pub fn forget_states(&self) {
        *lock(&self.memo) = BoundaryMemo::default();
    }

    pub fn stats(&self) -> CacheStats {
        let group_bytes =
            |groups: &[BoundaryGroup]| groups.iter().map(|group| 16 + group.nodes.len() * 4).sum::<usize>();
        let (lexeme_parts, distinct_sets, lexeme_bytes) = {
            let lexemes = lock(&self.lexemes);
            let set_bytes = lexemes.distinct.iter().map(|set| set.words().len() * 8).sum::<usize>();
            let groups = lexemes.parts.values().map(|part| group_bytes(&part.boundaries)).sum::<usize>();
            (lexemes.parts.len(), lexemes.distinct.len(), set_bytes + groups)
        };
        let (subtree_parts, subtree_bytes) = {
            let subtrees = lock(&self.subtrees);
            let bytes =
                subtrees.values().map(|part| part.inside.len() * 4 + group_bytes(&part.boundaries)).sum::<usize>();
            (subtrees.len(), bytes)
        };
        let (remembered_states, memo_bytes, memo) = {
            let memo = lock(&self.memo);
            (memo.tokens.len(), memo.held * 4 + memo.tokens.len() * 48, memo.stats)
        };
        CacheStats {
            lexeme_parts,
            distinct_sets,
            subtree_parts,
            remembered_states,
            bytes: lexeme_bytes + subtree_bytes + memo_bytes,
            memo,
        }
    }

    /// The parts by lexeme key and subtree (the parts themselves are
    /// shared, not copied).
    pub fn export(&self) -> CacheContents {
        let lexeme_parts = lock(&self.lexemes).parts.iter().map(|(key, part)| (*key, part.clone())).collect();
        let subtree_parts = lock(&self.subtrees).iter().map(|(key, part)| (*key, part.clone())).collect();
        CacheContents { next_group: self.next_group.load(Ordering::Relaxed), lexeme_parts, subtree_parts }
    }

    /// A cache holding `contents` (and an empty memo).
    pub fn import(contents: CacheContents) -> MaskCache {
        let CacheContents { next_group, lexeme_parts, subtree_parts } = contents;
        let distinct = lexeme_parts.iter().map(|(_, part)| part.inside.clone()).collect();
        MaskCache {
            lexemes: Mutex::new(LexemeParts { parts: lexeme_parts.into_iter().collect(), distinct }),
            subtrees: Mutex::new(subtree_parts.into_iter().collect()),
            next_group: AtomicU32::new(next_group),
            memo: Mutex::default(),
            text_classes: OnceLock::new(),
            inside: Mutex::default(),
        }
    }
}
