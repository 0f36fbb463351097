//! Compiling a grammar: text → EBNF → IR → lexer DFA + LR(1) tables.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use regex_syntax::hir::Hir;
use smallvec::SmallVec;

use crate::bitset::{self, BitMatrix};
use crate::ebnf::{Ebnf, Lexing};
use crate::error::{ErrorKind, GrammarError};
use crate::ir::Grammar;
use crate::json_schema::{self, JsonSchemaOptions};
use crate::lexer::{LexerDfa, LexerLimits};
use crate::lower::{LowerLimits, lower_with, remove_unmatchable};
use crate::lr::{self, Conflict, LrLimits, LrTables};
use crate::matcher::Matcher;
use crate::{gbnf, lark, regex_constraint};

/// A grammar file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// llama.cpp's GBNF (`.gbnf`).
    Gbnf,
    /// Lark-style EBNF (`.lark`).
    Lark,
    /// A regular expression in the `regex` crate's syntax, fully anchored
    /// (`.regex`).
    Regex,
    /// A JSON Schema (`.schema.json`); see [`crate::json_schema`].
    JsonSchema,
}

impl Format {
    /// The format named by a file's extension, if it is one of Trellis's.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".schema.json") {
            Some(Format::JsonSchema)
        } else if name.ends_with(".gbnf") {
            Some(Format::Gbnf)
        } else if name.ends_with(".lark") {
            Some(Format::Lark)
        } else if name.ends_with(".regex") {
            Some(Format::Regex)
        } else {
            None
        }
    }

    /// The format with this name (`gbnf`, `lark`, `regex`, `json-schema`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json-schema" => Some(Format::JsonSchema),
            "gbnf" => Some(Format::Gbnf),
            "lark" => Some(Format::Lark),
            "regex" => Some(Format::Regex),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Gbnf => "gbnf",
            Format::Lark => "lark",
            Format::Regex => "regex",
            Format::JsonSchema => "json-schema",
        }
    }

    /// Parses text of this format into EBNF, with the default settings.
    pub fn parse(self, text: &str) -> Result<Ebnf, GrammarError> {
        self.parse_with(text, &Config::default())
    }

    /// Parses text of this format into EBNF. Only JSON Schema reads the
    /// configuration ([`Config::json_schema`]); keywords dropped in lenient
    /// mode are not reported here: call
    /// [`json_schema::compile_json_schema`] to get them.
    pub fn parse_with(self, text: &str, config: &Config) -> Result<Ebnf, GrammarError> {
        match self {
            Format::Gbnf => gbnf::parse(text),
            Format::Lark => lark::parse(text),
            Format::Regex => regex_constraint::parse(text),
            Format::JsonSchema => json_schema::compile_json_schema(text, &config.json_schema).map(|(ebnf, _)| ebnf),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Compilation settings. The defaults suit grammars people write by hand
/// and machine-generated ones up to tens of thousands of rules.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub lower: LowerLimits,
    pub lexer: LexerLimits,
    pub lr: LrLimits,
    pub matcher: MatcherLimits,
    /// How JSON Schemas are compiled (whitespace policy, lenient mode).
    pub json_schema: JsonSchemaOptions,
}

/// Limits for matchers over the compiled grammar.
#[derive(Clone, Copy, Debug)]
pub struct MatcherLimits {
    /// Most lexing/parsing hypotheses alive at once before
    /// [`crate::MatchError::TooAmbiguous`] (default 10 000).
    pub max_branches: usize,
    /// Most steps a matcher keeps for rollback (default 1024; 0 disables
    /// rollback).
    pub max_rollback: usize,
}

impl Default for MatcherLimits {
    fn default() -> MatcherLimits {
        MatcherLimits { max_branches: 10_000, max_rollback: 1024 }
    }
}

/// Which driver runs the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driver {
    /// Conflict-free tables: one LR stack per branch.
    Deterministic,
    /// Tables with conflicts: a graph-structured stack per branch.
    Generalized,
}

/// Facts about a compiled grammar, for `--explain` and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub terminals: usize,
    pub nonterminals: usize,
    pub productions: usize,
    pub lexer_states: usize,
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

pub(crate) struct Compiled {
    pub(crate) grammar: Grammar,
    pub(crate) lexing: Lexing,
    pub(crate) lexer: LexerDfa,
    pub(crate) tables: LrTables,
    pub(crate) driver: Driver,
    /// Whether the empty input is complete (the tables of the GLR driver
    /// come from an ε-free grammar and cannot say so themselves).
    pub(crate) start_nullable: bool,
    /// Per LR state: acceptable terminals plus ignored ones.
    allowed: BitMatrix,
    ignored: Vec<u64>,
    /// Per terminal: the terminals that may come right after it.
    follow: BitMatrix,
    /// The bytes before which a lexeme may be cut at all (see
    /// [`Compiled::cut_possible`]).
    may_cut: CutTable,
    priority: Vec<i32>,
    literal: Vec<bool>,
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) config: MatcherLimits,
    stats: Stats,
}

impl Compiled {
    /// Can a lexeme in lexer state `lex` become a terminal allowed in LR
    /// state `state`?
    #[inline(always)]
    pub(crate) fn lexeme_possible(&self, lex: u32, state: u32) -> bool {
        bitset::intersects(self.lexer.reach(lex), self.allowed.row(state as usize))
    }

    /// Can a lexeme in lexer state `lex` become a terminal that may follow
    /// `terminal` (see [`follow_sets`])?
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
        if state == 0 { self.start_nullable } else { self.tables.accepts_eof(state) }
    }

    /// The terminals a lexeme ending in `lex` may be cut as, given the
    /// parser's top states. With greedy lexing, ties are broken by priority,
    /// then literals win over patterns; the rest stay as alternatives.
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
/// and the factory of [`Matcher`]s.
///
/// ```
/// use trellis_grammars::{CompiledGrammar, Format};
///
/// let json_number = CompiledGrammar::new(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?", Format::Regex)?;
/// assert!(json_number.check(b"-12.5").complete);
/// let verdict = json_number.check(b"012");
/// assert!(!verdict.prefix);
/// assert_eq!(verdict.error_offset, Some(1));
/// # Ok::<(), trellis_grammars::GrammarError>(())
/// ```
#[derive(Clone)]
pub struct CompiledGrammar {
    inner: Arc<Compiled>,
}

impl fmt::Debug for CompiledGrammar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledGrammar").field("stats", &self.inner.stats).finish_non_exhaustive()
    }
}

/// The verdict on a whole input, as `trellis check` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The input is in the language.
    pub complete: bool,
    /// The input is a viable prefix (a prefix of something in the language).
    pub prefix: bool,
    /// When not a viable prefix: the offset of the first byte at which it
    /// stopped being one.
    pub error_offset: Option<usize>,
    /// The check gave up at `error_offset`: the grammar was too ambiguous on
    /// this input, or the lazy lexer ran out of states (then `prefix` and
    /// `complete` are false and say nothing about the input).
    pub gave_up: bool,
}

impl CompiledGrammar {
    /// Compiles grammar text of the given format with the default settings.
    pub fn new(text: &str, format: Format) -> Result<CompiledGrammar, GrammarError> {
        CompiledGrammar::with_config(text, format, &Config::default())
    }

    pub fn with_config(text: &str, format: Format, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let ebnf = format.parse_with(text, config)?;
        CompiledGrammar::from_ebnf(&ebnf, config)
    }

    pub fn from_ebnf(ebnf: &Ebnf, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let grammar = lower_with(ebnf, &config.lower)?;
        CompiledGrammar::from_ir(grammar, config)
    }

    /// Compiles a lowered grammar.
    pub fn from_ir(mut grammar: Grammar, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let hirs: Vec<&Hir> = grammar.terminals.iter().map(|t| &t.hir).collect();
        let lexer = LexerDfa::build(&hirs, &config.lexer)?;
        // A terminal whose regex only matches the empty string (or nothing,
        // once assertions are taken into account) can never be a lexeme.
        let matchable: Vec<bool> =
            (0..grammar.terminals.len()).map(|t| bitset::contains(lexer.reach(LexerDfa::START), t)).collect();
        if matchable.iter().any(|&m| !m) {
            remove_unmatchable(&mut grammar, &matchable)?;
        }

        let automaton = lr::build_automaton(&grammar, &config.lr)?;
        let canonical_states = automaton.kernels.len();
        let (tables, driver, start_nullable, conflicts) = if automaton.has_conflicts() {
            let conflicts = lr::explain_conflicts(&automaton, &grammar, &lexer);
            let (free, start_nullable) = lr::eliminate_epsilon(&grammar);
            let free_automaton = lr::build_automaton(&free, &config.lr)?;
            let tables = lr::build_tables(&free_automaton);
            (tables, Driver::Generalized, start_nullable, conflicts)
        } else {
            let tables = lr::build_tables(&automaton);
            let start_nullable = tables.accepts_eof(0);
            (tables, Driver::Deterministic, start_nullable, Vec::new())
        };

        let terminal_count = grammar.terminals.len();
        let mut ignored = vec![0u64; bitset::words_for(terminal_count)];
        for terminal in &grammar.ignore {
            ignored[terminal.index() / 64] |= 1 << (terminal.index() % 64);
        }
        let mut allowed = BitMatrix::new(tables.state_count(), terminal_count);
        for state in 0..tables.state_count() {
            let row = allowed.row_mut(state);
            for (word, (acceptable, ignore)) in row.iter_mut().zip(tables.acceptable(state as u32).iter().zip(&ignored))
            {
                *word = acceptable | ignore;
            }
        }
        let stats = Stats {
            terminals: terminal_count,
            nonterminals: grammar.nonterminals.len(),
            productions: grammar.productions.len(),
            lexer_states: lexer.state_count(),
            canonical_states,
            lr_states: tables.state_count(),
            conflicts: conflicts.len(),
            generalized: driver == Driver::Generalized,
            memory_bytes: lexer.memory_usage() + tables.memory_usage(),
        };
        let follow = follow_sets(&grammar);
        let compiled = Compiled {
            lexing: grammar.lexing,
            priority: grammar.terminals.iter().map(|t| t.priority).collect(),
            literal: grammar.terminals.iter().map(|t| t.literal).collect(),
            may_cut: cut_table(&lexer, &follow),
            follow,
            grammar,
            lexer,
            tables,
            driver,
            start_nullable,
            allowed,
            ignored,
            conflicts,
            config: config.matcher,
            stats,
        };
        Ok(CompiledGrammar { inner: Arc::new(compiled) })
    }

    /// Reads a grammar file, taking the format from its extension unless
    /// one is given.
    pub fn from_file(path: &Path, format: Option<Format>, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let format = match format.or_else(|| Format::from_path(path)) {
            Some(format) => format,
            None => {
                return Err(GrammarError::new(
                    ErrorKind::Unsupported,
                    format!("cannot tell the grammar format of {}", path.display()),
                )
                .with_help("name the file .gbnf, .lark, .regex or .schema.json, or pass the format explicitly"));
            }
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| GrammarError::new(ErrorKind::Io, format!("cannot read {}: {error}", path.display())))?;
        CompiledGrammar::with_config(&text, format, config)
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.inner
    }

    /// A matcher at the start of the input.
    pub fn matcher(&self) -> Matcher {
        Matcher::new(self.clone())
    }

    /// Checks a whole input from the start.
    pub fn check(&self, input: &[u8]) -> Verdict {
        let mut matcher = self.matcher();
        match matcher.advance(input) {
            Ok(()) => Verdict { complete: matcher.is_complete(), prefix: true, error_offset: None, gave_up: false },
            Err(crate::MatchError::Rejected { offset }) => {
                Verdict { complete: false, prefix: false, error_offset: Some(offset), gave_up: false }
            }
            Err(crate::MatchError::TooAmbiguous { offset, .. } | crate::MatchError::LexerLimit { offset }) => {
                Verdict { complete: false, prefix: false, error_offset: Some(offset), gave_up: true }
            }
        }
    }

    /// Whether `input` is in the language.
    pub fn accepts(&self, input: &[u8]) -> bool {
        self.check(input).complete
    }

    /// The lowered grammar the tables were built from.
    pub fn grammar(&self) -> &Grammar {
        &self.inner.grammar
    }

    /// LR(1) conflicts of the grammar (empty when the deterministic driver
    /// runs it).
    pub fn conflicts(&self) -> &[Conflict] {
        &self.inner.conflicts
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The lexer DFA (for the token index).
    pub fn lexer(&self) -> &LexerDfa {
        &self.inner.lexer
    }
}

/// For each terminal, the terminals that can come right after it in some
/// string of the language (ignored terminals can come after anything, and
/// anything after them).
///
/// The matcher uses it to skip a cut cheaply: a lexeme may end as terminal
/// `t` before a byte only if that byte can start a terminal in `follow(t)`.
/// That is a necessary condition, so the check never changes an answer.
fn follow_sets(grammar: &Grammar) -> BitMatrix {
    use crate::ir::Symbol;
    let terminals = grammar.terminals.len();
    let nonterminals = grammar.nonterminals.len();
    let (nullable, first) = lr::nullable_and_first(
        nonterminals,
        terminals,
        grammar.productions.iter().map(|production| (production.lhs.index(), production.rhs.as_slice())),
    );
    // Rows 0..nonterminals: FOLLOW of nonterminals; then one row per
    // terminal. Both fill from the same walk over production suffixes.
    let mut follow = BitMatrix::new(nonterminals + terminals, terminals);
    let row_of = |symbol: Symbol| match symbol {
        Symbol::Nonterminal(n) => n.index(),
        Symbol::Terminal(t) => nonterminals + t.index(),
    };
    let mut changed = true;
    while changed {
        changed = false;
        for production in &grammar.productions {
            // Walk right to left, keeping FIRST of the suffix and whether it
            // is nullable.
            let mut suffix = vec![0u64; bitset::words_for(terminals)];
            let mut suffix_nullable = true;
            for &symbol in production.rhs.iter().rev() {
                let row = row_of(symbol);
                for (target, value) in follow.row_mut(row).iter_mut().zip(&suffix) {
                    let merged = *target | value;
                    changed |= merged != *target;
                    *target = merged;
                }
                if suffix_nullable && row != production.lhs.index() {
                    changed |= follow.union_rows(row, production.lhs.index());
                }
                match symbol {
                    Symbol::Terminal(t) => {
                        suffix.iter_mut().for_each(|word| *word = 0);
                        suffix[t.index() / 64] |= 1 << (t.index() % 64);
                        suffix_nullable = false;
                    }
                    Symbol::Nonterminal(n) => {
                        if !nullable[n.index()] {
                            suffix.iter_mut().for_each(|word| *word = 0);
                            suffix_nullable = false;
                        }
                        for (word, value) in suffix.iter_mut().zip(first.row(n.index())) {
                            *word |= value;
                        }
                    }
                }
            }
        }
    }
    let mut result = BitMatrix::new(terminals, terminals);
    for terminal in 0..terminals {
        result.union_rows_from(terminal, &follow, nonterminals + terminal);
        for ignored in &grammar.ignore {
            result.insert(terminal, ignored.index());
        }
    }
    for ignored in &grammar.ignore {
        for terminal in 0..terminals {
            result.insert(ignored.index(), terminal);
        }
    }
    result
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
