//! The eager lexer: regex-automata's dense DFA, copied into a compact table.
//!
//! `regex-automata` determinizes the terminals (a multi-pattern, anchored
//! DFA that reports every pattern matching); Trellis copies the result into
//! its own table, because the matcher asks questions the DFA does not
//! answer directly: which terminals end here (read from regex-automata's
//! end-of-input transition, which accounts for its one-byte match delay and
//! for `$`), and which terminals a continuation can still complete (a
//! fixpoint over the reversed graph). States that can complete nothing are
//! merged into the dead state.

use hashbrown::HashMap;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson::NFA;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

use super::DEAD;
use crate::bitset::{self, BitMatrix};

/// A fully built lexer DFA with per-state terminal sets.
#[derive(Clone, Debug)]
pub(crate) struct DenseLexer {
    /// Byte → equivalence class.
    pub(super) classes: [u8; 256],
    /// Number of classes: the row stride of `transitions`.
    stride: usize,
    /// `transitions[state * stride + class]` is the next state.
    transitions: Vec<u32>,
    /// Terminals matched by the lexeme that ends in each state.
    accepts: BitMatrix,
    /// Terminals some continuation from each state can still match.
    reach: BitMatrix,
    /// Whether `accepts` is non-empty, per state (the matcher's fast path).
    accepting: Vec<bool>,
    terminal_count: usize,
}

impl DenseLexer {
    /// Determinizes `nfa`; `Err` carries regex-automata's message (the
    /// caller decides whether a size limit means "try the lazy lexer").
    pub(crate) fn build(nfa: &NFA, dfa_size_limit: usize, determinize_size_limit: usize) -> Result<DenseLexer, String> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .byte_classes(true)
                    .minimize(false)
                    .dfa_size_limit(Some(dfa_size_limit))
                    .determinize_size_limit(Some(determinize_size_limit)),
            )
            .build_from_nfa(nfa)
            .map_err(|error| error.to_string())?;
        let start =
            dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).map_err(|error| error.to_string())?;
        Ok(DenseLexer::extract(&dfa, start, nfa.pattern_len()))
    }

    pub(crate) fn without_terminals() -> DenseLexer {
        DenseLexer {
            classes: [0; 256],
            stride: 1,
            transitions: vec![DEAD; 2],
            accepts: BitMatrix::new(2, 0),
            reach: BitMatrix::new(2, 0),
            accepting: vec![false; 2],
            terminal_count: 0,
        }
    }

    /// Copies the reachable part of regex-automata's DFA into our table,
    /// computes accept and reach sets, and drops states that can finish
    /// nothing.
    fn extract(dfa: &dense::DFA<Vec<u32>>, start: StateID, terminal_count: usize) -> DenseLexer {
        let byte_classes = dfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut representative = Vec::new();
        for byte in 0..=255u8 {
            let class = byte_classes.get(byte);
            classes[byte as usize] = class;
            if class as usize == representative.len() {
                representative.push(byte);
            }
        }
        let stride = representative.len();

        // Breadth-first over regex-automata states. Our index 0 is dead,
        // 1 is START (filled below), the rest in discovery order.
        let mut ids: HashMap<StateID, u32> = HashMap::new();
        let mut order: Vec<StateID> = Vec::new();
        let mut raw_rows: Vec<Vec<u32>> = Vec::new();
        let mut intern = |id: StateID, order: &mut Vec<StateID>| -> u32 {
            if dfa.is_dead_state(id) {
                return DEAD;
            }
            *ids.entry(id).or_insert_with(|| {
                order.push(id);
                (order.len() + 1) as u32
            })
        };
        let first = intern(start, &mut order);
        let mut next = 0;
        while next < order.len() {
            let id = order[next];
            next += 1;
            let row: Vec<u32> =
                representative.iter().map(|&byte| intern(dfa.next_state(id, byte), &mut order)).collect();
            raw_rows.push(row);
        }
        let state_count = order.len() + 2;
        let mut transitions = vec![DEAD; state_count * stride];
        for (index, row) in raw_rows.iter().enumerate() {
            let state = index + 2;
            transitions[state * stride..(state + 1) * stride].copy_from_slice(row);
        }
        // START copies the start state's row but never accepts.
        let start_row = (first as usize) * stride;
        let copied: Vec<u32> = transitions[start_row..start_row + stride].to_vec();
        transitions[stride..2 * stride].copy_from_slice(&copied);

        let mut accepts = BitMatrix::new(state_count, terminal_count);
        for (index, &id) in order.iter().enumerate() {
            let eoi = dfa.next_eoi_state(id);
            if dfa.is_match_state(eoi) {
                for match_index in 0..dfa.match_len(eoi) {
                    accepts.insert(index + 2, dfa.match_pattern(eoi, match_index).as_usize());
                }
            }
        }

        // reach = accepts ∪ reach of successors, to a fixpoint over the
        // reverse graph.
        let mut reach = accepts.clone();
        let mut predecessors: Vec<Vec<u32>> = vec![Vec::new(); state_count];
        for state in 1..state_count {
            for class in 0..stride {
                let target = transitions[state * stride + class] as usize;
                if target != 0 && !predecessors[target].contains(&(state as u32)) {
                    predecessors[target].push(state as u32);
                }
            }
        }
        let mut work: Vec<usize> = (2..state_count).filter(|&s| !bitset::is_empty(reach.row(s))).collect();
        while let Some(state) = work.pop() {
            for &predecessor in &predecessors[state] {
                if reach.union_rows(predecessor as usize, state) {
                    work.push(predecessor as usize);
                }
            }
        }

        let mut lexer =
            DenseLexer { classes, stride, transitions, accepts, reach, accepting: Vec::new(), terminal_count };
        lexer.drop_hopeless_states();
        lexer
    }

    /// Redirects transitions into states that can finish no terminal to the
    /// dead state and removes every state no longer reachable from START.
    fn drop_hopeless_states(&mut self) {
        let state_count = self.state_count();
        let hopeless: Vec<bool> =
            (0..state_count).map(|s| s == DEAD as usize || bitset::is_empty(self.reach.row(s))).collect();
        for target in self.transitions.iter_mut() {
            if hopeless[*target as usize] {
                *target = DEAD;
            }
        }
        // Renumber what START reaches, keeping 0 and 1 in place.
        let mut new_id = vec![u32::MAX; state_count];
        new_id[0] = 0;
        new_id[1] = 1;
        let mut order = vec![1usize];
        let mut next = 0;
        while next < order.len() {
            let state = order[next];
            next += 1;
            for class in 0..self.stride {
                let target = self.transitions[state * self.stride + class] as usize;
                if new_id[target] == u32::MAX {
                    new_id[target] = (order.len() + 1) as u32;
                    order.push(target);
                }
            }
        }
        let kept = order.len() + 1;
        let mut transitions = vec![DEAD; kept * self.stride];
        let mut accepts = BitMatrix::new(kept, self.terminal_count);
        let mut reach = BitMatrix::new(kept, self.terminal_count);
        for &old in &order {
            let new = new_id[old] as usize;
            for class in 0..self.stride {
                let target = self.transitions[old * self.stride + class] as usize;
                transitions[new * self.stride + class] = new_id[target];
            }
            accepts.row_mut(new).copy_from_slice(self.accepts.row(old));
            reach.row_mut(new).copy_from_slice(self.reach.row(old));
        }
        // START never accepts, and reaches what its successors reach.
        accepts.row_mut(1).fill(0);
        reach.row_mut(1).fill(0);
        for class in 0..self.stride {
            let target = transitions[self.stride + class] as usize;
            if target != 0 {
                reach.union_rows(1, target);
            }
        }
        self.accepting = (0..kept).map(|state| !bitset::is_empty(accepts.row(state))).collect();
        self.transitions = transitions;
        self.accepts = accepts;
        self.reach = reach;
    }

    /// The state after reading `byte` in `state`.
    #[inline(always)]
    pub(crate) fn next(&self, state: u32, byte: u8) -> u32 {
        self.transitions[state as usize * self.stride + self.classes[byte as usize] as usize]
    }

    /// Whether a lexeme ending in `state` matches some terminal.
    #[inline(always)]
    pub(crate) fn is_accepting(&self, state: u32) -> bool {
        self.accepting[state as usize]
    }

    pub(crate) fn state_count(&self) -> usize {
        self.transitions.len() / self.stride
    }

    pub(crate) fn terminal_count(&self) -> usize {
        self.terminal_count
    }

    /// Terminals whose match ends exactly in `state`.
    #[inline(always)]
    pub(crate) fn accepts(&self, state: u32) -> &[u64] {
        self.accepts.row(state as usize)
    }

    /// Terminals some continuation from `state` can still match.
    #[inline(always)]
    pub(crate) fn reach(&self, state: u32) -> &[u64] {
        self.reach.row(state as usize)
    }

    /// Approximate heap size in bytes.
    pub(crate) fn memory_usage(&self) -> usize {
        self.transitions.len() * 4 + (self.accepts.rows() + self.reach.rows()) * self.accepts.words() * 8
    }
}
