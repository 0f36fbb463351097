//! Computing a mask: the life of one mask, and the three cache levels that
//! make it cheap.
//!
//! A token is allowed after the bytes so far iff they followed by the
//! token's bytes are still a viable prefix (design.md §2). The plain way to
//! know is to walk the vocabulary's [trie](crate::TokenTrie) with a
//! [`ByteWalker`], one matcher step per trie edge, pruning at the first dead
//! state: exact, and on o200k it visits most of the 200k-token tree from a
//! state inside a JSON string — about 12 ms. Decoding asks for a mask
//! before every token, so [`Masks::fill`] answers from three levels of
//! [`MaskCache`], each keyed by exactly what its part depends on:
//!
//! 1. **By lexeme key** ([`LexemeKey`]: lexer state and parser top state).
//!    While a token's bytes stay inside the current lexeme, the parser does
//!    not move, so which of those tokens are allowed depends on the key
//!    alone. The part is computed once per key and stored as a bit set
//!    (identical sets shared: every key inside a JSON string allows the
//!    same ones), with the trie nodes where a lexeme may end, grouped by
//!    the lexer state before them and their byte ([`BoundaryGroup`]). This
//!    is XGrammar's context-independent part; a mask starts as one copy of
//!    the set (25 KB on o200k). Computing it is what a schema never seen
//!    before pays, so it must not walk the vocabulary:
//!    - the key is first **narrowed** to the terminals its top allows
//!      ([`CompiledGrammar::narrowed_key`]): the lazy lexer is one
//!      automaton for all terminals, and without this its state inside an
//!      object key also follows every other object's property names;
//!    - [`CompiledGrammar::inside_depth`] searches the pairs (text-slice
//!      state, lexer state) for how long a string of the
//!      [`TextSlice`] stays inside the lexeme — about a hundred steps
//!      inside an unbounded string, one level per character of a bounded
//!      one — and the text tokens up to that length come as one
//!      precomputed set (195,273 of o200k's tokens when the string is
//!      unbounded);
//!    - a [`LexemeWalker`] walks the rest: the 4,725 tokens outside the
//!      slice, and text tokens longer than the depth.
//!
//!    On the JSONSchemaBench dev set (every 48th schema, cold,
//!    `maskbench`), this took Trellis's mean mask from 716 µs to 52 µs and
//!    p95 from 7.8 ms to 96 µs; the plain walk took 12 ms from a state
//!    inside a string.
//! 2. **By subtree**: each boundary group is one parser step against the
//!    live stack. When the state after it is again a single branch, the
//!    tokens below the group's nodes that stay in the new lexeme depend
//!    only on that state's lexeme key, and are kept per (key, group), with
//!    the groups further down; so a step is followed by a lookup, not a
//!    walk, recursively.
//! 3. **By whole state** ([`StateKey`](trellis_grammars::walk::StateKey)): the boundary steps of level 2
//!    still cost a parser step each (about 0.9 µs), and the same whole
//!    states come back all the time. The tokens they allow are remembered
//!    by the state as a value — or by the top of its stack, as deep as the
//!    steps read ([`Matcher::probed`]), so that the same value nested at
//!    another depth recalls them too. This took warm masks on the shared
//!    JSON documents from p50 9.7 µs to 1.5 µs (o200k, `trellis bench`).
//!
//! A state with several branches is the union of its branches' masks,
//! each through the levels above; a grammar run by the GLR driver has no
//! keys, and its masks are a walk of the trie by a [`ByteWalker`] — but of
//! the text tokens only those longer than [`Matcher::inside_depth`] says
//! the state keeps inside. EOS is allowed iff the bytes
//! so far are complete.
//!
//! Parts are computed outside the cache's locks (see [`MaskCache`] for the
//! locking rule), so one constraint serves many threads.

use std::sync::Arc;

use hashbrown::HashMap;
use trellis_grammars::walk::{ByteSlice, ByteWalker, LexState, LexemeKey, LexemeStep, LexemeWalker};
use trellis_grammars::{CompiledGrammar, MatchError, Matcher};

use super::cache::{BoundaryGroup, LexemePart, MaskCache, SubtreePart};
use crate::token_set::TokenSet;
use crate::trie::{NodeIndex, TextSlice, TokenTrie};

/// Byte steps [`CompiledGrammar::inside_depth`] may take for one lexeme
/// key: inside an unbounded JSON string the search closes in about 1,500
/// (eight pairs of states), and a string of bounded length gets about 25
/// bytes checked, past which its few longer tokens are walked.
const INSIDE_DEPTH_BUDGET: usize = 65_536;
use crate::vocab::{TokenId, Vocabulary};

/// What a mask is computed from: the grammar, the vocabulary and its trie,
/// and the cache they share.
pub(crate) struct Masks<'a> {
    pub grammar: &'a CompiledGrammar,
    pub vocabulary: &'a Vocabulary,
    pub trie: &'a TokenTrie,
    pub cache: &'a MaskCache,
}

/// The state a level of [`Masks::add_groups`] steps its groups from.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// The matcher whose mask is computed.
    Matcher(&'a Matcher),
    /// The state a walker holds at depth 1: after a boundary group's step,
    /// one recursion level up.
    Walker { source: &'a ByteWalker, level: usize },
}

impl Masks<'_> {
    /// Writes the tokens allowed after `matcher`'s bytes into `out`
    /// (resized to the vocabulary if its length differs).
    ///
    /// A walk that meets a limit (the lazy lexer out of states, too many
    /// branches) cannot say whether the tokens below are allowed: the
    /// error reports it, and nothing computed past it is cached, so that a
    /// limit is never remembered as a token refused.
    pub fn fill(&self, matcher: &Matcher, out: &mut TokenSet) -> Result<(), MatchError> {
        match matcher.lexeme_key() {
            Some(key) => {
                // The common case: one copy of the cached part, not a
                // clear and a union.
                let part = self.lexeme_part(key);
                out.copy_from(&part.inside);
                self.add_boundary_tokens(matcher, &part, out)?;
            }
            None => {
                clear(out, self.vocabulary.len());
                self.add_branches(matcher, out)?;
            }
        }
        if matcher.is_complete() {
            for &eos in self.vocabulary.eos_tokens() {
                out.insert(eos);
            }
        }
        Ok(())
    }

    /// The part of a mask fixed by `key` (level 1), computed on first use.
    pub fn lexeme_part(&self, key: LexemeKey) -> Arc<LexemePart> {
        if let Some(part) = self.cache.lexeme_part(key) {
            return part;
        }
        // Computed for the key narrowed to the terminals its top allows
        // (equal masks, far fewer lexer states to search and walk), and
        // kept under both.
        let narrowed = self.grammar.narrowed_key(key);
        if narrowed != key
            && let Some(part) = self.cache.lexeme_part(narrowed)
        {
            return self.cache.alias_lexeme_part(key, part);
        }
        // The text tokens the lexer keeps inside whole come as one set; the
        // walk covers the rest of the vocabulary and the longer text tokens.
        let depth = self.inside_depth(narrowed);
        let (mut inside, within) = match self.trie.text_within(depth) {
            Some((set, within)) => (set.clone(), within),
            None => (TokenSet::new(self.vocabulary.len()), 0),
        };
        let boundaries = self.lexeme_walk(
            narrowed,
            0,
            |enter, on_token| {
                self.trie.walk_text_beyond(within, &mut *enter, &mut *on_token);
                self.trie.walk_rest_indexed(enter, on_token);
            },
            |token| inside.insert(token),
        );
        let part = self.cache.insert_lexeme_part(narrowed, inside, boundaries);
        if narrowed != key { self.cache.alias_lexeme_part(key, part) } else { part }
    }

    /// How long text of the [`TextSlice`] stays inside the lexeme from
    /// `key` ([`CompiledGrammar::inside_depth`]), from what an earlier
    /// search met when it can tell. Every pair the search meets between
    /// characters is remembered with the depth it guarantees from there.
    fn inside_depth(&self, key: LexemeKey) -> usize {
        if let Some(depth) = self.cache.inside_depth(key) {
            return depth;
        }
        let classes = self.cache.text_classes(self.grammar);
        let found = self.grammar.inside_depth(key, &TextSlice, classes, self.trie.text_max_len(), INSIDE_DEPTH_BUDGET);
        let (_, top) = key.to_raw();
        let depths =
            found.met.iter().filter(|&&(state, _, _)| state == TextSlice::START).map(|&(_, lex, level)| {
                (lex, if found.closed { usize::MAX } else { found.depth.saturating_sub(level) })
            });
        self.cache.remember_inside(top, depths);
        if found.closed { self.trie.text_max_len() } else { found.depth }
    }

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
        let mut walker = LexemeWalker::new(self.grammar, key);
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
            .map(|((parent, byte), nodes)| BoundaryGroup { id: self.cache.new_group_id(), parent, byte, nodes })
            .collect()
    }

    /// The tokens below `group`'s nodes (the nodes' own included) for the
    /// state with `key` right after the group's step (level 2).
    fn subtree_part(&self, key: LexemeKey, group: &BoundaryGroup) -> Arc<SubtreePart> {
        if let Some(part) = self.cache.subtree_part((key, group.id)) {
            return part;
        }
        let mut inside = Vec::new();
        // The group's nodes are entered (depth 1) in the state `key`, the
        // state after their byte; their descendants are steps from there.
        let boundaries = self.lexeme_walk(
            key,
            1,
            |enter, on_token| {
                for &node in &group.nodes {
                    self.trie.walk_subtree_indexed(node, &mut *enter, &mut *on_token);
                }
            },
            |token| inside.push(token),
        );
        self.cache.insert_subtree_part((key, group.id), SubtreePart { inside, boundaries })
    }

    /// The mask of a state with several branches, or of the GLR driver.
    fn add_branches(&self, matcher: &Matcher, out: &mut TokenSet) -> Result<(), MatchError> {
        match matcher.split_branches() {
            Some(branches) => {
                // A string is viable iff it is viable from one of the
                // branches, and each branch has a key.
                for branch in &branches {
                    if let Some(key) = branch.lexeme_key() {
                        let part = self.lexeme_part(key);
                        out.union_with(&part.inside);
                        self.add_boundary_tokens(branch, &part, out)?;
                    }
                }
                Ok(())
            }
            None => {
                // No keys to cache by: the text tokens the state keeps
                // inside come as one set, the rest is walked.
                let found = matcher.inside_depth(
                    &TextSlice,
                    self.cache.text_classes(self.grammar),
                    self.trie.text_max_len(),
                    INSIDE_DEPTH_BUDGET,
                );
                let within = match self.trie.text_within(found.depth) {
                    Some((set, within)) => {
                        out.union_with(set);
                        within
                    }
                    None => 0,
                };
                let mut walker = ByteWalker::new(matcher);
                let mut enter = |_, depth, byte| walker.enter(depth, byte);
                self.trie.walk_text_beyond(within, &mut enter, |token| out.insert(token));
                self.trie.walk_rest_indexed(&mut enter, |token| out.insert(token));
                walker.limit().map_or(Ok(()), Err)
            }
        }
    }

    /// Adds the tokens `part`'s boundary groups allow against the parser
    /// of `matcher` (a single branch), from the memo of whole states when
    /// the state was met before (level 3).
    fn add_boundary_tokens(&self, matcher: &Matcher, part: &LexemePart, out: &mut TokenSet) -> Result<(), MatchError> {
        if part.boundaries.is_empty() {
            return Ok(());
        }
        let stepped = |from: &Matcher| {
            let mut tokens = Vec::new();
            self.add_groups(Origin::Matcher(from), &part.boundaries, &mut tokens, &mut Vec::new())?;
            Ok::<_, MatchError>(tokens)
        };
        // A matcher with a lexeme key is a single branch, so it has a state
        // key too.
        let Some(state) = matcher.state_key() else {
            stepped(matcher)?.iter().for_each(|&token| out.insert(token));
            return Ok(());
        };
        let tokens = match self.cache.recall(&state) {
            Some(tokens) => tokens,
            None => {
                // Stepping the groups reads the stack only as deep as
                // reductions pop: store the result under the shortest top
                // of the stack it read, or the whole state.
                let (tokens, read): (Arc<[TokenId]>, Option<usize>) = match matcher.probed() {
                    Some((probed, probe)) => (stepped(&probed)?.into(), probe.depth()),
                    None => (stepped(matcher)?.into(), None),
                };
                let top = read.and_then(|depth| state.top(depth));
                self.cache.remember(state, top, tokens.clone());
                tokens
            }
        };
        tokens.iter().for_each(|&token| out.insert(token));
        Ok(())
    }

    /// Steps each group once against the state `origin` names. When the
    /// state after the step is again a single branch, the group's subtrees
    /// come from level 2 under that state's key, and their own groups are
    /// stepped from it, recursively; otherwise they are walked.
    /// `walkers[level]` is the walker of each recursion level, kept across
    /// groups so that resuming one costs no allocation.
    fn add_groups(
        &self,
        origin: Origin<'_>,
        groups: &[BoundaryGroup],
        out: &mut Vec<TokenId>,
        walkers: &mut Vec<Option<ByteWalker>>,
    ) -> Result<(), MatchError> {
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
                match walker.take_limit() {
                    Some(limit) => return Err(limit),
                    None => continue,
                }
            }
            match walker.lexeme_key_at(1) {
                Some(key) => {
                    let part = self.subtree_part(key, group);
                    out.extend_from_slice(&part.inside);
                    // Below the subtrees' own boundaries, from the state
                    // after the step (this level's walker at depth 1, lent
                    // to the next level while it runs).
                    if !part.boundaries.is_empty()
                        && let Some(source) = walkers[level].take()
                    {
                        let origin = Origin::Walker { source: &source, level: level + 1 };
                        let below = self.add_groups(origin, &part.boundaries, out, walkers);
                        walkers[level] = Some(source);
                        below?;
                    }
                }
                None => {
                    // Every node of the group is entered at depth 1 with the
                    // same state, which the walker now holds at depth 1.
                    for &node in &group.nodes {
                        self.trie.walk_subtree(
                            node,
                            |depth, byte| depth == 1 || walker.enter(depth, byte),
                            |token| out.push(token),
                        );
                    }
                    if let Some(limit) = walker.take_limit() {
                        return Err(limit);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Empties `out`, sized for a vocabulary of `len` tokens.
pub(crate) fn clear(out: &mut TokenSet, len: usize) {
    if out.len() == len {
        out.clear();
    } else {
        *out = TokenSet::new(len);
    }
}
