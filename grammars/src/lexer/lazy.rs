//! The lazy lexer: a DFA whose states are built on first use.
//!
//! Some constraints determinize into astronomically many states — the
//! classic case is a bounded repetition before and after a keyword, like
//! `[A-Z][a-z ,']{0,60}amazing[a-z ,']{0,60}\.` (every occurrence of the
//! keyword opens another counter). Only the states an input actually
//! visits are ever needed, so this lexer runs the subset construction on
//! demand over the Thompson NFA of [`super::nfa`].
//!
//! State ids must stay valid for as long as anything holds them — matcher
//! branches, and the mask caches of `trellis-token-index`, which are keyed
//! by lexer state — so states are never evicted or renumbered (a hybrid
//! DFA that clears its cache when full, as regex-automata's does, would
//! have to invalidate all of those). They live in segments of doubling
//! size, allocated as the DFA grows (a grammar that builds 40 states holds
//! 40 states' worth of memory, not the capacity's), read lock-free through
//! once-cells; past the capacity `next` reports [`OVERFLOW`]. Transitions
//! are atomics filled in under a mutex.
//!
//! Since states are kept, they are kept small, so that the capacity can be
//! large: a counted repetition needs a state per count (`a{100000}` builds
//! 100,001), and JSON Schema's `maxLength` up to one per byte of the
//! string. What the lock-free readers need — the accepted and reachable
//! terminals — is one shared allocation per distinct pair of sets (a
//! counted repetition's states all share one); the NFA states a DFA state
//! stands for, needed only to compute its transitions, are one flat array
//! behind the mutex, found by hash. A state then costs about 50 bytes, plus
//! 4 per byte class (its row of transitions), plus 4 per NFA state it
//! stands for: 80 bytes for the states of `a{n}` (`a{1000000}` is checked
//! in 1 s with 78 MB), 450 for those of a JSON Schema string, whose
//! grammar has some 60 byte classes. The previous layout, with the NFA
//! states, both sets and the interner's key each a separate allocation,
//! took 260 and 590 bytes (growth of the resident set over a check,
//! release build).
//!
//! This is the default lexer: building states on first use makes compiling
//! cost nothing per state, and a mask walk visits only the states tokens
//! reach. The dense lexer is built instead where every state is needed up
//! front ([`super::LexerLimits::eager`]) or where a terminal uses an
//! assertion this lexer does not evaluate.
//!
//! Only the anchors `^`/`\A` and `$`/`\z` are supported here (the dense
//! lexer supports every assertion regex-automata does).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::nfa::{Nfa, State};
use super::{DEAD, OVERFLOW};
use crate::bitset::{self, BitMatrix};
use hashbrown::{DefaultHashBuilder, HashSet, HashTable};

/// Transition not computed yet.
const UNKNOWN: u32 = u32::MAX;

/// States in the first segment; segment `k` holds `FIRST_SEGMENT << k`.
const FIRST_SEGMENT: usize = 64;

/// What the lock-free readers need of a state (its NFA states are in the
/// [`Interner`]).
struct LazyState {
    /// The accepted terminals, then the reachable ones, a bitset of the
    /// same number of words each; shared by every state with equal sets.
    sets: Arc<[u64]>,
    accepting: bool,
}

impl LazyState {
    #[inline]
    fn accepts(&self) -> &[u64] {
        self.sets.split_at(self.sets.len() / 2).0
    }

    #[inline]
    fn reach(&self) -> &[u64] {
        self.sets.split_at(self.sets.len() / 2).1
    }
}

/// A run of consecutive state ids: their states and their transition rows.
struct Segment {
    states: Box<[OnceLock<LazyState>]>,
    /// `next[offset * stride + class]`.
    next: Box<[AtomicU32]>,
}

/// The states' NFA states, and what finds a state by them; behind the
/// mutex, as only the cold path reads them.
struct Interner {
    /// State ids, by the hash of their NFA states.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// The NFA states of every state after the ε-closure (byte-consuming
    /// states, `Match` states, and pending end-of-text assertions), sorted,
    /// one state after another: state `id`'s are
    /// `members[starts[id]..starts[id + 1]]`.
    members: Vec<u32>,
    starts: Vec<usize>,
    /// The distinct accept/reach set pairs, to share them.
    sets: HashSet<Arc<[u64]>>,
    count: usize,
    /// Scratch for ε-closures: `seen[nfa_state] == stamp` marks a visit.
    seen: Vec<u32>,
    stamp: u32,
}

impl Interner {
    fn members(&self, id: u32) -> &[u32] {
        let id = id as usize;
        match (self.starts.get(id), self.starts.get(id + 1)) {
            (Some(&start), Some(&end)) => &self.members[start..end],
            _ => &[],
        }
    }

    /// The state with these NFA states, if there is one.
    fn find(&self, members: &[u32]) -> Option<u32> {
        let hash = self.hasher.hash_one(members);
        self.index.find(hash, |&id| self.members(id) == members).copied()
    }

    /// Records the NFA states of the next state, `count`.
    fn add(&mut self, members: &[u32]) -> u32 {
        let id = self.count as u32;
        self.members.extend_from_slice(members);
        self.starts.push(self.members.len());
        let hash = self.hasher.hash_one(members);
        let Interner { index, hasher, members: all, starts, .. } = self;
        index.insert_unique(hash, id, |&other| {
            let other = other as usize;
            hasher.hash_one(&all[starts[other]..starts[other + 1]])
        });
        self.count += 1;
        id
    }

    /// The shared copy of these sets.
    fn share(&mut self, sets: Vec<u64>) -> Arc<[u64]> {
        if let Some(shared) = self.sets.get(sets.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<[u64]> = sets.into();
        self.sets.insert(shared.clone());
        shared
    }
}

pub(crate) struct LazyLexer {
    /// Boxed: only the cold path reads it, and the lexer sits beside the
    /// dense one in an enum.
    nfa: Box<Nfa>,
    pub(super) classes: [u8; 256],
    representatives: Vec<u8>,
    terminal_count: usize,
    /// Per NFA state: the patterns some path from it can match.
    nfa_reach: BitMatrix,
    /// Per NFA state: the patterns matched at end of text by ε-paths.
    nfa_at_end: BitMatrix,
    segments: Box<[OnceLock<Segment>]>,
    capacity: usize,
    interner: Mutex<Interner>,
}

impl std::fmt::Debug for LazyLexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyLexer")
            .field("nfa_states", &self.nfa.len())
            .field("dfa_states", &self.state_count())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The segment and the offset in it of state `id`.
#[inline(always)]
fn locate(id: u32) -> (usize, usize) {
    let scaled = id as usize / FIRST_SEGMENT + 1;
    let segment = (usize::BITS - 1 - scaled.leading_zeros()) as usize;
    (segment, id as usize - FIRST_SEGMENT * ((1 << segment) - 1))
}

impl LazyLexer {
    /// Prepares a lazy lexer over `nfa` with room for `capacity` states.
    pub(crate) fn new(nfa: Nfa, capacity: usize) -> LazyLexer {
        let terminal_count = nfa.pattern_count();
        let (classes, representatives) = nfa.byte_classes();
        let (nfa_reach, nfa_at_end) = reach_sets(&nfa, terminal_count);
        // Ids stay below the markers `OVERFLOW` and `UNKNOWN`.
        let capacity = capacity.clamp(2, OVERFLOW as usize);
        let segment_count = locate(capacity as u32 - 1).0 + 1;
        let mut interner = Interner {
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            members: Vec::new(),
            // DEAD and START: no NFA states are looked up for either.
            starts: vec![0, 0, 0],
            sets: HashSet::new(),
            count: 2,
            seen: vec![0; nfa.len()],
            stamp: 0,
        };
        let start_members = closure(&nfa, &mut interner, &[nfa.start()], true);
        let lexer = LazyLexer {
            nfa: Box::new(nfa),
            classes,
            representatives,
            terminal_count,
            nfa_reach,
            nfa_at_end,
            segments: (0..segment_count).map(|_| OnceLock::new()).collect(),
            capacity,
            interner: Mutex::new(interner),
        };
        if let Ok(mut interner) = lexer.interner.lock() {
            let dead = lexer.make_state(&mut interner, &[], false);
            lexer.install(DEAD, dead);
            let start = lexer.make_state(&mut interner, &start_members, true);
            lexer.install(super::START, start);
            // START's NFA states, for its transitions (it is never looked
            // up: no transition enters it).
            interner.members.extend_from_slice(&start_members);
            let end = interner.members.len();
            interner.starts[2] = end;
        }
        lexer
    }

    /// The number of state slots segment `segment` needs: its full size,
    /// except that the last holds only what the capacity leaves (a segment
    /// is as large as all before it together).
    fn segment_size(&self, segment: usize) -> usize {
        let first = FIRST_SEGMENT * ((1 << segment) - 1);
        (FIRST_SEGMENT << segment).min(self.capacity.saturating_sub(first))
    }

    /// Stores state `id`, allocating its segment on first use. Called with
    /// the interner locked (or before the lexer is shared).
    fn install(&self, id: u32, state: LazyState) {
        let (segment, offset) = locate(id);
        let stride = self.representatives.len();
        let segment = self.segments[segment].get_or_init(|| {
            let size = self.segment_size(segment);
            Segment {
                states: (0..size).map(|_| OnceLock::new()).collect(),
                next: (0..size * stride).map(|_| AtomicU32::new(UNKNOWN)).collect(),
            }
        });
        let _ = segment.states[offset].set(state);
    }

    fn make_state(&self, interner: &mut Interner, members: &[u32], is_start: bool) -> LazyState {
        let words = bitset::words_for(self.terminal_count);
        // Accepts in the first half, reach in the second.
        let mut sets = vec![0u64; 2 * words];
        let (accepts, reach) = sets.split_at_mut(words);
        for &member in members {
            match self.nfa.state(member) {
                State::Match(pattern) => {
                    // At START the match would be empty: lexemes are not.
                    if !is_start {
                        let p = pattern as usize;
                        accepts[p / 64] |= 1 << (p % 64);
                        reach[p / 64] |= 1 << (p % 64);
                    }
                }
                // Only `$` is kept as a member: pending until the end.
                State::Anchor { next, .. } => {
                    if !is_start {
                        or_into(accepts, self.nfa_at_end.row(next as usize));
                        or_into(reach, self.nfa_at_end.row(next as usize));
                    }
                }
                _ => or_into(reach, self.nfa_reach.row(member as usize)),
            }
        }
        let accepting = !bitset::is_empty(accepts);
        LazyState { sets: interner.share(sets), accepting }
    }

    #[inline]
    fn state(&self, id: u32) -> &LazyState {
        // Ids handed out always refer to initialized cells; DEAD is the
        // fallback for a (never expected) empty cell.
        let (segment, offset) = locate(id);
        match self.segments.get(segment).and_then(OnceLock::get).and_then(|segment| segment.states[offset].get()) {
            Some(state) => state,
            None => match self.segments[0].get().and_then(|segment| segment.states[0].get()) {
                Some(dead) => dead,
                None => unreachable_dead(),
            },
        }
    }

    #[inline]
    pub(crate) fn next(&self, id: u32, byte: u8) -> u32 {
        let class = self.classes[byte as usize] as usize;
        let (segment, offset) = locate(id);
        if let Some(segment) = self.segments.get(segment).and_then(OnceLock::get) {
            let known = segment.next[offset * self.representatives.len() + class].load(Ordering::Acquire);
            if known != UNKNOWN {
                return known;
            }
        }
        self.compute(id, class)
    }

    #[cold]
    fn compute(&self, id: u32, class: usize) -> u32 {
        let Ok(mut interner) = self.interner.lock() else { return OVERFLOW };
        let (segment_number, offset) = locate(id);
        let Some(segment) = self.segments.get(segment_number).and_then(OnceLock::get) else { return DEAD };
        let cell = &segment.next[offset * self.representatives.len() + class];
        let known = cell.load(Ordering::Acquire);
        if known != UNKNOWN {
            return known;
        }
        let byte = self.representatives[class];
        let mut targets = Vec::new();
        for &member in interner.members(id) {
            let next = match self.nfa.state(member) {
                State::Range(transition) => transition.matches(byte).then_some(transition.next),
                State::Sparse { first, len } => {
                    self.nfa.transitions(first, len).iter().find(|t| t.matches(byte)).map(|t| t.next)
                }
                _ => None,
            };
            if let Some(next) = next {
                targets.push(next);
            }
        }
        let members = closure(&self.nfa, &mut interner, &targets, false);
        let target = if members.is_empty() {
            DEAD
        } else if let Some(existing) = interner.find(&members) {
            existing
        } else {
            let new_state = self.make_state(&mut interner, &members, false);
            if bitset::is_empty(new_state.reach()) {
                DEAD
            } else if interner.count >= self.capacity {
                // Out of room: report it and do not cache, so a later call
                // reports it again.
                return OVERFLOW;
            } else {
                let new_id = interner.add(&members);
                self.install(new_id, new_state);
                new_id
            }
        };
        cell.store(target, Ordering::Release);
        target
    }

    /// The state with only those NFA states of `id` that can still match
    /// a terminal of `keep` (a bitset over terminals): from it, every
    /// string reaches the same terminals of `keep` as from `id`, and no
    /// other. `id` itself when nothing is dropped (and for DEAD, START,
    /// or when the lexer is out of room).
    #[cold]
    pub(crate) fn restrict(&self, id: u32, keep: &[u64]) -> u32 {
        if id == DEAD || id == super::START {
            return id;
        }
        let Ok(mut interner) = self.interner.lock() else { return id };
        let members = interner.members(id);
        let kept: Vec<u32> = members
            .iter()
            .copied()
            .filter(|&member| match self.nfa.state(member) {
                State::Match(pattern) => bitset::contains(keep, pattern as usize),
                State::Anchor { next, .. } => bitset::intersects(self.nfa_at_end.row(next as usize), keep),
                _ => bitset::intersects(self.nfa_reach.row(member as usize), keep),
            })
            .collect();
        if kept.len() == members.len() {
            return id;
        }
        if kept.is_empty() {
            return DEAD;
        }
        if let Some(existing) = interner.find(&kept) {
            return existing;
        }
        if interner.count >= self.capacity {
            return id;
        }
        let state = self.make_state(&mut interner, &kept, false);
        let new_id = interner.add(&kept);
        self.install(new_id, state);
        new_id
    }

    #[inline]
    pub(crate) fn is_accepting(&self, id: u32) -> bool {
        self.state(id).accepting
    }

    #[inline]
    pub(crate) fn accepts(&self, id: u32) -> &[u64] {
        self.state(id).accepts()
    }

    #[inline]
    pub(crate) fn reach(&self, id: u32) -> &[u64] {
        self.state(id).reach()
    }

    pub(crate) fn terminal_count(&self) -> usize {
        self.terminal_count
    }

    /// A shortest lexeme of each terminal, found in the NFA so that no
    /// state is built (see [`Nfa::shortest_matches`]).
    pub(crate) fn examples(&self) -> Vec<Option<Vec<u8>>> {
        self.nfa.shortest_matches()
    }

    /// The most states this lexer may build.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// States built so far.
    pub(crate) fn state_count(&self) -> usize {
        self.interner.lock().map_or(self.capacity, |interner| interner.count)
    }

    pub(crate) fn memory_usage(&self) -> usize {
        let stride = self.representatives.len();
        let per_state = std::mem::size_of::<OnceLock<LazyState>>() + stride * 4;
        let allocated: usize = (0..self.segments.len())
            .filter(|&number| self.segments[number].get().is_some())
            .map(|number| self.segment_size(number))
            .sum();
        let words = bitset::words_for(self.terminal_count);
        let interner = self.interner.lock().map_or(0, |interner| {
            interner.members.capacity() * 4
                + interner.starts.capacity() * 8
                + interner.index.capacity() * 5
                + interner.sets.len() * (2 * words * 8 + 16 + 24)
                + interner.seen.len() * 4
        });
        allocated * per_state
            + interner
            + self.nfa.memory_usage()
            + (self.nfa_reach.rows() + self.nfa_at_end.rows()) * self.nfa_reach.words() * 8
    }
}

fn unreachable_dead() -> &'static LazyState {
    static EMPTY: OnceLock<LazyState> = OnceLock::new();
    EMPTY.get_or_init(|| LazyState { sets: Arc::new([]), accepting: false })
}

fn or_into(target: &mut [u64], source: &[u64]) {
    for (word, value) in target.iter_mut().zip(source) {
        *word |= value;
    }
}

/// The ε-closure of `seeds`: follows unions and empties, passes `^` only
/// at the start of text, keeps `$` pending.
fn closure(nfa: &Nfa, scratch: &mut Interner, seeds: &[u32], at_start: bool) -> Box<[u32]> {
    scratch.stamp = scratch.stamp.wrapping_add(1);
    if scratch.stamp == 0 {
        scratch.seen.fill(0);
        scratch.stamp = 1;
    }
    let stamp = scratch.stamp;
    let mut stack: Vec<u32> = seeds.to_vec();
    let mut members = Vec::new();
    while let Some(id) = stack.pop() {
        let seen = &mut scratch.seen[id as usize];
        if *seen == stamp {
            continue;
        }
        *seen = stamp;
        match nfa.state(id) {
            State::Range(_) | State::Sparse { .. } | State::Match(_) | State::Anchor { at_end: true, .. } => {
                members.push(id)
            }
            State::Anchor { at_end: false, next } => {
                if at_start {
                    stack.push(next);
                }
            }
            State::Union { first, len } => stack.extend(nfa.alternates(first, len).iter().rev()),
            State::Split(first, second) => stack.extend([second, first]),
            State::Empty(next) => stack.push(next),
        }
    }
    members.sort_unstable();
    members.into_boxed_slice()
}

/// Per NFA state, the patterns reachable by some path (`reach`) and by
/// ε-paths at end of text (`at_end`). `^` is never passable after the
/// first byte; `$` only at the end.
///
/// A pattern whose states all reach its match (most: see
/// [`Nfa::live_blocks`]) gets its rows directly: `reach` is the pattern
/// alone, and `at_end` is read only at a `$`, which such a pattern lacks.
/// The other states get least fixpoints by worklists over the reversed
/// edges (a large bounded repetition has tens of thousands of NFA states,
/// and sweeping them until nothing changes took longer than the rest of
/// compiling).
fn reach_sets(nfa: &Nfa, patterns: usize) -> (BitMatrix, BitMatrix) {
    let count = nfa.len();
    let mut reach = BitMatrix::new(count, patterns);
    let mut at_end = BitMatrix::new(count, patterns);
    let mut settled = vec![false; count];
    for (pattern, block) in nfa.live_blocks() {
        for id in block {
            reach.insert(id as usize, pattern);
            settled[id as usize] = true;
        }
    }
    // Edges as (successor, predecessor), then grouped by successor.
    let mut epsilon_edges: Vec<(u32, u32)> = Vec::new();
    let mut all_edges: Vec<(u32, u32)> = Vec::new();
    for (id, state) in nfa.states().filter(|&(id, _)| !settled[id as usize]) {
        let edge = |successor: u32| (successor, id);
        match state {
            State::Match(pattern) => at_end.insert(id as usize, pattern as usize),
            State::Union { first, len } => {
                let alternates = nfa.alternates(first, len);
                epsilon_edges.extend(alternates.iter().map(|&a| edge(a)));
                all_edges.extend(alternates.iter().map(|&a| edge(a)));
            }
            State::Split(first, second) => {
                epsilon_edges.extend([edge(first), edge(second)]);
                all_edges.extend([edge(first), edge(second)]);
            }
            State::Empty(next) => {
                epsilon_edges.push(edge(next));
                all_edges.push(edge(next));
            }
            // Passable at the end only; a `$` is followed by nothing but
            // the end, so its reach is its end-of-text reach.
            State::Anchor { at_end: true, next } => epsilon_edges.push(edge(next)),
            State::Range(transition) => all_edges.push(edge(transition.next)),
            State::Sparse { first, len } => all_edges.extend(nfa.transitions(first, len).iter().map(|t| edge(t.next))),
            State::Anchor { at_end: false, .. } => {}
        }
    }
    propagate(&mut at_end, &Predecessors::new(count, epsilon_edges));
    // What an ε-path reaches at the end, some path reaches.
    for id in (0..count).filter(|&id| !settled[id]) {
        reach.row_mut(id).copy_from_slice(at_end.row(id));
    }
    propagate(&mut reach, &Predecessors::new(count, all_edges));
    (reach, at_end)
}

/// Predecessor lists in one array (a large NFA has tens of thousands of
/// states; a vector each was most of the cost).
struct Predecessors {
    /// `of[start[s]..start[s + 1]]` are the predecessors of `s`.
    start: Vec<u32>,
    of: Vec<u32>,
}

impl Predecessors {
    /// Groups `(successor, predecessor)` edges by successor (a counting
    /// sort).
    fn new(count: usize, edges: Vec<(u32, u32)>) -> Predecessors {
        let mut start = vec![0u32; count + 1];
        for &(successor, _) in &edges {
            start[successor as usize + 1] += 1;
        }
        for index in 0..count {
            start[index + 1] += start[index];
        }
        let mut fill = start.clone();
        let mut of = vec![0u32; edges.len()];
        for (successor, predecessor) in edges {
            let slot = &mut fill[successor as usize];
            of[*slot as usize] = predecessor;
            *slot += 1;
        }
        Predecessors { start, of }
    }

    fn of(&self, state: usize) -> &[u32] {
        &self.of[self.start[state] as usize..self.start[state + 1] as usize]
    }
}

/// Unions every row into its predecessors' rows until nothing changes.
fn propagate(sets: &mut BitMatrix, predecessors: &Predecessors) {
    let mut queued = vec![false; sets.rows()];
    let mut work: Vec<usize> =
        (0..sets.rows()).filter(|&id| !predecessors.of(id).is_empty() && !bitset::is_empty(sets.row(id))).collect();
    work.iter().for_each(|&id| queued[id] = true);
    while let Some(id) = work.pop() {
        queued[id] = false;
        for &predecessor in predecessors.of(id) {
            let predecessor = predecessor as usize;
            if sets.union_rows(predecessor, id) && !queued[predecessor] {
                queued[predecessor] = true;
                work.push(predecessor);
            }
        }
    }
}
