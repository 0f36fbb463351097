//! The lexer: every terminal of a grammar compiled into one DFA.
//!
//! `regex-automata` determinizes the terminals (a multi-pattern, anchored
//! DFA that reports every pattern matching); Trellis then copies the result
//! into its own compact table, because the matcher asks questions the DFA
//! does not answer directly, per state and in O(1):
//!
//! * `accepts(q)`: the terminals whose match ends exactly here (read from
//!   regex-automata's end-of-input transition, which accounts for its
//!   one-byte match delay and for `$`);
//! * `reach(q)`: the terminals that some continuation can still complete.
//!   A state that can complete nothing is merged into the dead state, so
//!   "not dead" always means "can still finish a lexeme".
//!
//! State 0 is dead. State 1 is [`LexerDfa::START`], the "no partial lexeme"
//! state: a copy of the DFA's start state that never accepts (lexemes are
//! never empty) and that no transition enters, so `q == START` exactly when
//! the matcher stands at a lexeme boundary.

use hashbrown::HashMap;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use crate::bitset::{self, BitMatrix};
use crate::error::{ErrorKind, GrammarError};

/// Size limits for compiling terminals (see regex-automata's limits of the
/// same names). Past them, compiling fails with [`ErrorKind::TooLarge`].
#[derive(Clone, Copy, Debug)]
pub struct LexerLimits {
    /// Heap bytes for the Thompson NFA of all terminals.
    pub nfa_size_limit: usize,
    /// Heap bytes for the determinized DFA.
    pub dfa_size_limit: usize,
    /// Heap bytes used while determinizing.
    pub determinize_size_limit: usize,
}

impl Default for LexerLimits {
    fn default() -> LexerLimits {
        LexerLimits {
            nfa_size_limit: 64 << 20,
            dfa_size_limit: 256 << 20,
            determinize_size_limit: 256 << 20,
        }
    }
}

/// A lexer DFA over bytes with per-state terminal sets.
#[derive(Clone, Debug)]
pub struct LexerDfa {
    /// Byte → equivalence class.
    classes: [u8; 256],
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

impl LexerDfa {
    /// The dead state: no terminal can match any continuation.
    pub const DEAD: u32 = 0;
    /// The lexeme-boundary state (see the module docs).
    pub const START: u32 = 1;

    /// Compiles the terminals (pattern `i` is terminal `i`).
    pub fn build(terminals: &[Hir], limits: &LexerLimits) -> Result<LexerDfa, GrammarError> {
        if terminals.is_empty() {
            return Ok(LexerDfa::without_terminals());
        }
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(limits.nfa_size_limit)))
            .build_many_from_hir(terminals)
            .map_err(|error| nfa_error(&error.to_string()))?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .byte_classes(true)
                    .minimize(false)
                    .dfa_size_limit(Some(limits.dfa_size_limit))
                    .determinize_size_limit(Some(limits.determinize_size_limit)),
            )
            .build_from_nfa(&nfa)
            .map_err(|error| dfa_error(&error.to_string()))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|error| dfa_error(&error.to_string()))?;
        Ok(LexerDfa::extract(&dfa, start, terminals.len()))
    }

    fn without_terminals() -> LexerDfa {
        LexerDfa {
            classes: [0; 256],
            stride: 1,
            transitions: vec![LexerDfa::DEAD; 2],
            accepts: BitMatrix::new(2, 0),
            reach: BitMatrix::new(2, 0),
            accepting: vec![false; 2],
            terminal_count: 0,
        }
    }

    /// Copies the reachable part of regex-automata's DFA into our table,
    /// computes accept and reach sets, and drops states that can finish
    /// nothing.
    fn extract(dfa: &dense::DFA<Vec<u32>>, start: StateID, terminal_count: usize) -> LexerDfa {
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
                return LexerDfa::DEAD;
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
        let mut transitions = vec![LexerDfa::DEAD; state_count * stride];
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
            LexerDfa { classes, stride, transitions, accepts, reach, accepting: Vec::new(), terminal_count };
        lexer.drop_hopeless_states();
        lexer
    }

    /// Redirects transitions into states that can finish no terminal to the
    /// dead state and removes every state no longer reachable from START.
    fn drop_hopeless_states(&mut self) {
        let state_count = self.state_count();
        let hopeless: Vec<bool> = (0..state_count)
            .map(|s| s == LexerDfa::DEAD as usize || bitset::is_empty(self.reach.row(s)))
            .collect();
        for target in self.transitions.iter_mut() {
            if hopeless[*target as usize] {
                *target = LexerDfa::DEAD;
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
        let mut transitions = vec![LexerDfa::DEAD; kept * self.stride];
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
    #[inline]
    pub fn next(&self, state: u32, byte: u8) -> u32 {
        self.transitions[state as usize * self.stride + self.classes[byte as usize] as usize]
    }

    /// Whether a lexeme ending in `state` matches some terminal.
    #[inline]
    pub fn is_accepting(&self, state: u32) -> bool {
        self.accepting[state as usize]
    }

    pub fn state_count(&self) -> usize {
        self.transitions.len() / self.stride
    }

    pub fn terminal_count(&self) -> usize {
        self.terminal_count
    }

    /// Width in words of the terminal sets returned by [`Self::accepts`]
    /// and [`Self::reach`].
    pub fn set_words(&self) -> usize {
        self.accepts.words()
    }

    /// Terminals whose match ends exactly in `state`.
    #[inline]
    pub fn accepts(&self, state: u32) -> &[u64] {
        self.accepts.row(state as usize)
    }

    /// Terminals some continuation from `state` can still match.
    #[inline]
    pub fn reach(&self, state: u32) -> &[u64] {
        self.reach.row(state as usize)
    }

    /// Approximate heap size in bytes.
    pub fn memory_usage(&self) -> usize {
        self.transitions.len() * 4 + (self.accepts.rows() + self.reach.rows()) * self.accepts.words() * 8
    }

    /// A shortest non-empty string matching `terminal`, for examples in
    /// conflict reports. Bytes are chosen as each class's smallest member.
    pub fn example(&self, terminal: usize) -> Option<Vec<u8>> {
        let mut previous: Vec<Option<(u32, u8)>> = vec![None; self.state_count()];
        let mut seen = vec![false; self.state_count()];
        let mut queue = std::collections::VecDeque::new();
        seen[LexerDfa::START as usize] = true;
        queue.push_back(LexerDfa::START);
        while let Some(state) = queue.pop_front() {
            if bitset::contains(self.accepts(state), terminal) {
                let mut bytes = Vec::new();
                let mut at = state;
                while let Some((from, byte)) = previous[at as usize] {
                    bytes.push(byte);
                    at = from;
                }
                bytes.reverse();
                return Some(bytes);
            }
            // Prefer readable bytes: printable ASCII first, then the rest.
            let order = (0x20u8..0x7f).chain(0x7f..=0xff).chain(0..0x20);
            for byte in order {
                let target = self.next(state, byte);
                if target != LexerDfa::DEAD
                    && bitset::contains(self.reach(target), terminal)
                    && !seen[target as usize]
                {
                    seen[target as usize] = true;
                    previous[target as usize] = Some((state, byte));
                    queue.push_back(target);
                }
            }
        }
        None
    }
}

fn nfa_error(message: &str) -> GrammarError {
    if message.contains("exceeds") || message.contains("limit") {
        GrammarError::new(ErrorKind::TooLarge, format!("the terminals are too large to compile: {message}"))
            .with_help("reduce large bounded repetitions such as `x{1000}` or very large character classes")
    } else {
        GrammarError::new(ErrorKind::Regex, format!("a terminal cannot be compiled: {message}"))
    }
}

fn dfa_error(message: &str) -> GrammarError {
    if message.contains("Unicode word boundary") || message.contains("unicode word boundary") {
        GrammarError::new(ErrorKind::Regex, format!("a terminal cannot be compiled to a DFA: {message}"))
            .with_help("use an ASCII word boundary `(?-u:\\b)` instead of the Unicode `\\b`")
    } else if message.contains("exceeded") || message.contains("limit") {
        GrammarError::new(ErrorKind::TooLarge, format!("the lexer DFA is too large: {message}"))
            .with_help("the terminals together determinize into too many states; simplify overlapping terminals or raise the DFA size limit")
    } else {
        GrammarError::new(ErrorKind::Regex, format!("the terminals cannot be compiled to a DFA: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::parse;

    fn lexer(patterns: &[&str]) -> LexerDfa {
        let hirs: Vec<Hir> = patterns.iter().map(|p| parse(p).unwrap()).collect();
        LexerDfa::build(&hirs, &LexerLimits::default()).unwrap()
    }

    fn run(lexer: &LexerDfa, text: &str) -> u32 {
        text.bytes().fold(LexerDfa::START, |state, byte| lexer.next(state, byte))
    }

    #[test]
    fn accepts_report_every_matching_terminal() {
        let lexer = lexer(&["if", "[a-z]+", "[0-9]+"]);
        let state = run(&lexer, "if");
        assert_eq!(bitset::ones(lexer.accepts(state)).collect::<Vec<_>>(), vec![0, 1]);
        let state = run(&lexer, "ifx");
        assert_eq!(bitset::ones(lexer.accepts(state)).collect::<Vec<_>>(), vec![1]);
        assert_eq!(run(&lexer, "i0"), LexerDfa::DEAD);
    }

    #[test]
    fn start_never_accepts_and_is_never_reentered() {
        let lexer = lexer(&["(ab)*c", "x*"]);
        assert!(bitset::is_empty(lexer.accepts(LexerDfa::START)));
        for state in 0..lexer.state_count() as u32 {
            for byte in 0..=255u8 {
                assert_ne!(lexer.next(state, byte), LexerDfa::START);
            }
        }
        // "x*" would match empty, but a lexeme needs at least one byte.
        assert!(bitset::contains(lexer.accepts(run(&lexer, "x")), 1));
    }

    #[test]
    fn states_that_cannot_finish_are_dead() {
        // After "ab" nothing can complete "abc" except "c".
        let lexer = lexer(&["abc"]);
        assert_ne!(run(&lexer, "ab"), LexerDfa::DEAD);
        assert_eq!(run(&lexer, "abd"), LexerDfa::DEAD);
        assert_eq!(run(&lexer, "abcd"), LexerDfa::DEAD);
        // A pattern with an empty class in the middle can never finish.
        let lexer = lexer(&["a[^\\x00-\\x{10FFFF}]b", "z"]);
        assert_eq!(run(&lexer, "a"), LexerDfa::DEAD);
    }

    #[test]
    fn end_anchor_is_honoured() {
        let lexer = lexer(&["ab$"]);
        assert!(bitset::contains(lexer.accepts(run(&lexer, "ab")), 0));
    }

    #[test]
    fn reach_sets_follow_continuations() {
        let lexer = lexer(&["ab", "ac", "b"]);
        let state = run(&lexer, "a");
        assert_eq!(bitset::ones(lexer.reach(state)).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(bitset::ones(lexer.reach(LexerDfa::START)).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn utf8_classes_work_on_bytes() {
        let lexer = lexer(&["[é-ê]"]);
        let state = run(&lexer, "é");
        assert!(bitset::contains(lexer.accepts(state), 0));
        // The first byte of 'é' alone is a viable partial lexeme.
        assert_ne!(lexer.next(LexerDfa::START, 0xC3), LexerDfa::DEAD);
        assert_eq!(lexer.next(LexerDfa::START, 0xFF), LexerDfa::DEAD);
    }

    #[test]
    fn examples_are_shortest_matches() {
        let lexer = lexer(&["[a-z]{3}", "\"(\\\\.|[^\"])*\""]);
        assert_eq!(lexer.example(0), Some(b"aaa".to_vec()));
        assert_eq!(lexer.example(1), Some(b"\"\"".to_vec()));
    }

    #[test]
    fn size_limits_are_errors_not_panics() {
        let hirs = vec![parse("[a-z]{50}[0-9]{50}\\w{100}").unwrap()];
        let limits = LexerLimits { nfa_size_limit: 1000, ..LexerLimits::default() };
        let error = LexerDfa::build(&hirs, &limits).unwrap_err();
        assert_eq!(error.kind, ErrorKind::TooLarge, "{error}");
    }
}
