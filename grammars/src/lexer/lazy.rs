//! The lazy lexer: a DFA whose states are built on first use.
//!
//! Some constraints determinize into astronomically many states — the
//! classic case is a bounded repetition before and after a keyword, like
//! `[A-Z][a-z ,']{0,60}amazing[a-z ,']{0,60}\.` (every occurrence of the
//! keyword opens another counter). Only the states an input actually
//! visits are ever needed, so this lexer runs the subset construction on
//! demand over regex-automata's Thompson NFA.
//!
//! State ids must stay valid for as long as any matcher holds them, so
//! states are never evicted: they live in a fixed-capacity array of
//! once-cells (lock-free to read), and past the capacity `next` reports
//! [`OVERFLOW`]. Transitions are atomics filled in under a mutex.
//!
//! Only the anchors `^`/`\A` and `$`/`\z` are supported here (the dense
//! lexer supports every assertion regex-automata does); that covers regex
//! constraints, since lexer terminals never contain assertions.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use hashbrown::HashMap;
use regex_automata::nfa::thompson::{NFA, State};
use regex_automata::util::look::Look;
use regex_automata::util::primitives::StateID;

use super::{DEAD, OVERFLOW};
use crate::bitset::{self, BitMatrix};

/// Transition not computed yet.
const UNKNOWN: u32 = u32::MAX;

struct LazyState {
    /// NFA states after the ε-closure: byte-consuming states, `Match`
    /// states, and pending end-of-text assertions. Sorted.
    members: Box<[StateID]>,
    accepts: Box<[u64]>,
    reach: Box<[u64]>,
    accepting: bool,
    next: Box<[AtomicU32]>,
}

struct Interner {
    index: HashMap<Box<[StateID]>, u32>,
    count: usize,
}

pub(crate) struct LazyLexer {
    nfa: NFA,
    classes: [u8; 256],
    representatives: Vec<u8>,
    terminal_count: usize,
    /// Per NFA state: the patterns some path from it can match.
    nfa_reach: BitMatrix,
    /// Per NFA state: the patterns matched at end of text by ε-paths.
    nfa_at_end: BitMatrix,
    states: Box<[OnceLock<LazyState>]>,
    interner: Mutex<Interner>,
}

impl std::fmt::Debug for LazyLexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyLexer")
            .field("nfa_states", &self.nfa.states().len())
            .field("dfa_states", &self.state_count())
            .field("capacity", &self.states.len())
            .finish()
    }
}

impl LazyLexer {
    /// Prepares a lazy lexer over `nfa` with room for `capacity` states.
    /// Fails (with a reason) if the NFA uses assertions this lexer cannot
    /// evaluate.
    pub(crate) fn new(nfa: NFA, capacity: usize) -> Result<LazyLexer, String> {
        let looks = nfa.look_set_any();
        if looks.iter().any(|look| !matches!(look, Look::Start | Look::End)) {
            return Err(
                "only the anchors `^`/`\\A` and `$`/`\\z` are supported in constraints too large for a dense DFA"
                    .into(),
            );
        }
        let terminal_count = nfa.pattern_len();
        let byte_classes = nfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut representatives = Vec::new();
        for byte in 0..=255u8 {
            let class = byte_classes.get(byte);
            classes[byte as usize] = class;
            if class as usize == representatives.len() {
                representatives.push(byte);
            }
        }
        let (nfa_reach, nfa_at_end) = reach_sets(&nfa, terminal_count);
        let capacity = capacity.max(2);
        let states: Box<[OnceLock<LazyState>]> = (0..capacity).map(|_| OnceLock::new()).collect();
        let lexer = LazyLexer {
            nfa,
            classes,
            representatives,
            terminal_count,
            nfa_reach,
            nfa_at_end,
            states,
            interner: Mutex::new(Interner { index: HashMap::new(), count: 2 }),
        };
        let dead = lexer.make_state(Box::new([]), false);
        let _ = lexer.states[DEAD as usize].set(dead);
        let start_members = lexer.closure(&[lexer.nfa.start_anchored()], true);
        let start = lexer.make_state(start_members, true);
        let _ = lexer.states[super::START as usize].set(start);
        Ok(lexer)
    }

    fn make_state(&self, members: Box<[StateID]>, is_start: bool) -> LazyState {
        let words = bitset::words_for(self.terminal_count);
        let mut accepts = vec![0u64; words];
        let mut reach = vec![0u64; words];
        for &member in members.iter() {
            match self.nfa.state(member) {
                State::Match { pattern_id } => {
                    // At START the match would be empty: lexemes are not.
                    if !is_start {
                        let p = pattern_id.as_usize();
                        accepts[p / 64] |= 1 << (p % 64);
                        reach[p / 64] |= 1 << (p % 64);
                    }
                }
                State::Look { next, .. } => {
                    if !is_start {
                        or_into(&mut accepts, self.nfa_at_end.row(next.as_usize()));
                        or_into(&mut reach, self.nfa_at_end.row(next.as_usize()));
                    }
                }
                _ => or_into(&mut reach, self.nfa_reach.row(member.as_usize())),
            }
        }
        let accepting = !bitset::is_empty(&accepts);
        let next = (0..self.representatives.len()).map(|_| AtomicU32::new(UNKNOWN)).collect();
        LazyState { members, accepts: accepts.into(), reach: reach.into(), accepting, next }
    }

    /// The ε-closure of `seeds`: follows unions and captures, passes `^`
    /// only at the start of text, keeps `$` pending.
    fn closure(&self, seeds: &[StateID], at_start: bool) -> Box<[StateID]> {
        let mut seen = hashbrown::HashSet::new();
        let mut stack: Vec<StateID> = seeds.to_vec();
        let mut members = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            match self.nfa.state(id) {
                State::ByteRange { .. } | State::Sparse(_) | State::Dense(_) | State::Match { .. } => members.push(id),
                State::Look { look: Look::End, .. } => members.push(id),
                State::Look { look, next } => {
                    if at_start && *look == Look::Start {
                        stack.push(*next);
                    }
                }
                State::Union { alternates } => stack.extend(alternates.iter().rev().copied()),
                State::BinaryUnion { alt1, alt2 } => {
                    stack.push(*alt2);
                    stack.push(*alt1);
                }
                State::Capture { next, .. } => stack.push(*next),
                State::Fail => {}
            }
        }
        members.sort_unstable();
        members.into_boxed_slice()
    }

    #[inline]
    fn state(&self, id: u32) -> &LazyState {
        // Ids handed out always refer to initialized cells; DEAD is the
        // fallback for a (never expected) empty cell.
        match self.states.get(id as usize).and_then(OnceLock::get) {
            Some(state) => state,
            None => self.states[DEAD as usize].get().unwrap_or_else(|| unreachable_dead()),
        }
    }

    #[inline]
    pub(crate) fn next(&self, id: u32, byte: u8) -> u32 {
        let class = self.classes[byte as usize] as usize;
        let known = self.state(id).next[class].load(Ordering::Acquire);
        if known != UNKNOWN {
            return known;
        }
        self.compute(id, class)
    }

    #[cold]
    fn compute(&self, id: u32, class: usize) -> u32 {
        let Ok(mut interner) = self.interner.lock() else { return OVERFLOW };
        let state = self.state(id);
        let known = state.next[class].load(Ordering::Acquire);
        if known != UNKNOWN {
            return known;
        }
        let byte = self.representatives[class];
        let mut targets = Vec::new();
        for &member in state.members.iter() {
            let next = match self.nfa.state(member) {
                State::ByteRange { trans } => trans.matches_byte(byte).then_some(trans.next),
                State::Sparse(sparse) => sparse.matches_byte(byte),
                State::Dense(dense) => dense.matches_byte(byte),
                _ => None,
            };
            if let Some(next) = next {
                targets.push(next);
            }
        }
        let members = self.closure(&targets, false);
        let target = if members.is_empty() {
            DEAD
        } else if let Some(&existing) = interner.index.get(&members) {
            existing
        } else {
            let new_state = self.make_state(members.clone(), false);
            if bitset::is_empty(&new_state.reach) {
                DEAD
            } else if interner.count >= self.states.len() {
                // Out of room: report it and do not cache, so a later call
                // reports it again.
                return OVERFLOW;
            } else {
                let new_id = interner.count as u32;
                let _ = self.states[interner.count].set(new_state);
                interner.count += 1;
                interner.index.insert(members, new_id);
                new_id
            }
        };
        state.next[class].store(target, Ordering::Release);
        target
    }

    #[inline]
    pub(crate) fn is_accepting(&self, id: u32) -> bool {
        self.state(id).accepting
    }

    #[inline]
    pub(crate) fn accepts(&self, id: u32) -> &[u64] {
        &self.state(id).accepts
    }

    #[inline]
    pub(crate) fn reach(&self, id: u32) -> &[u64] {
        &self.state(id).reach
    }

    pub(crate) fn terminal_count(&self) -> usize {
        self.terminal_count
    }

    /// States built so far.
    pub(crate) fn state_count(&self) -> usize {
        self.interner.lock().map_or(self.states.len(), |interner| interner.count)
    }

    pub(crate) fn memory_usage(&self) -> usize {
        let per_state = std::mem::size_of::<OnceLock<LazyState>>();
        let built = self.state_count();
        self.states.len() * per_state + built * (self.representatives.len() * 4 + 64) + self.nfa.memory_usage()
    }
}

fn unreachable_dead() -> &'static LazyState {
    static EMPTY: OnceLock<LazyState> = OnceLock::new();
    EMPTY.get_or_init(|| LazyState {
        members: Box::new([]),
        accepts: Box::new([]),
        reach: Box::new([]),
        accepting: false,
        next: Box::new([]),
    })
}

fn or_into(target: &mut [u64], source: &[u64]) {
    for (word, value) in target.iter_mut().zip(source) {
        *word |= value;
    }
}

/// Per NFA state, the patterns reachable by some path (`reach`) and by
/// ε-paths at end of text (`at_end`), as least fixpoints. `^` is never
/// passable after the first byte; `$` only at the end.
fn reach_sets(nfa: &NFA, patterns: usize) -> (BitMatrix, BitMatrix) {
    let count = nfa.states().len();
    let mut at_end = BitMatrix::new(count, patterns);
    let mut reach = BitMatrix::new(count, patterns);
    loop {
        let mut changed = false;
        for id in 0..count {
            let successors: Vec<usize> = match &nfa.states()[id] {
                State::Match { pattern_id } => {
                    let p = pattern_id.as_usize();
                    if !bitset::contains(at_end.row(id), p) {
                        at_end.insert(id, p);
                        changed = true;
                    }
                    Vec::new()
                }
                State::Union { alternates } => alternates.iter().map(|s| s.as_usize()).collect(),
                State::BinaryUnion { alt1, alt2 } => vec![alt1.as_usize(), alt2.as_usize()],
                State::Capture { next, .. } => vec![next.as_usize()],
                State::Look { look: Look::End, next } => vec![next.as_usize()],
                _ => Vec::new(),
            };
            for successor in successors {
                changed |= at_end.union_rows(id, successor);
            }
        }
        if !changed {
            break;
        }
    }
    loop {
        let mut changed = false;
        for id in 0..count {
            changed |= reach.union_rows_from(id, &at_end, id);
            let successors: Vec<usize> = match &nfa.states()[id] {
                State::ByteRange { trans } => vec![trans.next.as_usize()],
                State::Sparse(sparse) => sparse.transitions.iter().map(|t| t.next.as_usize()).collect(),
                State::Dense(dense) => {
                    dense.transitions.iter().filter(|s| **s != StateID::ZERO).map(|s| s.as_usize()).collect()
                }
                State::Union { alternates } => alternates.iter().map(|s| s.as_usize()).collect(),
                State::BinaryUnion { alt1, alt2 } => vec![alt1.as_usize(), alt2.as_usize()],
                State::Capture { next, .. } => vec![next.as_usize()],
                // A `$` is followed by nothing but the end: its reach is its
                // end-of-text reach, already merged above.
                State::Look { .. } | State::Match { .. } | State::Fail => Vec::new(),
            };
            for successor in successors {
                changed |= reach.union_rows(id, successor);
            }
        }
        if !changed {
            break;
        }
    }
    (reach, at_end)
}
