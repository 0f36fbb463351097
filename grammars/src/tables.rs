//! The compiled grammar: the runtime [`Tables`] every matcher reads, and
//! [`CompiledGrammar`], the shared handle callers hold.
//!
//! Besides the lexer and the LR tables themselves, the tables keep what
//! the matcher asks on every byte precomputed as bit rows: per LR state,
//! the terminals it accepts (plus ignored ones); per terminal, the
//! terminals that may follow it; and a cut table saying before which bytes
//! a lexeme may end at all. Each answers in O(1) a question that would
//! otherwise take a parser step.

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::bitset::{self, BitMatrix};
use crate::config::MatcherLimits;
use crate::ebnf::Lexing;
use crate::ir::Grammar;
use crate::lexer::LexerDfa;
use crate::lr::{self, Conflict, LrTables};

/// Which driver runs the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driver {
    /// Conflict-free tables: one LR stack per branch.
    Deterministic,
    /// Tables with conflicts: a graph-structured stack per branch.
    Generalized,
}

/// The parser half of a compiled grammar, as the pipeline built it.
pub(crate) struct Parser {
    pub tables: LrTables,
    pub driver: Driver,
    /// Whether the empty input is complete (the tables of the GLR driver
    /// come from an ε-free grammar and cannot say so themselves).
    pub start_nullable: bool,
    pub conflicts: Vec<Conflict>,
    /// Canonical LR(1) states before merging.
    pub canonical_states: usize,
}

/// Facts about a compiled grammar, for `--explain` and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub terminals: usize,
    pub nonterminals: usize,
    pub productions: usize,
    /// Lexer DFA states (for a lazy lexer: those built while compiling).
    pub lexer_states: usize,
    /// Whether the lexer builds its states on first use.
    pub lazy_lexer: bool,
    /// Canonical LR(1) states before merging.
    pub canonical_states: usize,
    /// LR states after merging equivalent ones.
    pub lr_states: usize,
    pub conflicts: usize,
    /// Whether the GLR driver runs the tables.
    pub generalized: bool,
    /// Approximate heap bytes of the lexer and tables.
    pub memory_bytes: usize,
}

/// Everything a matcher reads, immutable once built.
pub(crate) struct Tables {
    pub(crate) grammar: Grammar,
    pub(crate) lexing: Lexing,
    pub(crate) lexer: LexerDfa,
    pub(crate) lr: LrTables,
    pub(crate) driver: Driver,
    start_nullable: bool,
    /// Per LR state: acceptable terminals plus ignored ones.
    allowed: BitMatrix,
    ignored: Vec<u64>,
    /// Per terminal: the terminals that may come right after it.
    follow: BitMatrix,
    /// The bytes before which a lexeme may be cut at all (see
    /// [`Tables::cut_possible`]).
    may_cut: CutTable,
    priority: Vec<i32>,
    literal: Vec<bool>,
    conflicts: Vec<Conflict>,
    pub(crate) limits: MatcherLimits,
    stats: Stats,
}

impl Tables {
    /// Assembles the runtime tables of a lowered grammar, its lexer (built
    /// for exactly its terminals) and its parser.
    pub(crate) fn new(grammar: Grammar, lexer: LexerDfa, parser: Parser, limits: MatcherLimits) -> Tables {
        let Parser { tables: lr, driver, start_nullable, conflicts, canonical_states } = parser;
        let terminal_count = grammar.terminals.len();
        let mut ignored = vec![0u64; bitset::words_for(terminal_count)];
        for terminal in &grammar.ignore {
            ignored[terminal.index() / 64] |= 1 << (terminal.index() % 64);
        }
        let mut allowed = BitMatrix::new(lr.state_count(), terminal_count);
        for state in 0..lr.state_count() {
            let row = allowed.row_mut(state);
            for (word, (acceptable, ignore)) in row.iter_mut().zip(lr.acceptable(state as u32).iter().zip(&ignored)) {
                *word = acceptable | ignore;
            }
        }
        let stats = Stats {
            terminals: terminal_count,
            nonterminals: grammar.nonterminals.len(),
            productions: grammar.productions.len(),
            lexer_states: lexer.state_count(),
            lazy_lexer: lexer.is_lazy(),
            canonical_states,
            lr_states: lr.state_count(),
            conflicts: conflicts.len(),
            generalized: driver == Driver::Generalized,
            memory_bytes: lexer.memory_usage() + lr.memory_usage(),
        };
        let follow = lr::follow_sets(&grammar);
        Tables {
            lexing: grammar.lexing,
            priority: grammar.terminals.iter().map(|t| t.priority).collect(),
            literal: grammar.terminals.iter().map(|t| t.literal).collect(),
            may_cut: cut_table(&lexer, &follow),
            follow,
            grammar,
            lexer,
            lr,
            driver,
            start_nullable,
            allowed,
            ignored,
            conflicts,
            limits,
            stats,
        }
    }

    /// The terminals allowed in LR state `state` (ignored ones included),
    /// as a bitset.
    pub(crate) fn allowed_row(&self, state: u32) -> &[u64] {
        self.allowed.row(state as usize)
    }

    /// Can a lexeme in lexer state `lex` become a terminal allowed in LR
    /// state `state`?
    #[inline(always)]
    pub(crate) fn lexeme_possible(&self, lex: u32, state: u32) -> bool {
        bitset::intersects(self.lexer.reach(lex), self.allowed.row(state as usize))
    }

    /// Can a lexeme in lexer state `lex` become a terminal that may follow
    /// `terminal` (see [`lr::follow_sets`])?
    #[inline(always)]
    pub(crate) fn may_follow(&self, terminal: u32, lex: u32) -> bool {
        bitset::intersects(self.lexer.reach(lex), self.follow.row(terminal as usize))
    }

    /// Whether a lexeme ending in lexer state `lex` may be cut before
    /// `byte`: some terminal it matches may be followed by a terminal that
    /// starts with `byte`. False lets the matcher just extend the lexeme.
    #[inline(always)]
    pub(crate) fn cut_possible(&self, lex: u32, byte: u8) -> bool {
        let has = |bytes: &[u64; 4]| (bytes[usize::from(byte >> 6)] >> (byte & 63)) & 1 != 0;
        match &self.may_cut {
            CutTable::PerState(table) => table.get(lex as usize).is_none_or(has),
            CutTable::PerTerminal(table) => {
                bitset::ones(self.lexer.accepts(lex)).any(|terminal| table.get(terminal).is_none_or(has))
            }
            CutTable::Any => true,
        }
    }

    #[inline(always)]
    pub(crate) fn is_ignored(&self, terminal: u32) -> bool {
        bitset::contains(&self.ignored, terminal as usize)
    }

    #[inline]
    pub(crate) fn accepts_eof(&self, state: u32) -> bool {
        if state == 0 { self.start_nullable } else { self.lr.accepts_eof(state) }
    }

    /// The terminals a lexeme ending in `lex` may be cut as, given the
    /// parser's top states. With greedy lexing, ties are broken by priority,
    /// then literals win over patterns; the rest stay as alternatives.
    /// Inlined into each driver's `candidates`: called as a function, it
    /// cost 3% more instructions checking JSON (callgrind).
    #[inline]
    pub(crate) fn cut_candidates(
        &self,
        lex: u32,
        tops: impl Iterator<Item = u32> + Clone,
        out: &mut SmallVec<[u32; 4]>,
    ) {
        out.clear();
        for terminal in bitset::ones(self.lexer.accepts(lex)) {
            if tops.clone().any(|state| bitset::contains(self.allowed.row(state as usize), terminal)) {
                out.push(terminal as u32);
            }
        }
        if self.lexing == Lexing::Greedy && out.len() > 1 {
            let best = out.iter().map(|&t| self.priority[t as usize]).max().unwrap_or(0);
            out.retain(|t| self.priority[*t as usize] == best);
            if out.iter().any(|&t| self.literal[t as usize]) {
                out.retain(|t| self.literal[*t as usize]);
            }
        }
    }
}

/// A compiled grammar: immutable, `Send + Sync`, cheap to clone (an `Arc`),
/// and the factory of [`Matcher`](crate::Matcher)s.
///
/// ```
/// use trellis_grammars::{CompiledGrammar, Format, Verdict};
///
/// let json_number = CompiledGrammar::new(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?", Format::Regex)?;
/// assert!(json_number.check(b"-12.5").is_complete());
/// assert_eq!(json_number.check(b"-12."), Verdict::Prefix);
/// assert_eq!(json_number.check(b"012"), Verdict::Rejected { offset: 1 });
/// # Ok::<(), trellis_grammars::GrammarError>(())
/// ```
#[derive(Clone)]
pub struct CompiledGrammar {
    tables: Arc<Tables>,
}

impl fmt::Debug for CompiledGrammar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledGrammar").field("stats", &self.tables.stats).finish_non_exhaustive()
    }
}

impl CompiledGrammar {
    pub(crate) fn from_tables(tables: Tables) -> CompiledGrammar {
        CompiledGrammar { tables: Arc::new(tables) }
    }

    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Whether two handles share one compiled grammar.
    pub(crate) fn ptr_eq(&self, other: &CompiledGrammar) -> bool {
        Arc::ptr_eq(&self.tables, &other.tables)
    }

    /// The lowered grammar the tables were built from.
    pub fn grammar(&self) -> &Grammar {
        &self.tables.grammar
    }

    /// LR(1) conflicts of the grammar (empty when the deterministic driver
    /// runs it).
    pub fn conflicts(&self) -> &[Conflict] {
        &self.tables.conflicts
    }

    pub fn stats(&self) -> &Stats {
        &self.tables.stats
    }
}

/// The bytes before which a lexeme may be cut: a cut needs some terminal
/// the lexeme matches to be followed by a terminal that can start with the
/// byte. Where no cut is possible the matcher just extends the lexeme, and
/// a mask walk need not treat the tokens below as crossing a boundary.
#[derive(Debug)]
enum CutTable {
    /// Per lexer state of a dense lexer: one lookup.
    PerState(Vec<[u64; 4]>),
    /// Per terminal, for a lazy lexer (whose states are not known yet):
    /// the union over the terminals a state accepts.
    PerTerminal(Vec<[u64; 4]>),
    /// Too large to tabulate: every cut is considered.
    Any,
}

/// Most word operations spent on a cut table.
const MAX_CUT_WORK: usize = 1 << 22;

fn cut_table(lexer: &LexerDfa, follow: &BitMatrix) -> CutTable {
    let start_reach: Vec<Option<&[u64]>> = (0..=255u8)
        .map(|byte| {
            let next = lexer.next(LexerDfa::START, byte);
            (next != LexerDfa::DEAD && next != LexerDfa::OVERFLOW).then(|| lexer.reach(next))
        })
        .collect();
    if lexer.is_lazy() {
        let terminals = lexer.terminal_count();
        if terminals * 256 * follow.words().max(1) > MAX_CUT_WORK {
            return CutTable::Any;
        }
        let table = (0..terminals)
            .map(|terminal| {
                let mut bytes = [0u64; 4];
                for (byte, reach) in start_reach.iter().enumerate() {
                    if reach.is_some_and(|reach| bitset::intersects(reach, follow.row(terminal))) {
                        bytes[byte / 64] |= 1 << (byte % 64);
                    }
                }
                bytes
            })
            .collect();
        return CutTable::PerTerminal(table);
    }
    let states = lexer.state_count();
    if states * 256 * follow.words().max(1) > MAX_CUT_WORK {
        return CutTable::Any;
    }
    let mut table = vec![[0u64; 4]; states];
    let mut followers = vec![0u64; follow.words()];
    for (state, bytes) in table.iter_mut().enumerate() {
        let state = state as u32;
        if state == LexerDfa::DEAD || !lexer.is_accepting(state) {
            continue;
        }
        followers.iter_mut().for_each(|word| *word = 0);
        for terminal in bitset::ones(lexer.accepts(state)) {
            for (word, value) in followers.iter_mut().zip(follow.row(terminal)) {
                *word |= value;
            }
        }
        for (byte, reach) in start_reach.iter().enumerate() {
            if reach.is_some_and(|reach| bitset::intersects(reach, &followers)) {
                bytes[byte / 64] |= 1 << (byte % 64);
            }
        }
    }
    CutTable::PerState(table)
}
