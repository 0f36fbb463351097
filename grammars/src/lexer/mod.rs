//! The lexer: every terminal of a grammar compiled into one DFA over bytes.
//!
//! The matcher asks three questions of a lexer state `q`, all O(1):
//!
//! * `next(q, byte)`: the state after one more byte;
//! * `accepts(q)`: the terminals whose match ends exactly here;
//! * `reach(q)`: the terminals some continuation can still complete. A state
//!   that can complete nothing is the dead state, so "not dead" always
//!   means "can still finish a lexeme".
//!
//! State 0 is [`LexerDfa::DEAD`]. State 1 is [`LexerDfa::START`], the "no
//! partial lexeme" state: it never accepts (lexemes are never empty) and no
//! transition enters it, so `q == START` exactly when the matcher stands at
//! a lexeme boundary.
//!
//! Two backends answer these: a **lazy** DFA whose states are built on
//! first use (the default: compiling then costs nothing per state, and
//! constraints whose DFA would be astronomically large still work; see
//! [`lazy`]), and a **dense** table built eagerly by regex-automata's
//! determinizer, for when every state must exist up front with the same
//! numbers every time (index files: [`LexerLimits::eager`]) or a terminal
//! uses an assertion the lazy DFA does not evaluate (word boundaries).

mod dense;
mod lazy;
mod nfa;

use regex_automata::nfa::thompson::{self, NFA, WhichCaptures};
use std::borrow::Borrow;

use regex_syntax::hir::Hir;

use crate::bitset;
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;
use dense::DenseLexer;
use lazy::LazyLexer;
use nfa::Nfa;

pub(crate) const DEAD: u32 = 0;
pub(crate) const START: u32 = 1;
/// Returned by `next` when the lazy lexer is out of room for new states.
pub(crate) const OVERFLOW: u32 = u32::MAX - 1;

/// How terminals are compiled, and size limits. Past the dense limits an
/// eager lexer switches to the lazy one; past the NFA limit or the lazy
/// capacity, compiling or matching fails with a clear error.
#[derive(Clone, Copy, Debug)]
pub struct LexerLimits {
    /// Build every lexer state while compiling (the dense backend) instead
    /// of on first use. States are then numbered the same way every time
    /// the grammar is compiled, which stored masks (index files) need;
    /// compiling costs time in proportion to the DFA's size. Default: false.
    pub eager: bool,
    /// Heap bytes for the Thompson NFA of all terminals (default 64 MiB).
    /// The NFA holds a copy of a counted repetition's body per count: a
    /// JSON Schema string of `maxLength` 100,000 takes 51 MB, `a{1000000}`
    /// 12 MB. Past the limit, compiling fails with an error that names the
    /// repetition to blame and points at it.
    pub nfa_size_limit: usize,
    /// Heap bytes of a dense DFA before switching to the lazy one.
    pub dfa_size_limit: usize,
    /// Heap bytes used while determinizing before switching to the lazy DFA.
    pub determinize_size_limit: usize,
    /// Most states the lazy DFA may build (default 2²⁰, about a million);
    /// past it a matcher gives up with
    /// [`MatchError::LexerLimit`](crate::MatchError::LexerLimit).
    ///
    /// Why: a lazy DFA's states are kept as long as the grammar (matchers
    /// and mask caches hold their numbers), and an input can make a new
    /// state per byte: a counted repetition `x{n}` needs one per count, a
    /// JSON Schema string of `maxLength` n up to one per byte. Cost: a
    /// state takes about 50 bytes, plus 4 per byte class of the grammar,
    /// plus 4 per NFA state it stands for: 80 bytes for `a{n}`, 450 for a
    /// JSON string, so up to 80 to 450 MB at the default. The previous
    /// default, 2¹⁶, stopped `a{100000}` 65,534 bytes in.
    pub lazy_states: usize,
}

impl Default for LexerLimits {
    fn default() -> LexerLimits {
        LexerLimits {
            eager: false,
            nfa_size_limit: 64 << 20,
            // Determinizing until a limit is hit costs time in proportion
            // to the limit: a constraint that blows up (a bounded repetition
            // before a keyword) gave up 9x sooner at 1 MB than at 8 MB. The
            // largest lexer of the bundled grammars and shared workloads is
            // 160 KB.
            dfa_size_limit: 1 << 20,
            determinize_size_limit: 1 << 20,
            lazy_states: 1 << 20,
        }
    }
}

#[derive(Debug)]
enum Backend {
    Dense(DenseLexer),
    Lazy(LazyLexer),
}

/// A lexer DFA over bytes with per-state terminal sets.
#[derive(Debug)]
pub struct LexerDfa {
    backend: Backend,
}

impl LexerDfa {
    /// The dead state: no terminal can match any continuation.
    pub const DEAD: u32 = DEAD;
    /// The lexeme-boundary state (see the module docs).
    pub const START: u32 = START;
    /// What [`Self::next`] returns when the lazy lexer has no room for a new
    /// state; the matcher turns it into an error.
    pub const OVERFLOW: u32 = OVERFLOW;

    /// Compiles the terminals (pattern `i` is terminal `i`).
    pub fn build<H: Borrow<Hir>>(terminals: &[H], limits: &LexerLimits) -> Result<LexerDfa, BuildError> {
        if terminals.is_empty() {
            return Ok(LexerDfa { backend: Backend::Dense(DenseLexer::without_terminals()) });
        }
        // Our NFA where our compiler takes every terminal (the lazy lexer
        // reads only ours); regex-automata's where it declines one.
        let (ours, theirs) = match nfa::compile(terminals, limits.nfa_size_limit) {
            Some(built) => (built.map_err(|too_large| nfa_too_large(&too_large, limits.nfa_size_limit))?, None),
            None => {
                let theirs = thompson::Compiler::new()
                    .configure(
                        thompson::Config::new()
                            .nfa_size_limit(Some(limits.nfa_size_limit))
                            .which_captures(WhichCaptures::None),
                    )
                    .build_many_from_hir(terminals)
                    .map_err(|error| nfa_error(&error.to_string()))?;
                match Nfa::from_regex_automata(&theirs) {
                    Some(ours) => (ours, Some(theirs)),
                    None => return LexerDfa::dense_only(&theirs, limits),
                }
            }
        };
        if !limits.eager {
            return Ok(LexerDfa { backend: Backend::Lazy(LazyLexer::new(ours, limits.lazy_states)) });
        }
        let theirs = match theirs {
            Some(theirs) => theirs,
            None => ours.to_regex_automata(limits.nfa_size_limit).map_err(|message| nfa_error(&message))?,
        };
        match DenseLexer::build(&theirs, limits.dfa_size_limit, limits.determinize_size_limit) {
            Ok(dense) => Ok(LexerDfa { backend: Backend::Dense(dense) }),
            Err(message) if is_size_limit(&message) => {
                Ok(LexerDfa { backend: Backend::Lazy(LazyLexer::new(ours, limits.lazy_states)) })
            }
            Err(message) => Err(dfa_error(&message).into()),
        }
    }

    /// The dense lexer of an NFA with assertions the lazy lexer does not
    /// evaluate: there is no fallback when it is too large.
    fn dense_only(nfa: &NFA, limits: &LexerLimits) -> Result<LexerDfa, BuildError> {
        match DenseLexer::build(nfa, limits.dfa_size_limit, limits.determinize_size_limit) {
            Ok(dense) => Ok(LexerDfa { backend: Backend::Dense(dense) }),
            Err(message) if is_size_limit(&message) => Err(GrammarError::new(
                ErrorKind::TooLarge,
                format!(
                    "the lexer DFA is too large to build ({message}), and only the anchors `^`/`\\A` and \
                     `$`/`\\z` are supported in constraints too large for a dense DFA"
                ),
            )
            .with_help("simplify overlapping terminals, or raise the DFA size limit")
            .into()),
            Err(message) => Err(dfa_error(&message).into()),
        }
    }

    /// The state after reading `byte` in `state`.
    #[inline(always)]
    pub fn next(&self, state: u32, byte: u8) -> u32 {
        match &self.backend {
            Backend::Dense(dense) => dense.next(state, byte),
            Backend::Lazy(lazy) => lazy.next(state, byte),
        }
    }

    /// `state` without the NFA states that can match no terminal of `keep`
    /// (a bitset over terminals), on the lazy lexer; `state` itself on the
    /// dense one, whose states are fixed.
    pub fn restrict(&self, state: u32, keep: &[u64]) -> u32 {
        match &self.backend {
            Backend::Dense(_) => state,
            Backend::Lazy(lazy) => lazy.restrict(state, keep),
        }
    }

    /// The lexer's byte classes: bytes with the same class move every
    /// state to the same next state.
    pub fn byte_classes(&self) -> &[u8; 256] {
        match &self.backend {
            Backend::Dense(dense) => &dense.classes,
            Backend::Lazy(lazy) => &lazy.classes,
        }
    }

    /// Whether a lexeme ending in `state` matches some terminal.
    #[inline(always)]
    pub fn is_accepting(&self, state: u32) -> bool {
        match &self.backend {
            Backend::Dense(dense) => dense.is_accepting(state),
            Backend::Lazy(lazy) => lazy.is_accepting(state),
        }
    }

    /// Terminals whose match ends exactly in `state`, as a bitset.
    #[inline(always)]
    pub fn accepts(&self, state: u32) -> &[u64] {
        match &self.backend {
            Backend::Dense(dense) => dense.accepts(state),
            Backend::Lazy(lazy) => lazy.accepts(state),
        }
    }

    /// Terminals some continuation from `state` can still match, as a
    /// bitset.
    #[inline(always)]
    pub fn reach(&self, state: u32) -> &[u64] {
        match &self.backend {
            Backend::Dense(dense) => dense.reach(state),
            Backend::Lazy(lazy) => lazy.reach(state),
        }
    }

    /// The most states there can be: all there are (dense), or the limit
    /// of the lazy lexer.
    pub fn state_capacity(&self) -> usize {
        match &self.backend {
            Backend::Dense(dense) => dense.state_count(),
            Backend::Lazy(lazy) => lazy.capacity(),
        }
    }

    /// Whether the states are built on demand.
    pub fn is_lazy(&self) -> bool {
        matches!(self.backend, Backend::Lazy(_))
    }

    /// Number of states (built so far, for the lazy backend).
    pub fn state_count(&self) -> usize {
        match &self.backend {
            Backend::Dense(dense) => dense.state_count(),
            Backend::Lazy(lazy) => lazy.state_count(),
        }
    }

    pub fn terminal_count(&self) -> usize {
        match &self.backend {
            Backend::Dense(dense) => dense.terminal_count(),
            Backend::Lazy(lazy) => lazy.terminal_count(),
        }
    }

    /// Approximate heap size in bytes.
    pub fn memory_usage(&self) -> usize {
        match &self.backend {
            Backend::Dense(dense) => dense.memory_usage(),
            Backend::Lazy(lazy) => lazy.memory_usage(),
        }
    }

    /// A shortest non-empty string matching each terminal, for examples in
    /// conflict reports; prefers printable ASCII bytes. A lazy lexer answers
    /// from its NFA: a search of its DFA would build (and keep) states that
    /// no input may ever need.
    pub fn examples(&self) -> Vec<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Dense(_) => (0..self.terminal_count()).map(|t| self.example_in_dfa(t)).collect(),
            Backend::Lazy(lazy) => lazy.examples(),
        }
    }

    /// A breadth-first search of the DFA for one of [`Self::examples`]
    /// (states all exist in a dense lexer).
    fn example_in_dfa(&self, terminal: usize) -> Option<Vec<u8>> {
        let mut previous: hashbrown::HashMap<u32, (u32, u8)> = hashbrown::HashMap::new();
        let mut queue = std::collections::VecDeque::from([START]);
        let mut seen: hashbrown::HashSet<u32> = [START].into_iter().collect();
        while let Some(state) = queue.pop_front() {
            if bitset::contains(self.accepts(state), terminal) {
                let mut bytes = Vec::new();
                let mut at = state;
                while let Some(&(from, byte)) = previous.get(&at) {
                    bytes.push(byte);
                    at = from;
                }
                bytes.reverse();
                return Some(bytes);
            }
            let order = (0x20u8..0x7f).chain(0x7f..=0xff).chain(0..0x20);
            for byte in order {
                let target = self.next(state, byte);
                if target != DEAD
                    && target != OVERFLOW
                    && bitset::contains(self.reach(target), terminal)
                    && seen.insert(target)
                {
                    previous.insert(target, (state, byte));
                    queue.push_back(target);
                }
            }
        }
        None
    }
}

fn is_size_limit(message: &str) -> bool {
    message.contains("exceeded") || message.contains("limit")
}

/// Why a lexer cannot be built: the error, and the terminal it is about,
/// when it is about one (the caller knows the terminal's name and span).
#[derive(Debug)]
pub struct BuildError {
    pub terminal: Option<usize>,
    pub error: GrammarError,
}

impl From<GrammarError> for BuildError {
    fn from(error: GrammarError) -> BuildError {
        BuildError { terminal: None, error }
    }
}

impl BuildError {
    /// The error, naming the terminal it is about by `name` and pointing at
    /// `span` (when it has no span of its own).
    pub fn about(self, name: &str, span: Option<Span>) -> GrammarError {
        let BuildError { terminal, mut error } = self;
        if terminal.is_some() {
            error.message = format!("{} (in terminal {name})", error.message);
            if let Some(span) = span {
                error = error.or_span(span);
            }
        }
        error
    }
}

/// Our NFA compiler's size limit: the counted repetition that does not fit,
/// when one is to blame.
fn nfa_too_large(too_large: &nfa::TooLarge, limit: usize) -> BuildError {
    let error = match &too_large.repetition {
        Some(copies) => {
            let counts = match copies.max {
                Some(max) if max == copies.min => format!("{{{max}}}"),
                Some(max) => format!("{{{},{max}}}", copies.min),
                None => format!("{{{},}}", copies.min),
            };
            GrammarError::new(
                ErrorKind::TooLarge,
                format!(
                    "the counted repetition `{counts}` makes the lexer too large: its NFA holds a copy of the \
                     repeated part per count, {} states each, {} in all, more than the limit of {}",
                    copies.body_states,
                    megabytes(copies.bytes),
                    megabytes(limit)
                ),
            )
            .with_help("lower the count, or raise `LexerLimits::nfa_size_limit`")
        }
        None => GrammarError::new(
            ErrorKind::TooLarge,
            format!("the lexer's NFA would take more than the limit of {}", megabytes(limit)),
        )
        .with_help("the terminals are too large together; raise `LexerLimits::nfa_size_limit`"),
    };
    BuildError { terminal: Some(too_large.pattern), error }
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// regex-automata's NFA compiler, which says nothing of where.
fn nfa_error(message: &str) -> BuildError {
    if message.contains("exceeds") || message.contains("limit") {
        GrammarError::new(ErrorKind::TooLarge, format!("the terminals are too large to compile: {message}"))
            .with_help("lower large counted repetitions or very large character classes, or raise `LexerLimits::nfa_size_limit`")
            .into()
    } else {
        GrammarError::new(ErrorKind::Regex, format!("a terminal cannot be compiled: {message}")).into()
    }
}

fn dfa_error(message: &str) -> GrammarError {
    if message.to_lowercase().contains("unicode word boundary") {
        GrammarError::new(ErrorKind::Regex, format!("a pattern cannot be compiled to a DFA: {message}"))
            .with_help("use an ASCII word boundary `(?-u:\\b)` instead of the Unicode `\\b`")
    } else {
        GrammarError::new(ErrorKind::Regex, format!("the terminals cannot be compiled to a DFA: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::parse;

    /// Both backends, built for the same patterns (the lazy one over
    /// regex-automata's NFA, the dense one over ours, converted to
    /// regex-automata's type).
    fn both(patterns: &[&str]) -> [LexerDfa; 2] {
        let hirs: Vec<Hir> = patterns.iter().map(|p| parse(p).unwrap()).collect();
        let dense = LexerDfa::build(&hirs, &LexerLimits { eager: true, ..LexerLimits::default() }).unwrap();
        assert!(!dense.is_lazy());
        [dense, lazy_over_regex_automata(&hirs, 1000)]
    }

    /// A lazy lexer over regex-automata's own NFA of `hirs`.
    fn lazy_over_regex_automata(hirs: &[Hir], capacity: usize) -> LexerDfa {
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().which_captures(WhichCaptures::None))
            .build_many_from_hir(hirs)
            .unwrap();
        LexerDfa { backend: Backend::Lazy(LazyLexer::new(Nfa::from_regex_automata(&nfa).unwrap(), capacity)) }
    }

    fn run(lexer: &LexerDfa, text: &str) -> u32 {
        text.bytes().fold(START, |state, byte| lexer.next(state, byte))
    }

    fn ones(set: &[u64]) -> Vec<usize> {
        bitset::ones(set).collect()
    }

    #[test]
    fn accepts_report_every_matching_terminal() {
        for lexer in both(&["if", "[a-z]+", "[0-9]+"]) {
            assert_eq!(ones(lexer.accepts(run(&lexer, "if"))), vec![0, 1]);
            assert_eq!(ones(lexer.accepts(run(&lexer, "ifx"))), vec![1]);
            assert_eq!(run(&lexer, "i0"), DEAD);
        }
    }

    #[test]
    fn start_never_accepts_and_is_never_reentered() {
        for lexer in both(&["(ab)*c", "x*"]) {
            assert!(bitset::is_empty(lexer.accepts(START)));
            // "x*" would match empty, but a lexeme needs at least one byte.
            assert!(bitset::contains(lexer.accepts(run(&lexer, "x")), 1));
            for text in ["ab", "abab", "c", "x", "xx"] {
                assert_ne!(run(&lexer, text), START);
            }
        }
    }

    #[test]
    fn states_that_cannot_finish_are_dead() {
        for lexer in both(&["abc"]) {
            assert_ne!(run(&lexer, "ab"), DEAD);
            assert_eq!(run(&lexer, "abd"), DEAD);
            assert_eq!(run(&lexer, "abcd"), DEAD);
        }
        for lexer in both(&["a[^\\x00-\\x{10FFFF}]b", "z"]) {
            assert_eq!(run(&lexer, "a"), DEAD);
        }
    }

    #[test]
    fn anchors_are_honoured() {
        for lexer in both(&["ab$"]) {
            assert!(bitset::contains(lexer.accepts(run(&lexer, "ab")), 0));
            assert_eq!(run(&lexer, "abc"), DEAD);
        }
        for lexer in both(&["^a|b"]) {
            assert!(bitset::contains(lexer.accepts(run(&lexer, "a")), 0));
        }
        for lexer in both(&["a$b", "c"]) {
            assert_eq!(run(&lexer, "a"), DEAD);
        }
    }

    #[test]
    fn reach_sets_follow_continuations() {
        for lexer in both(&["ab", "ac", "b"]) {
            assert_eq!(ones(lexer.reach(run(&lexer, "a"))), vec![0, 1]);
            assert_eq!(ones(lexer.reach(START)), vec![0, 1, 2]);
        }
    }

    #[test]
    fn utf8_classes_work_on_bytes() {
        for lexer in both(&["[é-ê]"]) {
            assert!(bitset::contains(lexer.accepts(run(&lexer, "é")), 0));
            assert_ne!(lexer.next(START, 0xC3), DEAD);
            assert_eq!(lexer.next(START, 0xFF), DEAD);
        }
    }

    #[test]
    fn examples_are_shortest_matches() {
        for lexer in both(&["[a-z]{3}", "\"(\\\\.|[^\"])*\""]) {
            assert_eq!(lexer.examples(), [Some(b"aaa".to_vec()), Some(b"\"\"".to_vec())]);
        }
    }

    #[test]
    fn size_limits_are_errors_not_panics() {
        let hirs = vec![parse("[a-z]{50}[0-9]{50}\\w{100}").unwrap()];
        let limits = LexerLimits { nfa_size_limit: 1000, ..LexerLimits::default() };
        let error = LexerDfa::build(&hirs, &limits).unwrap_err().error;
        assert_eq!(error.kind, ErrorKind::TooLarge, "{error}");
    }

    #[test]
    fn huge_dfas_fall_back_to_the_lazy_lexer() {
        let hirs = vec![parse("[A-Z][a-z ,']{0,60}amazing[a-z ,']{0,60}\\.$").unwrap()];
        let lexer = LexerDfa::build(&hirs, &LexerLimits { eager: true, ..LexerLimits::default() }).unwrap();
        assert!(lexer.is_lazy());
        let state = run(&lexer, "It was amazing, amazing.");
        assert!(bitset::contains(lexer.accepts(state), 0));
        assert_eq!(run(&lexer, "it"), DEAD);
    }

    #[test]
    fn the_default_lexer_is_lazy_and_agrees_with_the_dense_one_across_segments() {
        // Hundreds of states: the lazy lexer's states span several segments.
        let patterns = ["[a-c]{0,300}x", "a{2,200}", "[ab]*cab"];
        let hirs: Vec<Hir> = patterns.iter().map(|p| parse(p).unwrap()).collect();
        let lazy = LexerDfa::build(&hirs, &LexerLimits::default()).unwrap();
        assert!(lazy.is_lazy());
        let dense = LexerDfa::build(&hirs, &LexerLimits { eager: true, ..LexerLimits::default() }).unwrap();
        assert!(!dense.is_lazy());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 320) as usize;
            // Letters, then an `x` that ends the first pattern's matches.
            let text: Vec<u8> = (0..=len)
                .map(|i| if i == len { b'x' } else { b"aaabc"[((seed >> (i % 58)) as usize + i) % 5] })
                .collect();
            let (mut l, mut d) = (START, START);
            for &byte in &text {
                l = lazy.next(l, byte);
                d = dense.next(d, byte);
                assert_eq!(l == DEAD, d == DEAD);
                assert_eq!(lazy.accepts(l), dense.accepts(d));
                assert_eq!(lazy.reach(l), dense.reach(d));
                if d == DEAD {
                    break;
                }
            }
        }
        assert!(lazy.state_count() > FIRST_SEGMENT_STATES, "{} states", lazy.state_count());
    }

    const FIRST_SEGMENT_STATES: usize = 64 + 128;

    /// Our NFA compiler (the default) against regex-automata's: lazy
    /// lexers over each NFA agree on dead states, accepted terminals and
    /// reach sets along random byte strings, for patterns covering every
    /// HIR kind (Unicode and byte classes, empty classes, bounded and
    /// unbounded repetitions, empty alternatives, anchors).
    #[test]
    fn our_nfa_compiler_agrees_with_regex_automata() {
        let pattern_sets: &[&[&str]] = &[
            &["\"([^\"\\\\\\x00-\\x1f]|\\\\([\"\\\\/bfnrt]|u[0-9a-fA-F]{4})){0,8}\""],
            &["[α-ωé€😀]+", "(?i)straße", "[^a-z]{2,3}", "x{0}y", "(a|)*b"],
            &["(?-u:[a-f])+", "[^\\x00-\\x{10FFFF}]", "a{3,}", "(ab|a)(bc|c)?", "^a$|b", "c[^\\x00-\\x{10FFFF}]"],
            &["-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?", "true|false|null", "[ \\t\\n\\r]+"],
            &["[\\u{80}-\\u{7ff}\\u{e000}-\\u{10ffff}]{1,4}z", "((a{1,2}){1,2}){0,2}q"],
            // Copied repetition bodies that hold loops, empty branches,
            // anchors and multi-byte classes.
            &["(a+b|c*){2,3}x", "((a|)*b){2}", "(^a){1,2}y", "(z$){1,2}", "(é|\\u{1f600}[ab]?){3,5}"],
        ];
        let alphabet: &[&[u8]] = &[
            b"a",
            b"b",
            b"c",
            b"q",
            b"x",
            b"y",
            b"z",
            b"\"",
            b"\\",
            b"u",
            b"0",
            b"1",
            b"9",
            b"-",
            b".",
            b"e",
            b"E",
            b"+",
            b" ",
            b"\n",
            b"t",
            b"r",
            b"F",
            b"D",
            b"\x7f",
            b"\x00",
            b"\x80",
            b"\xc3",
            b"\xed",
            b"\xf4",
            b"\xff",
            "\u{e9}".as_bytes(),
            "\u{3b1}".as_bytes(),
            "\u{20ac}".as_bytes(),
            "\u{1f600}".as_bytes(),
            "\u{10ffff}".as_bytes(),
            "\u{7ff}".as_bytes(),
            "\u{df}".as_bytes(),
            "S".as_bytes(),
            "s".as_bytes(),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for patterns in pattern_sets {
            let hirs: Vec<Hir> = patterns.iter().map(|p| parse(p).unwrap()).collect();
            let ours = LexerDfa::build(&hirs, &LexerLimits::default()).unwrap();
            assert!(ours.is_lazy());
            let theirs = lazy_over_regex_automata(&hirs, 1 << 16);
            assert_eq!(ours.reach(START), theirs.reach(START), "{patterns:?}");
            for _ in 0..3000 {
                let len = (next() % 14) as usize;
                // Mostly one piece repeated (long runs reach the bounds),
                // sometimes anything.
                let favourite = alphabet[(next() % alphabet.len() as u64) as usize];
                let text: Vec<u8> = (0..len)
                    .flat_map(|_| {
                        let roll = next();
                        if roll % 3 == 0 { alphabet[(roll / 3 % alphabet.len() as u64) as usize] } else { favourite }
                    })
                    .copied()
                    .collect();
                let (mut a, mut b) = (START, START);
                for &byte in &text {
                    a = ours.next(a, byte);
                    b = theirs.next(b, byte);
                    let context = || format!("{patterns:?} on {:?}", String::from_utf8_lossy(&text));
                    assert_eq!(a == DEAD, b == DEAD, "{}", context());
                    assert_eq!(ours.accepts(a), theirs.accepts(b), "{}", context());
                    assert_eq!(ours.reach(a), theirs.reach(b), "{}", context());
                    if a == DEAD {
                        break;
                    }
                }
            }
        }
    }

    /// Issue 15: `a{100000}` ran out of lazy lexer states 65,534 bytes in.
    /// States are small enough now for a million by default.
    #[test]
    fn counted_repetitions_of_a_hundred_thousand_match() {
        let grammar = crate::CompiledGrammar::new("a{100000}", crate::Format::Regex).expect("compiles");
        assert_eq!(grammar.check(&[b'a'; 100_000]), crate::Verdict::Complete);
        assert_eq!(grammar.check(&[b'a'; 99_999]), crate::Verdict::Prefix);
        assert_eq!(grammar.check(&[b'a'; 100_001]), crate::Verdict::Rejected { offset: 100_000 });
        assert!(LexerLimits::default().lazy_states > 1_000_000);
    }

    /// Errors at the NFA limit name the counted repetition and point at
    /// where it is written; at the lazy lexer's limit, the matcher says
    /// which limit it reached.
    #[test]
    fn errors_at_the_limits_name_what_was_written() {
        for (format, text, at) in [
            (crate::Format::Regex, "x(ab|cd){5000000}y", "x(ab|cd){5000000}y"),
            (
                crate::Format::Gbnf,
                "root ::= \"(\" item{1000} \")\"\nitem ::= (\"abcdefghij\" [0-9]){1000}",
                "item{1000}",
            ),
        ] {
            let source = crate::Source::new(format, text);
            let error = source.compile(&crate::Config::default()).expect_err("too large");
            assert_eq!(error.kind, ErrorKind::TooLarge, "{error}");
            let span = error.span.expect("a span");
            assert_eq!(&text[span.start..span.end], at, "{error}");
            let counted = &at[at.find('{').unwrap_or(0)..at.find('}').map_or(0, |end| end + 1)];
            assert!(error.message.contains(&format!("`{counted}`")), "{error}");
            assert!(error.help.as_deref().is_some_and(|help| help.contains("nfa_size_limit")), "{error:?}");
        }
        let config =
            crate::Config { lexer: LexerLimits { lazy_states: 50, ..LexerLimits::default() }, ..Default::default() };
        let grammar = crate::CompiledGrammar::with_config("a{100}", crate::Format::Regex, &config).expect("compiles");
        let error = grammar.matcher().advance(&[b'a'; 100]).expect_err("out of states");
        assert_eq!(error, crate::MatchError::LexerLimit { offset: 48, limit: 50 });
        assert!(error.to_string().contains("LexerLimits::lazy_states"), "{error}");
    }

    #[test]
    fn lazy_lexer_reports_overflow() {
        let hirs = vec![parse("[a-z]{0,30}x[a-z]{0,30}").unwrap()];
        let lexer = lazy_over_regex_automata(&hirs, 8);
        let mut state = START;
        let mut overflowed = false;
        for byte in b"abcdefghijklmnopqrstuvwxyz".iter().cycle().take(40) {
            state = lexer.next(state, *byte);
            if state == OVERFLOW {
                overflowed = true;
                break;
            }
        }
        assert!(overflowed);
    }
}
