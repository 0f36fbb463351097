//! Walking the matcher down a prefix tree of byte strings: the interface
//! a token index drives (`trellis-token-index` is its one client).
//!
//! A token mask asks, for every string `s` of a set (a vocabulary), whether
//! `input · s` is still a viable prefix. Walking the set's prefix tree in
//! depth-first order, a walker keeps one matcher state per depth, so each
//! tree edge costs one byte step, and a dead state prunes the whole subtree.
//!
//! Most steps are cheap: while a single branch keeps extending its lexeme
//! and no cut is possible, the parser cannot change, so a walker keeps only
//! the lexer state and shares the parser of the start state. Only where a
//! lexeme may end does it build a full matcher state. That split is what a
//! mask cache is built on, and these types name its parts, in the order a
//! mask meets them:
//!
//! 1. [`LexemeKey`] ([`Matcher::lexeme_key`]): the lexer state and the
//!    parser's top state. Everything a mask says about bytes that stay
//!    inside the current lexeme depends on it alone.
//! 2. [`LexemeWalker`]: walks the tree for every state with one key at
//!    once. Each node is [`LexemeStep::Inside`] (viable whatever the parser
//!    holds below its top), [`LexemeStep::Dead`], or
//!    [`LexemeStep::Boundary`]: a lexeme may end there and the whole parser
//!    must be asked; [`LexState`] names where to resume.
//! 3. [`ByteWalker`]: the full matcher driven down a tree, from a
//!    [`Matcher`]'s state ([`ByteWalker::new`]) or resumed at a boundary
//!    ([`ByteWalker::resume`] and its variants that reuse memory).
//! 4. [`StateKey`] ([`Matcher::state_key`]): a whole single-branch state as
//!    a value, so that a result computed for one state is recalled for an
//!    equal one however it was reached. [`Matcher::probed`] lays a state out
//!    with a [`StackProbe`] that records how deep into the stack a
//!    computation read, so the result can be stored under the top of the
//!    stack only ([`StateKey::top`], looked up with
//!    [`StateKey::covering_keys`] as [`StateKeyRef`]s).
//! 5. Stored parts: where lexer states are numbered the same way every time
//!    ([`CompiledGrammar::has_stable_states`]), keys convert to and from
//!    integers ([`LexemeKey::to_raw`], [`CompiledGrammar::lexeme_key_from_raw`],
//!    [`CompiledGrammar::lex_state_from_raw`]) and
//!    [`CompiledGrammar::lexeme_keys`] lists every key there is to
//!    precompute.
//!
//! A state with several branches (an ambiguous split) or run by the GLR
//! driver has no keys: [`Matcher::split_branches`] gives its branches one
//! by one where it can, and a plain [`ByteWalker`] walks it otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use smallvec::SmallVec;

use super::lr_stack::PROBE_DEPTHS;
use super::{Branch, Branches, Extension, MatchError, Matcher, Parser, State, lexeme_extension, run};
use crate::lexer::LexerDfa;
use crate::tables::{CompiledGrammar, Driver, Tables};

/// One depth of the walk.
enum Step<P> {
    /// A single branch: its lexer state, and its parser as an index into
    /// [`Walk::parsers`] (shared by every node below the cut that made it,
    /// so extending a lexeme never copies a parser).
    Lexeme { lex: u32, parser: u32 },
    /// Several branches.
    Full(Branches<P>),
}

struct Walk<P> {
    /// Parsers of single-branch steps, appended at each cut; the first is
    /// the start state's when it has a single branch.
    parsers: Vec<P>,
    /// `steps[d]` is the state after `d` bytes below the start.
    steps: Vec<Step<P>>,
}

enum Walks {
    Lr(Walk<super::LrStack>),
    Glr(Walk<super::Frontier>),
}

/// Drives a matcher state down a depth-first walk of a prefix tree: call
/// [`ByteWalker::enter`] with each node's depth (1 for the root's children)
/// and edge byte, in pre-order; it answers whether the input followed by the
/// node's bytes is still a viable prefix. After a `false`, skip the node's
/// subtree. [`ByteWalker::is_complete`] then says whether the current node's
/// string completes the input.
///
/// ```
/// use trellis_grammars::walk::ByteWalker;
/// use trellis_grammars::{CompiledGrammar, Format};
///
/// let grammar = CompiledGrammar::new(r#"root ::= "ab" | "ac" | "b""#, Format::Gbnf)?;
/// let matcher = grammar.matcher();
/// let mut walker = ByteWalker::new(&matcher);
/// // The tree of {"a", "ab", "ba"}, depth first.
/// assert!(walker.enter(1, b'a')); //  "a": viable
/// assert!(!walker.is_complete());
/// assert!(walker.enter(2, b'b')); //  "ab": viable and complete
/// assert!(walker.is_complete());
/// assert!(walker.enter(1, b'b')); //  "b"
/// assert!(!walker.enter(2, b'a')); // "ba": dead
/// # Ok::<(), trellis_grammars::GrammarError>(())
/// ```
pub struct ByteWalker {
    grammar: CompiledGrammar,
    walks: Walks,
    /// Depth of the last node entered successfully.
    depth: usize,
    /// The first limit a step met (see [`ByteWalker::limit`]).
    limit: Option<MatchError>,
}

impl ByteWalker {
    /// A walker starting from `matcher`'s state with its lexeme moved on to
    /// `lex`, a state a [`LexemeWalker`] over `matcher.lexeme_key()` reached:
    /// the state after the bytes of that walk so far. Resumes a mask walk at
    /// a [`LexemeStep::Boundary`]. `None` if `matcher` has no lexeme key.
    pub fn resume(matcher: &Matcher, lex: LexState) -> Option<ByteWalker> {
        let State::Lr(branches) = &matcher.state else { return None };
        let [branch] = branches.as_slice() else { return None };
        Some(ByteWalker {
            grammar: matcher.grammar.clone(),
            walks: Walks::Lr(Walk::single(&branch.parser, lex.0)),
            depth: 0,
            limit: None,
        })
    }

    /// Like [`ByteWalker::resume`], reusing this walker's memory (the mask
    /// loop resumes once per boundary node). Returns false, leaving the
    /// walker unusable, if `matcher` has no lexeme key.
    pub fn resume_in_place(&mut self, matcher: &Matcher, lex: LexState) -> bool {
        let (State::Lr(branches), Walks::Lr(walk)) = (&matcher.state, &mut self.walks) else {
            return match ByteWalker::resume(matcher, lex) {
                Some(walker) => {
                    *self = walker;
                    true
                }
                None => false,
            };
        };
        let [branch] = branches.as_slice() else { return false };
        walk.restart(&branch.parser, lex.0);
        self.depth = 0;
        true
    }

    /// Like [`ByteWalker::resume_in_place`] from the state another walker
    /// holds at `depth` on its current path (which must be a single branch:
    /// [`ByteWalker::lexeme_key_at`] answers for it) — the same as resuming
    /// from [`ByteWalker::matcher_at`]`(depth)`, without making the matcher.
    /// Returns false, leaving this walker unusable, if there is no such
    /// state.
    pub fn resume_from_walker(&mut self, source: &ByteWalker, depth: usize, lex: LexState) -> bool {
        let Walks::Lr(from) = &source.walks else { return false };
        if depth > source.depth {
            return false;
        }
        let Some(&Step::Lexeme { parser, .. }) = from.steps.get(depth) else { return false };
        let parser = &from.parsers[parser as usize];
        match &mut self.walks {
            Walks::Lr(walk) => walk.restart(parser, lex.0),
            Walks::Glr(_) => self.walks = Walks::Lr(Walk::single(parser, lex.0)),
        }
        if !self.grammar.ptr_eq(&source.grammar) {
            self.grammar = source.grammar.clone();
        }
        self.depth = 0;
        true
    }

    /// A walker starting from `matcher`'s current state.
    pub fn new(matcher: &Matcher) -> ByteWalker {
        let walks = match &matcher.state {
            State::Lr(branches) => Walks::Lr(Walk::new(branches)),
            State::Glr(branches) => Walks::Glr(Walk::new(branches)),
        };
        ByteWalker { grammar: matcher.grammar.clone(), walks, depth: 0, limit: None }
    }

    /// Enters the node at `depth` (≥ 1) with edge `byte`, whose parent is
    /// the last node entered successfully at `depth - 1` (or the start, for
    /// depth 1). Returns whether the string so far is a viable prefix.
    ///
    /// A step that meets a limit (the lazy lexer out of states, too many
    /// branches, the GLR step budget) is not decided: it returns false, so
    /// that the walk goes on, and records the limit, which
    /// [`ByteWalker::limit`] reports. A caller must check it before it
    /// trusts a false answer: the string may well be viable.
    ///
    /// # Panics
    ///
    /// If `depth` is 0 or more than one below the deepest live node: the
    /// caller's walk is not a pre-order walk.
    pub fn enter(&mut self, depth: usize, byte: u8) -> bool {
        assert!(depth >= 1 && depth <= self.depth + 1, "ByteWalker::enter: depth {depth} after {}", self.depth);
        let tables = self.grammar.tables();
        let entered = match &mut self.walks {
            Walks::Lr(walk) => walk.enter(tables, depth, byte),
            Walks::Glr(walk) => walk.enter(tables, depth, byte),
        };
        let alive = match entered {
            Ok(alive) => alive,
            Err(limit) => {
                // The offset is the position in the walked string.
                let limit = match limit {
                    MatchError::LexerLimit { limit, .. } => MatchError::LexerLimit { offset: depth - 1, limit },
                    other => other,
                };
                self.limit.get_or_insert(limit);
                false
            }
        };
        self.depth = if alive { depth } else { depth - 1 };
        alive
    }

    /// The first limit a step of this walker met since it was made (or
    /// [`ByteWalker::take_limit`] last cleared it); `None` when every
    /// answer of [`ByteWalker::enter`] was decided.
    pub fn limit(&self) -> Option<MatchError> {
        self.limit
    }

    /// [`ByteWalker::limit`], clearing it.
    pub fn take_limit(&mut self) -> Option<MatchError> {
        self.limit.take()
    }

    /// The state at `depth` on the current path (the last node entered
    /// successfully there) as a matcher without rollback history, when it
    /// is a single branch of the deterministic driver: a mask computation
    /// can then continue below that node from a cached, keyed state.
    pub fn matcher_at(&self, depth: usize) -> Option<Matcher> {
        let Walks::Lr(walk) = &self.walks else { return None };
        if depth > self.depth {
            return None;
        }
        let &Step::Lexeme { lex, parser } = walk.steps.get(depth)? else { return None };
        let branch = Branch { lex, parser: walk.parsers[parser as usize].clone() };
        Some(Matcher::single_branch(&self.grammar, branch, 0))
    }

    /// The [`LexemeKey`] of [`Self::matcher_at`]`(depth)`, without making
    /// the matcher.
    pub fn lexeme_key_at(&self, depth: usize) -> Option<LexemeKey> {
        let Walks::Lr(walk) = &self.walks else { return None };
        if depth > self.depth {
            return None;
        }
        let &Step::Lexeme { lex, parser } = walk.steps.get(depth)? else { return None };
        Some(LexemeKey { lex, top: walk.parsers[parser as usize].top_state() })
    }

    /// Whether the string of the last node entered successfully (or the
    /// empty string, before any) completes the input.
    pub fn is_complete(&self) -> bool {
        let tables = self.grammar.tables();
        match &self.walks {
            Walks::Lr(walk) => walk.is_complete(tables, self.depth),
            Walks::Glr(walk) => walk.is_complete(tables, self.depth),
        }
    }
}

/// A step's outcome: `Some` when viable, `None` when rejected, an error
/// when a limit left it undecided.
fn decided(result: Result<(), MatchError>) -> Result<Option<()>, MatchError> {
    match result {
        Ok(()) => Ok(Some(())),
        Err(MatchError::Rejected { .. }) => Ok(None),
        Err(limit) => Err(limit),
    }
}

impl<P: Parser> Walk<P> {
    fn new(branches: &Branches<P>) -> Walk<P> {
        match branches.as_slice() {
            [branch] => Walk::single(&branch.parser, branch.lex),
            _ => Walk { parsers: Vec::new(), steps: vec![Step::Full(branches.clone())] },
        }
    }

    /// A walk from one branch: `parser` with its lexeme in `lex`.
    fn single(parser: &P, lex: u32) -> Walk<P> {
        Walk { parsers: vec![parser.clone()], steps: vec![Step::Lexeme { lex, parser: 0 }] }
    }

    /// Makes this walk [`Walk::single`] again, reusing its memory (the
    /// first parser's inline states are copied over, not reallocated).
    fn restart(&mut self, parser: &P, lex: u32) {
        match self.parsers.first_mut() {
            Some(first) => {
                first.clone_from(parser);
                self.parsers.truncate(1);
            }
            None => self.parsers.push(parser.clone()),
        }
        self.steps.clear();
        self.steps.push(Step::Lexeme { lex, parser: 0 });
    }

    /// Whether the string is still viable after `byte`; an error when a
    /// limit left it undecided.
    fn enter(&mut self, tables: &Tables, depth: usize, byte: u8) -> Result<bool, MatchError> {
        self.steps.truncate(depth);
        let next = match &self.steps[depth - 1] {
            &Step::Lexeme { lex, parser } => self.lexeme_step(tables, lex, parser, byte)?,
            Step::Full(branches) => {
                let mut branches = branches.clone();
                decided(run(tables, &mut branches, &[byte]))?.map(|()| self.settle(branches))
            }
        };
        Ok(match next {
            Some(step) => {
                self.steps.push(step);
                true
            }
            None => false,
        })
    }

    /// A step from a single branch: stays on the same parser when the
    /// lexeme just extends (the matcher's fast path), else runs the full
    /// matcher.
    fn lexeme_step(&mut self, tables: &Tables, lex: u32, parser: u32, byte: u8) -> Result<Option<Step<P>>, MatchError> {
        let current = &self.parsers[parser as usize];
        Ok(match lexeme_extension(tables, lex, byte, |extended| current.alive(tables, extended)) {
            Extension::Extends(extended) => Some(Step::Lexeme { lex: extended, parser }),
            Extension::Dead => None,
            Extension::Overflow => {
                return Err(MatchError::LexerLimit { offset: 0, limit: tables.lexer.state_capacity() });
            }
            Extension::Cut { .. } => {
                let mut branches: Branches<P> = SmallVec::new();
                branches.push(Branch { lex, parser: current.clone() });
                decided(run(tables, &mut branches, &[byte]))?.map(|()| self.settle(branches))
            }
        })
    }

    /// The step for `branches`: a single branch keeps its parser in the
    /// arena.
    fn settle(&mut self, mut branches: Branches<P>) -> Step<P> {
        if branches.len() == 1
            && let Some(branch) = branches.pop()
        {
            self.parsers.push(branch.parser);
            return Step::Lexeme { lex: branch.lex, parser: (self.parsers.len() - 1) as u32 };
        }
        Step::Full(branches)
    }

    fn is_complete(&self, tables: &Tables, depth: usize) -> bool {
        match &self.steps[depth] {
            &Step::Lexeme { lex, parser } => {
                let branches: Branches<P> =
                    SmallVec::from_elem(Branch { lex, parser: self.parsers[parser as usize].clone() }, 1);
                super::complete(tables, &branches)
            }
            Step::Full(branches) => super::complete(tables, branches),
        }
    }
}

/// What a mask over a matcher's state depends on as long as the bytes stay
/// inside the current lexeme: the lexer state and the parser's top state.
/// Matchers with the same key allow the same in-lexeme continuations, so
/// masks of those can be computed once per key ([`LexemeWalker`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LexemeKey {
    lex: u32,
    top: u32,
}

/// The whole state of a single-branch matcher as a value: its lexer state
/// and every state on its parser stack. Two matchers of one grammar with
/// equal keys accept exactly the same continuations, however they got
/// there — so anything computed from one state (a mask) holds for the other.
/// See [`Matcher::state_key`].
///
/// A key may also stand for a lexer state and only the top of the stack
/// ([`StateKey::top`]): the states whose stacks start that way. It is never
/// equal to a whole state's key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StateKey {
    lex: u32,
    /// Top first.
    stack: SmallVec<[u32; 24]>,
    /// Whether `stack` is the whole stack, not just its top.
    whole: bool,
}

impl StateKey {
    /// The keys that stand for this state, most general first, each with
    /// the depth it covers: its tops at each depth a [`StackProbe`]
    /// reports, then the key itself (`None`: the whole stack). A result
    /// stored under any of them holds for this state. Borrowed, for lookups
    /// in maps keyed by [`StateKey`] (a mask looks up several per token).
    pub fn covering_keys(&self) -> impl Iterator<Item = (Option<usize>, StateKeyRef<'_>)> + '_ {
        let view = |depth: usize, whole: bool| StateKeyRef { lex: self.lex, stack: &self.stack[..depth], whole };
        PROBE_DEPTHS
            .iter()
            .filter(|&&depth| depth < self.stack.len())
            .map(move |&depth| (Some(depth), view(depth, false)))
            .chain([(None, view(self.stack.len(), true))])
    }

    /// The key of every state with this key's lexer state and top `depth`
    /// parser states: what something computed from this state holds for
    /// when it read no deeper into the stack ([`StackProbe`]). `None` when
    /// the stack is no deeper than `depth` (the key itself says it all).
    pub fn top(&self, depth: usize) -> Option<StateKey> {
        (depth < self.stack.len()).then(|| StateKey {
            lex: self.lex,
            stack: SmallVec::from_slice(&self.stack[..depth]),
            whole: false,
        })
    }

    /// Whether the key stands for one whole state, not the top of a stack
    /// ([`StateKey::top`]).
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The number of integers the key holds (its size, for cache
    /// accounting).
    pub fn len(&self) -> usize {
        1 + self.stack.len()
    }

    /// Never true: a key holds at least the lexer state.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A [`StateKey`] (or the top of one) borrowed: it hashes and compares
/// like the owned key, so a map keyed by [`StateKey`] finds it without one
/// being built.
#[derive(Clone, Copy, Debug, Hash)]
pub struct StateKeyRef<'a> {
    // Fields in the order of `StateKey`'s, whose derived hash this shares
    // (a `SmallVec` hashes as its slice).
    lex: u32,
    stack: &'a [u32],
    whole: bool,
}

impl hashbrown::Equivalent<StateKey> for StateKeyRef<'_> {
    fn equivalent(&self, key: &StateKey) -> bool {
        self.lex == key.lex && self.whole == key.whole && self.stack == key.stack.as_slice()
    }
}

/// How deep below its top a parser stack was read, since
/// [`Matcher::probed`] laid it out.
#[derive(Debug)]
pub struct StackProbe {
    level: Arc<AtomicU8>,
}

impl StackProbe {
    /// The number of top stack states read so far, rounded up to one of a
    /// few depths; `None` if reads went deeper than the last (the result
    /// may depend on the whole stack).
    pub fn depth(&self) -> Option<usize> {
        PROBE_DEPTHS.get(self.level.load(Ordering::Relaxed) as usize).copied()
    }
}

/// A lexer state reached inside a [`LexemeWalker`]'s walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LexState(u32);

/// The outcome of [`LexemeWalker::enter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexemeStep {
    /// The byte extends the lexeme and the input stays viable whatever the
    /// parser holds below its top state.
    Inside,
    /// The lexeme may end here, so the answer depends on the whole parser
    /// state: resume with [`ByteWalker::resume`] from the parent's
    /// [`LexState`] ([`LexemeWalker::parent_state`]).
    Boundary,
    /// Not viable, whatever the parser holds.
    Dead,
}

impl Matcher {
    /// The state's branches, one matcher each (without rollback history),
    /// when the deterministic driver runs the grammar; `None` for the GLR
    /// driver. A string is a viable continuation of this state iff it is one
    /// of some branch, and every branch has a [`Matcher::lexeme_key`].
    pub fn split_branches(&self) -> Option<Vec<Matcher>> {
        let State::Lr(branches) = &self.state else { return None };
        Some(
            branches
                .iter()
                .map(|branch| Matcher::single_branch(&self.grammar, branch.clone(), self.consumed))
                .collect(),
        )
    }

    /// This state as a value ([`StateKey`]); `None` when the state has
    /// several branches or runs the GLR driver. Costs a walk over the parser
    /// stack.
    pub fn state_key(&self) -> Option<StateKey> {
        let State::Lr(branches) = &self.state else { return None };
        let [branch] = branches.as_slice() else { return None };
        let mut stack = SmallVec::new();
        branch.parser.extend_states(&mut stack);
        Some(StateKey { lex: branch.lex, stack, whole: true })
    }

    /// This state, laid out so that `probe` records how deep into the
    /// parser stack anything computed from the returned matcher reads
    /// (through [`ByteWalker`]s resumed from it and from each other). After
    /// such a computation, its result holds for every state whose
    /// [`StateKey::top`]`(probe.depth())` is this state's. `None` when
    /// [`Matcher::state_key`] is, or when the stack is too short to be
    /// worth probing.
    pub fn probed(&self) -> Option<(Matcher, StackProbe)> {
        let State::Lr(branches) = &self.state else { return None };
        let [branch] = branches.as_slice() else { return None };
        let (parser, probe) = branch.parser.probed()?;
        let matcher = Matcher::single_branch(&self.grammar, Branch { lex: branch.lex, parser }, self.consumed);
        Some((matcher, StackProbe { level: probe }))
    }

    /// A matcher of one deterministic branch, without rollback history.
    fn single_branch(grammar: &CompiledGrammar, branch: Branch<super::LrStack>, consumed: u64) -> Matcher {
        Matcher {
            grammar: grammar.clone(),
            state: State::Lr(SmallVec::from_elem(branch, 1)),
            consumed,
            history: None,
            history_len: 0,
        }
    }

    /// The key of this state's in-lexeme continuations; `None` when the
    /// state has several branches or runs the GLR driver.
    pub fn lexeme_key(&self) -> Option<LexemeKey> {
        let State::Lr(branches) = &self.state else { return None };
        let [branch] = branches.as_slice() else { return None };
        Some(LexemeKey { lex: branch.lex, top: branch.parser.top_state() })
    }
}

/// Walks a prefix tree like [`ByteWalker`], for every state with a given
/// [`LexemeKey`] at once: it follows only the bytes that stay inside the
/// current lexeme and reports where the walk would need the full parser.
///
/// Exactly the steps on which [`ByteWalker`] keeps a single branch with an
/// unchanged parser are [`LexemeStep::Inside`]; there both walkers agree on
/// viability and a token ending there is allowed. A
/// [`LexemeStep::Boundary`] node's subtree must be walked by a
/// [`ByteWalker::resume`]d walker.
pub struct LexemeWalker {
    grammar: CompiledGrammar,
    top: u32,
    /// `lexes[d]`: the lexer state after `d` bytes.
    lexes: Vec<u32>,
}

impl LexemeWalker {
    /// A walker from the states with `key`.
    pub fn new(grammar: &CompiledGrammar, key: LexemeKey) -> LexemeWalker {
        LexemeWalker { grammar: grammar.clone(), top: key.top, lexes: vec![key.lex] }
    }

    /// Enters the node at `depth` with edge `byte` (pre-order, as
    /// [`ByteWalker::enter`]); only after [`LexemeStep::Inside`] may the
    /// walk go below it.
    pub fn enter(&mut self, depth: usize, byte: u8) -> LexemeStep {
        assert!(depth >= 1 && depth <= self.lexes.len(), "LexemeWalker::enter: depth {depth}");
        self.lexes.truncate(depth);
        let tables = self.grammar.tables();
        let lex = self.lexes[depth - 1];
        match lexeme_extension(tables, lex, byte, |extended| tables.lexeme_possible(extended, self.top)) {
            Extension::Extends(extended) => {
                self.lexes.push(extended);
                LexemeStep::Inside
            }
            // The full matcher reports a lexer overflow where it happens.
            Extension::Cut { .. } | Extension::Overflow => LexemeStep::Boundary,
            Extension::Dead => LexemeStep::Dead,
        }
    }

    /// The lexer state of the node at `depth - 1` on the current path (the
    /// parent of a node just entered at `depth`).
    pub fn parent_state(&self, depth: usize) -> LexState {
        LexState(self.lexes[depth - 1])
    }
}

/// A prefix-closed set of byte strings given as a small deterministic
/// automaton (every state accepting; `None`: the byte leaves the set), for
/// [`CompiledGrammar::inside_depth`]. A token index uses one for the text
/// most tokens are made of, so that a lexer state that keeps all of it
/// inside its lexeme takes those tokens as one precomputed set instead of
/// a walk of them.
pub trait ByteSlice {
    /// The number of states, numbered from 0.
    const STATES: u8;
    /// The start state.
    const START: u8;
    /// The state after `byte` from `state`, or `None` outside the set.
    fn next(&self, state: u8, byte: u8) -> Option<u8>;
}

/// The bytes a [`CompiledGrammar::inside_depth`] search must try: one per
/// class of bytes that the grammar's lexer and the slice both treat alike
/// (on JSON grammars with the text slice, about 20 instead of 256).
/// Computed once per grammar and slice ([`CompiledGrammar::slice_classes`]).
#[derive(Clone, Debug)]
pub struct SliceClasses {
    representatives: Vec<u8>,
}

/// How far [`CompiledGrammar::inside_depth`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsideDepth {
    /// Every string of the slice no longer than this stays inside.
    pub depth: usize,
    /// Byte steps taken.
    pub steps: usize,
    /// Every pair (slice state, lexer state) the search met, with the
    /// length of the shortest string that led to it. From a pair met at
    /// level `k`, every string of the slice of length at most
    /// `depth - k` stays inside too (the strings to it, followed by those,
    /// were all checked; unbounded when `depth` is the `max_depth` asked
    /// for and the search closed): a later search from that pair need not
    /// run ([`LexemeKey::to_raw`] names the lexer state).
    pub met: Vec<(u8, u32, usize)>,
    /// Whether the search closed: no pair it met leads out of the slice's
    /// strings staying inside, at any length.
    pub closed: bool,
}

impl CompiledGrammar {
    /// `key` with its lexer state narrowed to the terminals its parser top
    /// allows: every walk from the narrowed key gives the same answers as
    /// from `key` (a lexeme can only be completed as an allowed terminal,
    /// and the cut candidates are filtered by the same set), so their
    /// masks are equal. The lazy lexer is one automaton for every
    /// terminal of the grammar, so its state after `"na` inside a JSON
    /// object key also follows every other object's property names that
    /// start so; narrowed, it follows only this object's. On a schema with
    /// thousands of property names this is what keeps the in-lexeme search
    /// ([`inside_depth`](Self::inside_depth)) to a handful of states. The
    /// dense lexer's keys are returned as they are.
    pub fn narrowed_key(&self, key: LexemeKey) -> LexemeKey {
        let tables = self.tables();
        let lex = tables.lexer.restrict(key.lex, tables.allowed_row(key.top));
        LexemeKey { lex, top: key.top }
    }
}

impl CompiledGrammar {
    /// The classes of bytes that this grammar's lexer and `slice` treat
    /// alike, for [`inside_depth`](Self::inside_depth).
    pub fn slice_classes<S: ByteSlice>(&self, slice: &S) -> SliceClasses {
        let lexer = self.tables().lexer.byte_classes();
        let mut seen: hashbrown::HashSet<(u8, SmallVec<[Option<u8>; 8]>)> = hashbrown::HashSet::new();
        let representatives = (0..=255u8)
            .filter(|&byte| {
                let moves: SmallVec<[Option<u8>; 8]> = (0..S::STATES).map(|state| slice.next(state, byte)).collect();
                moves.iter().any(Option::is_some) && seen.insert((lexer[byte as usize], moves))
            })
            .collect();
        SliceClasses { representatives }
    }

    /// How deep the strings of `slice` stay inside the current lexeme from
    /// the states with `key`: the largest `d ≤ max_depth` such that, for
    /// every string of the slice of length at most `d`, a [`LexemeWalker`]
    /// from `key` answers [`LexemeStep::Inside`] at each of its bytes. So
    /// every token whose bytes are such a string is allowed from those
    /// states, and none of its prefixes is a boundary: a mask may take them
    /// all without walking them. `classes` must be this grammar's
    /// [`slice_classes`](Self::slice_classes) of the same slice.
    ///
    /// A breadth-first search over pairs (slice state, lexer state), one
    /// level per byte, each pair expanded once (a pair met again at a
    /// deeper level can only lead to shorter strings than it did the first
    /// time), one byte per class where no lexeme may end (elsewhere whether
    /// a cut is possible depends on the byte itself, so every byte is
    /// tried). It stops at the first byte that is not inside, when no new
    /// pair appears (the depth is then unbounded: `max_depth`), or after
    /// about `budget` byte steps (the depth then is the last level fully
    /// checked). Inside a JSON string the search closes after a handful of
    /// pairs (the string's state and the UTF-8 continuation states): about
    /// a hundred steps. A string with `maxLength` counts characters in its
    /// lexer states, so there each level brings new pairs.
    pub fn inside_depth<S: ByteSlice>(
        &self,
        key: LexemeKey,
        slice: &S,
        classes: &SliceClasses,
        max_depth: usize,
        budget: usize,
    ) -> InsideDepth {
        let tables = self.tables();
        search_inside(
            tables,
            key.lex,
            |extended| tables.lexeme_possible(extended, key.top),
            slice,
            classes,
            max_depth,
            budget,
        )
    }
}

impl Matcher {
    /// [`CompiledGrammar::inside_depth`] for this state itself, whatever
    /// its driver and however many branches it has: the largest depth to
    /// which every string of `slice` stays inside the lexeme of some one
    /// branch, with that branch's parser unchanged. Every token that is
    /// such a string is allowed. This is what a state without a
    /// [`LexemeKey`] (the GLR driver's) takes its text tokens from.
    pub fn inside_depth<S: ByteSlice>(
        &self,
        slice: &S,
        classes: &SliceClasses,
        max_depth: usize,
        budget: usize,
    ) -> InsideDepth {
        let tables = self.grammar.tables();
        fn each<P: Parser, S: ByteSlice>(
            tables: &Tables,
            branches: &[Branch<P>],
            slice: &S,
            classes: &SliceClasses,
            max_depth: usize,
            budget: usize,
        ) -> InsideDepth {
            let mut best = InsideDepth { depth: 0, steps: 0, met: Vec::new(), closed: false };
            for branch in branches {
                let found = search_inside(
                    tables,
                    branch.lex,
                    |extended| branch.parser.alive(tables, extended),
                    slice,
                    classes,
                    max_depth,
                    budget.saturating_sub(best.steps),
                );
                best.depth = best.depth.max(found.depth);
                best.steps += found.steps;
            }
            best
        }
        match &self.state {
            State::Lr(branches) => each(tables, branches, slice, classes, max_depth, budget),
            State::Glr(branches) => each(tables, branches, slice, classes, max_depth, budget),
        }
    }
}

/// The search of [`CompiledGrammar::inside_depth`] from lexer state `lex`,
/// with `alive` saying whether the parser can take a lexeme that reached
/// a lexer state.
fn search_inside<S: ByteSlice>(
    tables: &Tables,
    lex: u32,
    alive: impl Fn(u32) -> bool,
    slice: &S,
    classes: &SliceClasses,
    max_depth: usize,
    budget: usize,
) -> InsideDepth {
    let all: [u8; 256] = std::array::from_fn(|byte| byte as u8);
    let mut seen: hashbrown::HashSet<(u8, u32)> = hashbrown::HashSet::new();
    let mut level: Vec<(u8, u32)> = vec![(S::START, lex)];
    let mut next_level: Vec<(u8, u32)> = Vec::new();
    seen.insert((S::START, lex));
    let mut met = vec![(S::START, lex, 0)];
    let mut steps = 0;
    let mut depth = 0;
    while depth < max_depth {
        for &(state, lex) in &level {
            let bytes: &[u8] = if tables.lexer.is_accepting(lex) { &all } else { &classes.representatives };
            for &byte in bytes {
                let Some(next) = slice.next(state, byte) else { continue };
                steps += 1;
                if steps > budget {
                    return InsideDepth { depth, steps, met, closed: false };
                }
                match lexeme_extension(tables, lex, byte, &alive) {
                    Extension::Extends(extended) => {
                        if seen.insert((next, extended)) {
                            next_level.push((next, extended));
                            met.push((next, extended, depth + 1));
                        }
                    }
                    _ => return InsideDepth { depth, steps, met, closed: false },
                }
            }
        }
        // Every string of length depth + 1 is inside.
        depth += 1;
        if next_level.is_empty() {
            return InsideDepth { depth: max_depth, steps, met, closed: true };
        }
        std::mem::swap(&mut level, &mut next_level);
        next_level.clear();
    }
    InsideDepth { depth, steps, met, closed: false }
}

impl LexemeKey {
    /// The key as two integers (lexer state, parser top state), for
    /// storing precomputed masks; see [`CompiledGrammar::lexeme_key_from_raw`].
    pub fn to_raw(self) -> (u32, u32) {
        (self.lex, self.top)
    }
}

impl LexState {
    /// The lexer state as an integer, for storing precomputed masks; see
    /// [`CompiledGrammar::lex_state_from_raw`].
    pub fn to_raw(self) -> u32 {
        self.0
    }
}

impl CompiledGrammar {
    /// Whether lexer and parser states are numbered the same way every time
    /// this grammar is tables, so that [`LexemeKey`]s and [`LexState`]s
    /// may be stored and read back: true unless the lexer is the lazy one
    /// (its states are numbered in the order inputs first reach them).
    pub fn has_stable_states(&self) -> bool {
        !self.tables().lexer.is_lazy()
    }

    /// The key with these raw parts, if both are states of this grammar
    /// and its states are stable ([`Self::has_stable_states`]).
    pub fn lexeme_key_from_raw(&self, lex: u32, top: u32) -> Option<LexemeKey> {
        let tables = self.tables();
        let valid = self.has_stable_states()
            && (lex as usize) < tables.lexer.state_count()
            && (top as usize) < tables.lr.state_count();
        valid.then_some(LexemeKey { lex, top })
    }

    /// The lexer state with this raw number, if it is one of this grammar's
    /// and its states are stable.
    pub fn lex_state_from_raw(&self, lex: u32) -> Option<LexState> {
        let valid = self.has_stable_states() && (lex as usize) < self.tables().lexer.state_count();
        valid.then_some(LexState(lex))
    }

    /// Every [`LexemeKey`] a matcher of this grammar can have, and some it
    /// cannot (a superset): for each parser state, the lexer states that
    /// bytes from a lexeme boundary reach while the lexeme can still become
    /// a terminal that parser state accepts. `None` when keys are not
    /// stable or the grammar runs the GLR driver (whose matchers have no
    /// keys).
    ///
    /// This is what an index precomputes eagerly; masks for keys outside
    /// it would be computed on first use anyway.
    pub fn lexeme_keys(&self) -> Option<Vec<LexemeKey>> {
        let tables = self.tables();
        if !self.has_stable_states() || tables.driver == Driver::Generalized {
            return None;
        }
        let lexer = &tables.lexer;
        let mut keys = Vec::new();
        let mut seen = vec![false; lexer.state_count()];
        let mut pending = Vec::new();
        for top in 0..tables.lr.state_count() as u32 {
            seen.fill(false);
            seen[LexerDfa::START as usize] = true;
            pending.push(LexerDfa::START);
            while let Some(lex) = pending.pop() {
                keys.push(LexemeKey { lex, top });
                for byte in 0..=255u8 {
                    let next = lexer.next(lex, byte);
                    if next != LexerDfa::DEAD
                        && let Some(seen) = seen.get_mut(next as usize)
                        && !*seen
                        && tables.lexeme_possible(next, top)
                    {
                        *seen = true;
                        pending.push(next);
                    }
                }
            }
        }
        Some(keys)
    }
}
