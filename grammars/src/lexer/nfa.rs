//! Terminals → one Thompson NFA in flat arrays, the lexers' input.
//!
//! regex-automata's compiler is general (captures, unanchored search,
//! reverse NFAs, UTF-8 empty-match rules), builds every state as its own
//! allocation and then copies them all once more into the final NFA;
//! lexers need none of that, and the cost showed on bounded repetitions. A
//! JSON Schema `"maxLength": 80` string repeats the JSON character — a
//! Unicode class, escapes, surrogate pairs, ~50 states — 80 times, and
//! compiling it was most of the schema's compile time. Here the states
//! live in three flat arrays (states, sparse transitions, union
//! alternates), and a repetition compiles its body once and copies that
//! block of states for every further copy, shifting the state numbers.
//!
//! The compiler keeps its stack on the heap: a terminal's regex can be
//! thousands of levels deep (see [`crate::hir_walk`]).
//!
//! Only the anchors `^`/`\A` and `$`/`\z` are compiled; on any other
//! assertion [`compile`] answers `None`, and the caller uses
//! regex-automata's compiler, which supports them all. That one recurses,
//! but only a regex constraint can use such an assertion (grammars and
//! JSON Schema patterns refuse them), and regex-syntax's parser keeps a
//! written regex under 250 levels. The lazy lexer
//! reads this NFA directly; the dense lexer determinizes regex-automata's
//! NFA type, made from this one by [`Nfa::to_regex_automata`].

use std::borrow::Borrow;
use std::ops::Range;

use hashbrown::HashMap;
use regex_automata::nfa::thompson::{self, BuildError, Builder, NFA};
use regex_automata::util::look::Look;
use regex_automata::util::primitives::StateID;
use regex_syntax::hir::{self, Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;

use crate::hir_walk;

/// A target not patched yet (the end of a fragment under construction).
const UNPATCHED: u32 = u32::MAX;

/// One byte range and where it leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Transition {
    pub(crate) start: u8,
    pub(crate) end: u8,
    pub(crate) next: u32,
}

impl From<&thompson::Transition> for Transition {
    fn from(transition: &thompson::Transition) -> Transition {
        Transition { start: transition.start, end: transition.end, next: transition.next.as_u32() }
    }
}

impl Transition {
    #[inline]
    pub(crate) fn matches(&self, byte: u8) -> bool {
        self.start <= byte && byte <= self.end
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum State {
    /// Consumes one byte in a range.
    Range(Transition),
    /// Consumes one byte in one of `transitions[first..first + len]`
    /// (sorted, disjoint); with no transitions it never matches.
    Sparse { first: u32, len: u32 },
    /// ε to each of `alternates[first..first + len]`.
    Union { first: u32, len: u32 },
    /// ε to both.
    Split(u32, u32),
    /// ε (where fragments join: the end of an alternation or of a
    /// multi-byte class).
    Empty(u32),
    /// `^` (passable only before the first byte) or, with `at_end`, `$`
    /// (passable only at the end of the text).
    Anchor { at_end: bool, next: u32 },
    /// The pattern of that number matches here.
    Match(u32),
}

/// The NFA of a lexer's terminals: pattern `i` matches terminal `i`,
/// anchored at the start.
#[derive(Default)]
pub(crate) struct Nfa {
    states: Vec<State>,
    transitions: Vec<Transition>,
    alternates: Vec<u32>,
    start: u32,
    /// Each pattern's start state, by pattern.
    pattern_starts: Vec<u32>,
    /// Per pattern (empty where unknown): `Some((first, end))` when the
    /// pattern's states are exactly `first..end` and every one of them can
    /// reach the pattern's match (it has no anchors and no empty class).
    /// Such a state's reach set is its pattern alone, with no fixpoint.
    live_blocks: Vec<Option<(u32, u32)>>,
}

impl Nfa {
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    pub(crate) fn start(&self) -> u32 {
        self.start
    }

    pub(crate) fn pattern_count(&self) -> usize {
        self.pattern_starts.len()
    }

    /// The patterns whose states are a block that all reach the match:
    /// `(pattern, first..end)`.
    pub(crate) fn live_blocks(&self) -> impl Iterator<Item = (usize, Range<u32>)> + '_ {
        self.live_blocks
            .iter()
            .enumerate()
            .filter_map(|(pattern, block)| block.map(|(first, end)| (pattern, first..end)))
    }

    #[inline]
    pub(crate) fn state(&self, id: u32) -> State {
        self.states[id as usize]
    }

    pub(crate) fn states(&self) -> impl Iterator<Item = (u32, State)> + '_ {
        self.states.iter().enumerate().map(|(id, &state)| (id as u32, state))
    }

    #[inline]
    pub(crate) fn transitions(&self, first: u32, len: u32) -> &[Transition] {
        &self.transitions[first as usize..(first + len) as usize]
    }

    #[inline]
    pub(crate) fn alternates(&self, first: u32, len: u32) -> &[u32] {
        &self.alternates[first as usize..(first + len) as usize]
    }

    /// A shortest non-empty string matching each pattern (`None` for a
    /// pattern that matches none), preferring printable ASCII bytes: one
    /// 0-1 breadth-first search over (NFA state, phase), where ε-moves cost
    /// nothing and bytes one. The phase says whether a byte was read yet
    /// (`^` passes only before one; a lexeme is never empty) and whether a
    /// `$` was passed (then only ε-moves follow).
    ///
    /// Why not a walk of the lexer DFA: a lazy DFA's states are built on
    /// first use and kept, and the search for one terminal's example visits
    /// the product of every terminal's progress. On a JSON Schema with 14
    /// `anyOf` branches of searched patterns it built 180,000 states in
    /// 30 s at compile time (conflict reports ask for examples), a sixth of
    /// the lexer's whole capacity. This costs time linear in the NFA.
    pub(crate) fn shortest_matches(&self) -> Vec<Option<Vec<u8>>> {
        const PHASES: usize = 3;
        let (fresh, reading, ended) = (0usize, 1usize, 2usize);
        let node = |state: u32, phase: usize| state as usize * PHASES + phase;
        let count = self.states.len() * PHASES;
        let mut distance = vec![u32::MAX; count];
        // The node each was reached from, and the byte read on the way.
        let mut previous: Vec<Option<(usize, Option<u8>)>> = vec![None; count];
        let mut queue = std::collections::VecDeque::new();
        let first = node(self.start, fresh);
        distance[first] = 0;
        queue.push_back(first);
        let mut found: Vec<Option<usize>> = vec![None; self.pattern_count()];
        // Printable ASCII first, then the rest in order.
        let rank = |byte: u8| (!(0x20..0x7f).contains(&byte), byte);
        let representative = |t: &Transition| {
            let (low, high) = (t.start.max(0x20), t.end.min(0x7e));
            if low <= high { low } else { t.start }
        };
        while let Some(at) = queue.pop_front() {
            let (state, phase) = ((at / PHASES) as u32, at % PHASES);
            let here = distance[at];
            let mut relax = |queue: &mut std::collections::VecDeque<usize>, to: usize, byte: Option<u8>| {
                let cost = here + u32::from(byte.is_some());
                if cost < distance[to] {
                    distance[to] = cost;
                    previous[to] = Some((at, byte));
                    if byte.is_some() { queue.push_back(to) } else { queue.push_front(to) }
                }
            };
            let mut bytes: Vec<(u8, u32)> = Vec::new();
            match self.state(state) {
                State::Match(pattern) => {
                    if phase != fresh && found[pattern as usize].is_none() {
                        found[pattern as usize] = Some(at);
                    }
                }
                State::Range(t) => bytes.push((representative(&t), t.next)),
                State::Sparse { first, len } => {
                    bytes.extend(self.transitions(first, len).iter().map(|t| (representative(t), t.next)))
                }
                State::Union { first, len } => {
                    for &next in self.alternates(first, len) {
                        relax(&mut queue, node(next, phase), None);
                    }
                }
                State::Split(a, b) => {
                    relax(&mut queue, node(a, phase), None);
                    relax(&mut queue, node(b, phase), None);
                }
                State::Empty(next) => relax(&mut queue, node(next, phase), None),
                State::Anchor { at_end: false, next } => {
                    if phase == fresh {
                        relax(&mut queue, node(next, phase), None);
                    }
                }
                State::Anchor { at_end: true, next } => {
                    if phase == reading {
                        relax(&mut queue, node(next, ended), None);
                    }
                }
            }
            if phase != ended {
                bytes.sort_by_key(|&(byte, _)| rank(byte));
                for (byte, next) in bytes {
                    relax(&mut queue, node(next, reading), Some(byte));
                }
            }
        }
        found
            .into_iter()
            .map(|end| {
                let mut at = end?;
                let mut bytes = Vec::new();
                while let Some((from, byte)) = previous[at] {
                    bytes.extend(byte);
                    at = from;
                }
                bytes.reverse();
                Some(bytes)
            })
            .collect()
    }

    /// Byte equivalence classes (bytes no transition tells apart share a
    /// class) and one representative byte per class.
    pub(crate) fn byte_classes(&self) -> ([u8; 256], Vec<u8>) {
        let mut boundary = [false; 256];
        let mut mark = |transition: &Transition| {
            if transition.start > 0 {
                boundary[transition.start as usize - 1] = true;
            }
            boundary[transition.end as usize] = true;
        };
        for state in &self.states {
            if let State::Range(transition) = state {
                mark(transition);
            }
        }
        self.transitions.iter().for_each(&mut mark);
        let mut classes = [0u8; 256];
        let mut representatives = vec![0u8];
        for byte in 0..=255u8 {
            classes[byte as usize] = (representatives.len() - 1) as u8;
            if boundary[byte as usize] && byte < 255 {
                representatives.push(byte + 1);
            }
        }
        (classes, representatives)
    }

    /// The bytes the states and edges take, without the room the vectors
    /// keep for growth: what the size limit bounds, so that whether a
    /// grammar fits does not depend on the order its vectors grew in
    /// (growth doubles a vector: a JSON Schema string of `maxLength`
    /// 100,000 takes 51 MB, but its vectors had room for 100 MB when the
    /// closing quote was added). [`compile`] trims the vectors at the end.
    fn size(&self) -> usize {
        self.states.len() * size_of::<State>()
            + self.transitions.len() * size_of::<Transition>()
            + (self.alternates.len() + self.pattern_starts.len()) * size_of::<u32>()
            + self.live_blocks.len() * size_of::<Option<(u32, u32)>>()
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.states.capacity() * size_of::<State>()
            + self.transitions.capacity() * size_of::<Transition>()
            + (self.alternates.capacity() + self.pattern_starts.capacity()) * size_of::<u32>()
            + self.live_blocks.capacity() * size_of::<Option<(u32, u32)>>()
    }

    /// The same NFA as regex-automata's type, for its determinizer (the
    /// dense lexer). `Err` carries regex-automata's message.
    pub(crate) fn to_regex_automata(&self, size_limit: usize) -> Result<NFA, String> {
        self.build_regex_automata(size_limit).map_err(|error| error.to_string())
    }

    fn build_regex_automata(&self, size_limit: usize) -> Result<NFA, Box<BuildError>> {
        let mut builder = Builder::new();
        builder.set_size_limit(Some(size_limit))?;
        // regex-automata numbers states in the order they are added and
        // takes each pattern's `Match` states between `start_pattern` and
        // `finish_pattern`, so the matches go first, pattern by pattern,
        // then every other state.
        let mut matches: Vec<(u32, u32)> = self
            .states()
            .filter_map(|(id, state)| if let State::Match(pattern) = state { Some((pattern, id)) } else { None })
            .collect();
        matches.sort_unstable();
        let mut renumbered = vec![0u32; self.states.len()];
        let mut order: Vec<u32> = matches.iter().map(|&(_, id)| id).collect();
        order.extend(self.states().filter(|(_, state)| !matches!(state, State::Match(_))).map(|(id, _)| id));
        for (new, &old) in order.iter().enumerate() {
            renumbered[old as usize] = new as u32;
        }
        let to = |id: u32| StateID::new_unchecked(renumbered[id as usize] as usize);
        let mut pending = matches.iter().peekable();
        for (pattern, &start) in self.pattern_starts.iter().enumerate() {
            builder.start_pattern()?;
            while pending.next_if(|&&(of, _)| of as usize == pattern).is_some() {
                builder.add_match()?;
            }
            builder.finish_pattern(to(start))?;
        }
        let transition = |t: &Transition| thompson::Transition { start: t.start, end: t.end, next: to(t.next) };
        for &old in &order[matches.len()..] {
            match self.state(old) {
                State::Range(t) => builder.add_range(transition(&t))?,
                State::Sparse { len: 0, .. } => builder.add_fail()?,
                State::Sparse { first, len } => {
                    builder.add_sparse(self.transitions(first, len).iter().map(transition).collect())?
                }
                State::Union { first, len } => {
                    builder.add_union(self.alternates(first, len).iter().map(|&a| to(a)).collect())?
                }
                State::Split(first, second) => builder.add_union(vec![to(first), to(second)])?,
                State::Empty(next) => {
                    let empty = builder.add_empty()?;
                    builder.patch(empty, to(next))?;
                    empty
                }
                State::Anchor { at_end, next } => {
                    builder.add_look(to(next), if at_end { Look::End } else { Look::Start })?
                }
                // Added with their patterns above.
                State::Match(_) => continue,
            };
        }
        Ok(builder.build(to(self.start), to(self.start))?)
    }

    /// regex-automata's NFA in this form (`None` if it uses an assertion
    /// other than the anchors): the lazy lexer over regex-automata's own
    /// compiler, where ours declines a terminal, and in tests.
    pub(crate) fn from_regex_automata(nfa: &NFA) -> Option<Nfa> {
        let mut ours = Nfa {
            states: Vec::with_capacity(nfa.states().len()),
            start: nfa.start_anchored().as_u32(),
            pattern_starts: nfa
                .patterns()
                .map(|pattern| nfa.start_pattern(pattern).map_or(0, |start| start.as_u32()))
                .collect(),
            ..Nfa::default()
        };
        let ranges = |ours: &mut Nfa, transitions: &mut dyn Iterator<Item = Transition>| {
            let first = ours.transitions.len() as u32;
            ours.transitions.extend(transitions);
            State::Sparse { first, len: ours.transitions.len() as u32 - first }
        };
        for state in nfa.states() {
            let state = match state {
                thompson::State::ByteRange { trans } => State::Range(trans.into()),
                thompson::State::Sparse(sparse) => {
                    ranges(&mut ours, &mut sparse.transitions.iter().map(Transition::from))
                }
                thompson::State::Dense(dense) => {
                    let mut runs: Vec<Transition> = Vec::new();
                    for (byte, next) in dense.transitions.iter().enumerate() {
                        if *next == StateID::ZERO {
                            continue;
                        }
                        match runs.last_mut() {
                            Some(run) if run.next == next.as_u32() && run.end as usize + 1 == byte => {
                                run.end = byte as u8
                            }
                            _ => runs.push(Transition { start: byte as u8, end: byte as u8, next: next.as_u32() }),
                        }
                    }
                    ranges(&mut ours, &mut runs.into_iter())
                }
                thompson::State::Union { alternates } => {
                    let first = ours.alternates.len() as u32;
                    ours.alternates.extend(alternates.iter().map(|a| a.as_u32()));
                    State::Union { first, len: alternates.len() as u32 }
                }
                thompson::State::BinaryUnion { alt1, alt2 } => State::Split(alt1.as_u32(), alt2.as_u32()),
                thompson::State::Capture { next, .. } => State::Empty(next.as_u32()),
                thompson::State::Look { look: Look::Start, next } => {
                    State::Anchor { at_end: false, next: next.as_u32() }
                }
                thompson::State::Look { look: Look::End, next } => State::Anchor { at_end: true, next: next.as_u32() },
                thompson::State::Look { .. } => return None,
                thompson::State::Fail => State::Sparse { first: 0, len: 0 },
                thompson::State::Match { pattern_id } => State::Match(pattern_id.as_u32()),
            };
            ours.states.push(state);
        }
        Some(ours)
    }
}

/// The NFA would exceed its size limit.
#[derive(Debug)]
pub(crate) struct TooLarge {
    /// The pattern being compiled.
    pub(crate) pattern: usize,
    /// The counted repetition whose copies would not fit, if it was one.
    pub(crate) repetition: Option<Copies>,
}

/// A counted repetition `{min,max}` and what its copies would take.
#[derive(Debug)]
pub(crate) struct Copies {
    pub(crate) min: u32,
    pub(crate) max: Option<u32>,
    /// NFA states of one copy of the body.
    pub(crate) body_states: usize,
    /// Bytes the NFA would take with every copy.
    pub(crate) bytes: usize,
}

/// The NFA of `terminals`, or `None` when a terminal uses an assertion
/// this compiler does not handle. `Err` when the NFA would exceed
/// `size_limit` bytes.
pub(crate) fn compile<H: Borrow<Hir>>(terminals: &[H], size_limit: usize) -> Option<Result<Nfa, TooLarge>> {
    let mut compiler = Compiler { nfa: Nfa::default(), size_limit, dead_ends: false, pattern: 0 };
    match compiler.compile(terminals) {
        Ok(()) => {
            let mut nfa = compiler.nfa;
            nfa.states.shrink_to_fit();
            nfa.transitions.shrink_to_fit();
            nfa.alternates.shrink_to_fit();
            Some(Ok(nfa))
        }
        Err(Failure::TooLarge(repetition)) => Some(Err(TooLarge { pattern: compiler.pattern, repetition })),
        Err(Failure::Unsupported) => None,
    }
}

/// Why [`Compiler`] stopped.
enum Failure {
    /// Over the size limit: while making these copies of a repetition, or
    /// while adding one more state.
    TooLarge(Option<Copies>),
    /// Something this compiler leaves to regex-automata's.
    Unsupported,
}

/// A compiled piece: enter at `start`; `end` is still to be patched to
/// what follows.
#[derive(Clone, Copy)]
struct Fragment {
    start: u32,
    end: u32,
}

/// Where a fragment's states and pooled edges lie. A fragment's edges
/// lead only to its own states (or are unpatched), so the block can be
/// copied elsewhere by shifting every target by the same amount.
struct Block {
    states: Range<u32>,
    transitions: Range<u32>,
    alternates: Range<u32>,
}

/// A class's UTF-8 encodings as a DAG of byte-range states: a trie of the
/// byte sequences with equal suffixes merged (most sequences end in the
/// same continuation-byte ranges). `nodes` lists children before parents.
struct Utf8Class {
    nodes: Vec<Vec<(u8, u8, Target)>>,
    root: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// The class's end.
    End,
    Node(usize),
}

struct Compiler {
    nfa: Nfa,
    size_limit: usize,
    /// Whether the pattern being compiled has a state that may not reach
    /// its end: an anchor (`^` after the first byte, bytes after `$`) or
    /// an empty class.
    dead_ends: bool,
    /// The pattern being compiled.
    pattern: usize,
}

impl Compiler {
    fn compile<H: Borrow<Hir>>(&mut self, terminals: &[H]) -> Result<(), Failure> {
        for (pattern, terminal) in terminals.iter().enumerate() {
            self.pattern = pattern;
            let first = self.nfa.states.len() as u32;
            self.dead_ends = false;
            let fragment = self.c(terminal.borrow())?;
            let matched = self.add(State::Match(pattern as u32))?;
            self.patch(fragment.end, matched);
            self.nfa.pattern_starts.push(fragment.start);
            self.nfa.live_blocks.push((!self.dead_ends).then_some((first, matched + 1)));
        }
        self.nfa.start = match self.nfa.pattern_starts.as_slice() {
            [only] => *only,
            _ => {
                let starts = self.nfa.pattern_starts.clone();
                self.add_union(&starts)?
            }
        };
        Ok(())
    }

    fn add(&mut self, state: State) -> Result<u32, Failure> {
        if self.nfa.size() > self.size_limit {
            return Err(Failure::TooLarge(None));
        }
        self.nfa.states.push(state);
        Ok(self.nfa.states.len() as u32 - 1)
    }

    fn add_union(&mut self, alternates: &[u32]) -> Result<u32, Failure> {
        let first = self.nfa.alternates.len() as u32;
        self.nfa.alternates.extend_from_slice(alternates);
        self.add(State::Union { first, len: alternates.len() as u32 })
    }

    fn add_sparse(&mut self, transitions: impl Iterator<Item = Transition>) -> Result<u32, Failure> {
        let first = self.nfa.transitions.len() as u32;
        self.nfa.transitions.extend(transitions);
        self.add(State::Sparse { first, len: self.nfa.transitions.len() as u32 - first })
    }

    fn empty(&mut self) -> Result<Fragment, Failure> {
        let state = self.add(State::Empty(UNPATCHED))?;
        Ok(Fragment { start: state, end: state })
    }

    /// Points the unpatched edges of `from` (a fragment's end) at `to`.
    fn patch(&mut self, from: u32, to: u32) {
        match &mut self.nfa.states[from as usize] {
            State::Range(Transition { next, .. })
            | State::Empty(next)
            | State::Anchor { next, .. }
            | State::Split(_, next) => *next = to,
            // A class of several ranges ends in itself: all its ranges
            // lead to what follows.
            &mut State::Sparse { first, len } => {
                for transition in &mut self.nfa.transitions[first as usize..(first + len) as usize] {
                    if transition.next == UNPATCHED {
                        transition.next = to;
                    }
                }
            }
            // Fragments end in one of the above.
            State::Union { .. } | State::Match(_) => {}
        }
    }

    /// `first` then `next`: `first`'s end leads to `next`'s start.
    fn then(&mut self, first: Option<Fragment>, next: Fragment) -> Fragment {
        match first {
            Some(first) => {
                self.patch(first.end, next.start);
                Fragment { start: first.start, end: next.end }
            }
            None => next,
        }
    }

    /// Another copy of `fragment`, whose states are `block` (the caller
    /// checked the size limit for every copy at once).
    fn copy(&mut self, block: &Block, fragment: Fragment) -> Fragment {
        let nfa = &mut self.nfa;
        let shift = nfa.states.len() as u32 - block.states.start;
        let moved = |target: u32| if target == UNPATCHED { target } else { target + shift };
        let transitions_shift = nfa.transitions.len() as u32 - block.transitions.start;
        let alternates_shift = nfa.alternates.len() as u32 - block.alternates.start;
        for index in block.transitions.clone() {
            let transition = nfa.transitions[index as usize];
            nfa.transitions.push(Transition { next: moved(transition.next), ..transition });
        }
        for index in block.alternates.clone() {
            let alternate = nfa.alternates[index as usize];
            nfa.alternates.push(moved(alternate));
        }
        for index in block.states.clone() {
            let state = match nfa.states[index as usize] {
                State::Range(transition) => State::Range(Transition { next: moved(transition.next), ..transition }),
                State::Sparse { first, len } => State::Sparse { first: first + transitions_shift, len },
                State::Union { first, len } => State::Union { first: first + alternates_shift, len },
                State::Split(first, second) => State::Split(moved(first), moved(second)),
                State::Empty(next) => State::Empty(moved(next)),
                State::Anchor { at_end, next } => State::Anchor { at_end, next: moved(next) },
                State::Match(pattern) => State::Match(pattern),
            };
            nfa.states.push(state);
        }
        Fragment { start: fragment.start + shift, end: fragment.end + shift }
    }

    /// Where the pools end now: the start of the block of states the next
    /// fragment will occupy.
    fn mark(&self) -> Block {
        let (states, transitions, alternates) =
            (self.nfa.states.len() as u32, self.nfa.transitions.len() as u32, self.nfa.alternates.len() as u32);
        Block { states: states..states, transitions: transitions..transitions, alternates: alternates..alternates }
    }

    /// The block from `mark` to the end of the pools.
    fn block_since(&self, mark: &Block) -> Block {
        Block {
            states: mark.states.start..self.nfa.states.len() as u32,
            transitions: mark.transitions.start..self.nfa.transitions.len() as u32,
            alternates: mark.alternates.start..self.nfa.alternates.len() as u32,
        }
    }

    /// Compiles `hir` with an explicit stack: a terminal's regex is as deep
    /// as the chain of GBNF rules inlined into it (see `hir_walk`), far
    /// deeper than recursion could go.
    fn c(&mut self, hir: &Hir) -> Result<Fragment, Failure> {
        /// A node whose sub-expressions are being compiled.
        enum Open<'h> {
            /// The parts so far joined into `whole`; `next` is the next one.
            Concat {
                parts: &'h [Hir],
                next: usize,
                whole: Option<Fragment>,
            },
            Alternation {
                alternatives: &'h [Hir],
                fragments: Vec<Fragment>,
            },
            /// The body's states start at `mark` (it is copied as a block).
            Repetition {
                min: u32,
                max: Option<u32>,
                mark: Block,
            },
        }
        let mut open: Vec<Open<'_>> = Vec::new();
        let mut node = hir;
        loop {
            // Down to a leaf, opening the nodes on the way.
            let mut done = loop {
                match node.kind() {
                    HirKind::Empty => break self.empty()?,
                    HirKind::Literal(hir::Literal(bytes)) => break self.literal(bytes)?,
                    HirKind::Class(Class::Bytes(class)) => {
                        break self.byte_ranges(class.ranges().iter().map(|range| (range.start(), range.end())))?;
                    }
                    HirKind::Class(Class::Unicode(class)) => break self.unicode_class(class)?,
                    HirKind::Look(look) => {
                        let at_end = match look {
                            hir::Look::Start => false,
                            hir::Look::End => true,
                            _ => return Err(Failure::Unsupported),
                        };
                        self.dead_ends = true;
                        let state = self.add(State::Anchor { at_end, next: UNPATCHED })?;
                        break Fragment { start: state, end: state };
                    }
                    HirKind::Repetition(repetition) => {
                        if hir_walk::copies(repetition.min, repetition.max) == 0 {
                            break self.empty()?;
                        }
                        open.push(Open::Repetition { min: repetition.min, max: repetition.max, mark: self.mark() });
                        node = &repetition.sub;
                    }
                    HirKind::Capture(capture) => node = &capture.sub,
                    HirKind::Concat(parts) => match parts.split_first() {
                        None => break self.empty()?,
                        Some((first, _)) => {
                            open.push(Open::Concat { parts, next: 1, whole: None });
                            node = first;
                        }
                    },
                    HirKind::Alternation(alternatives) => match alternatives.split_first() {
                        None => break self.byte_ranges(std::iter::empty())?,
                        Some((first, _)) => {
                            let fragments = Vec::with_capacity(alternatives.len());
                            open.push(Open::Alternation { alternatives, fragments });
                            node = first;
                        }
                    },
                }
            };
            // Up, closing every node whose last sub-expression is done.
            loop {
                let Some(parent) = open.last_mut() else { return Ok(done) };
                match parent {
                    Open::Concat { parts, next, whole } => {
                        let joined = self.then(*whole, done);
                        if let Some(part) = parts.get(*next) {
                            *whole = Some(joined);
                            *next += 1;
                            node = part;
                            break;
                        }
                        done = joined;
                    }
                    Open::Alternation { alternatives, fragments } => {
                        fragments.push(done);
                        if let Some(alternative) = alternatives.get(fragments.len()) {
                            node = alternative;
                            break;
                        }
                        let end = self.add(State::Empty(UNPATCHED))?;
                        for fragment in fragments.iter() {
                            self.patch(fragment.end, end);
                        }
                        let starts: Vec<u32> = fragments.iter().map(|fragment| fragment.start).collect();
                        let union = self.add_union(&starts)?;
                        done = Fragment { start: union, end };
                    }
                    Open::Repetition { min, max, mark } => {
                        let block = self.block_since(mark);
                        done = self.repetition(*min, *max, done, &block)?;
                    }
                }
                open.pop();
            }
        }
    }

    fn literal(&mut self, bytes: &[u8]) -> Result<Fragment, Failure> {
        let Some((&first, rest)) = bytes.split_first() else { return self.empty() };
        let start = self.add(State::Range(Transition { start: first, end: first, next: UNPATCHED }))?;
        let mut end = start;
        for &byte in rest {
            let next = self.add(State::Range(Transition { start: byte, end: byte, next: UNPATCHED }))?;
            self.patch(end, next);
            end = next;
        }
        Ok(Fragment { start, end })
    }

    /// Sorted, non-overlapping byte ranges: one state to a fresh end.
    fn byte_ranges(&mut self, mut ranges: impl ExactSizeIterator<Item = (u8, u8)>) -> Result<Fragment, Failure> {
        if ranges.len() == 1
            && let Some((start, end)) = ranges.next()
        {
            let state = self.add(State::Range(Transition { start, end, next: UNPATCHED }))?;
            return Ok(Fragment { start: state, end: state });
        }
        // An empty sparse state never matches (the empty class).
        self.dead_ends |= ranges.len() == 0;
        let state = self.add_sparse(ranges.map(|(start, last)| Transition { start, end: last, next: UNPATCHED }))?;
        Ok(Fragment { start: state, end: state })
    }

    fn unicode_class(&mut self, class: &hir::ClassUnicode) -> Result<Fragment, Failure> {
        if class.ranges().last().is_none_or(|range| range.end().is_ascii()) {
            // ASCII only (the common case), or empty: one state.
            return self.byte_ranges(class.ranges().iter().map(|range| (range.start() as u8, range.end() as u8)));
        }
        let utf8 = utf8_class(class).ok_or(Failure::Unsupported)?;
        let end = self.add(State::Empty(UNPATCHED))?;
        let mut states: Vec<u32> = Vec::with_capacity(utf8.nodes.len());
        for node in &utf8.nodes {
            let transition = |&(start, last, target): &(u8, u8, Target)| Transition {
                start,
                end: last,
                next: match target {
                    Target::End => end,
                    Target::Node(index) => states[index],
                },
            };
            let state = match node.as_slice() {
                [only] => self.add(State::Range(transition(only)))?,
                edges => self.add_sparse(edges.iter().map(transition))?,
            };
            states.push(state);
        }
        Ok(Fragment { start: states[utf8.root], end })
    }

    /// `sub{min,max}`: `min` copies, then `max - min` optional ones that
    /// may each skip to the end (or a loop when `max` is unbounded). `sub`
    /// is compiled once, as `first` in `block`; the other copies are copies
    /// of its states.
    fn repetition(&mut self, min: u32, max: Option<u32>, first: Fragment, block: &Block) -> Result<Fragment, Failure> {
        let count = hir_walk::copies(min, max);
        // Every copy will be made: fail now if they cannot fit, else make
        // room for them at once.
        let more = count as usize - 1;
        let (states, transitions, alternates) = (
            (block.states.len() + 1).saturating_mul(more),
            block.transitions.len().saturating_mul(more),
            block.alternates.len().saturating_mul(more),
        );
        let bytes = states
            .saturating_mul(size_of::<State>())
            .saturating_add(transitions.saturating_mul(size_of::<Transition>()))
            .saturating_add(alternates.saturating_mul(size_of::<u32>()));
        if self.nfa.size().saturating_add(bytes) > self.size_limit {
            let bytes = self.nfa.size().saturating_add(bytes);
            return Err(Failure::TooLarge(Some(Copies { min, max, body_states: block.states.len(), bytes })));
        }
        self.nfa.states.reserve_exact(states);
        self.nfa.transitions.reserve_exact(transitions);
        self.nfa.alternates.reserve_exact(alternates);
        let copies: Vec<Fragment> = std::iter::once(first).chain((1..count).map(|_| self.copy(block, first))).collect();
        let (required, optional) = copies.split_at(min as usize);
        let mut whole = None;
        for &copy in required {
            whole = Some(self.then(whole, copy));
        }
        match (max, optional) {
            (_, []) => {}
            (None, [copy]) => {
                // A split that loops back through one more copy; its
                // second edge is the way out.
                let split = self.add(State::Split(copy.start, UNPATCHED))?;
                self.patch(copy.end, split);
                whole = Some(self.then(whole, Fragment { start: split, end: split }));
            }
            (_, optional) => {
                // Each optional copy behind a split that may skip to the end.
                let end = self.add(State::Empty(UNPATCHED))?;
                let mut chain = None;
                for &copy in optional {
                    let split = self.add(State::Split(copy.start, end))?;
                    chain = Some(self.then(chain, Fragment { start: split, end: copy.end }));
                }
                if let Some(chain) = chain {
                    self.patch(chain.end, end);
                    whole = Some(self.then(whole, Fragment { start: chain.start, end }));
                }
            }
        }
        whole.map_or_else(|| self.empty(), Ok)
    }
}

/// The UTF-8 encodings of a non-empty set of code point ranges, as a
/// [`Utf8Class`].
///
/// The byte sequences of distinct code point ranges are disjoint, and at
/// each depth two sequences' ranges are either equal (shared prefix) or
/// disjoint — UTF-8 ranges split on encoding boundaries — so a trie of
/// them has non-overlapping edges, as a sparse state needs. `None` if that
/// ever fails to hold (the caller then compiles with regex-automata).
fn utf8_class(class: &hir::ClassUnicode) -> Option<Utf8Class> {
    // The trie: node 0 is the root; `None` marks the end of a sequence.
    let mut trie: Vec<Vec<(u8, u8, Option<usize>)>> = vec![Vec::new()];
    for range in class.iter() {
        for sequence in Utf8Sequences::new(range.start(), range.end()) {
            let bytes = sequence.as_slice();
            let mut node = 0;
            for (depth, byte) in bytes.iter().enumerate() {
                let last = depth + 1 == bytes.len();
                let existing =
                    trie[node].iter().find(|&&(start, end, _)| start == byte.start && end == byte.end).map(|e| e.2);
                node = match (existing, last) {
                    (Some(Some(child)), false) => child,
                    (Some(None), true) => break,
                    _ => {
                        let child = (!last).then(|| {
                            trie.push(Vec::new());
                            trie.len() - 1
                        });
                        trie[node].push((byte.start, byte.end, child));
                        match child {
                            Some(child) => child,
                            None => break,
                        }
                    }
                };
            }
        }
    }
    // Merge equal subtries bottom-up (children have larger indices than
    // their parents, so a reverse sweep sees children first).
    let mut nodes: Vec<Vec<(u8, u8, Target)>> = Vec::new();
    let mut merged: HashMap<Vec<(u8, u8, Target)>, usize> = HashMap::new();
    let mut canonical = vec![0usize; trie.len()];
    for index in (0..trie.len()).rev() {
        let mut edges: Vec<(u8, u8, Target)> = trie[index]
            .iter()
            .map(|&(start, end, child)| (start, end, child.map_or(Target::End, |c| Target::Node(canonical[c]))))
            .collect();
        edges.sort_unstable_by_key(|edge| edge.0);
        canonical[index] = match merged.get(&edges) {
            Some(&existing) => existing,
            None => {
                nodes.push(edges.clone());
                merged.insert(edges, nodes.len() - 1);
                nodes.len() - 1
            }
        };
    }
    let overlapping = nodes.iter().any(|edges| edges.windows(2).any(|pair| pair[0].1 >= pair[1].0));
    (!overlapping).then_some(Utf8Class { nodes, root: canonical[0] })
}
