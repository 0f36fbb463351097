//! The byte-level matcher: is the input so far a viable prefix of the
//! language, and is it complete?
//!
//! The matcher simulates the lexer and the parser together, one byte at a
//! time, over a small set of *branches*. A branch is a hypothesis about how
//! the input so far splits into lexemes: the lexer DFA state of the
//! unfinished lexeme (or [`LexerDfa::START`] at a boundary) and the parser
//! configuration after the finished ones. On each byte a branch may
//!
//! * **extend** its lexeme, if the DFA can still reach a terminal that the
//!   parser could accept (or that is ignored), and
//! * **cut** before the byte: finish the lexeme as a terminal it matches,
//!   feed that terminal to the parser, and start a new lexeme with the byte.
//!
//! When a branch may cut depends on the grammar's [`Lexing`]: with
//! `AnySplit` (GBNF, regex) wherever the lexeme matches a terminal the parser
//! accepts — both hypotheses live on, which is exactly the semantics of a
//! context-free grammar over characters. With `Greedy` (Lark) only where the
//! byte cannot extend the lexeme: lexemes are longest matches, and ties go to
//! the higher priority, then to literals over patterns.
//!
//! A branch survives only if it can still finish, so the set of branches is
//! non-empty exactly when the input is a viable prefix — exact for
//! `AnySplit` grammars. For `Greedy` grammars it is exact whenever a
//! finished lexeme can always be followed by a byte that does not extend it
//! (true of the grammars people write; see "The lexing rule" in the crate
//! docs).
//!
//! Branches that end up identical are merged (the GLR driver merges all
//! branches with the same lexer state into one graph-structured stack), so
//! ambiguity costs memory proportional to the number of distinct
//! configurations, not of parses.

mod gss;
mod lr_stack;
pub mod walk;

use std::sync::Arc;

use smallvec::SmallVec;

use crate::ebnf::Lexing;
use crate::lexer::LexerDfa;
use crate::tables::{CompiledGrammar, Driver, Tables};

pub(crate) use gss::Frontier;
pub(crate) use lr_stack::LrStack;

/// What a parser configuration must answer for the matcher. Implemented by
/// the deterministic LR stack and by the GLR frontier.
pub(crate) trait Parser: Clone {
    fn initial(tables: &Tables) -> Self;
    /// Can a lexeme in lexer state `lex` still become a terminal this
    /// configuration accepts (or an ignored one)?
    fn alive(&self, tables: &Tables, lex: u32) -> bool;
    /// The terminals a lexeme ending in `lex` may be cut as, here.
    fn candidates(&self, tables: &Tables, lex: u32, out: &mut SmallVec<[u32; 4]>);
    /// The configuration after `terminal`, kept only if the parser accepts
    /// the terminal and a lexeme in state `lex` is then alive. `None` also
    /// when the step would cost more than `work` has left
    /// ([`Work::exhausted`] tells).
    fn feed_alive(self, tables: &Tables, terminal: u32, lex: u32, work: &mut Work) -> Option<Self>;
    /// [`Parser::feed_alive`] in place; on false `self` is unspecified and
    /// must be dropped.
    fn feed_alive_in_place(&mut self, tables: &Tables, terminal: u32, lex: u32, work: &mut Work) -> bool;
    /// Can the parse end here?
    fn accepts_eof(&self, tables: &Tables) -> bool;
    /// Feeding `terminal` followed by `accepts_eof()` (not counted as
    /// work: it is asked once per question, not once per byte).
    fn accepts_eof_after(&self, tables: &Tables, terminal: u32) -> bool;
    /// Makes `self` also stand for `other`'s stacks if it can; returns
    /// whether `other` is now covered and can be dropped.
    fn absorb(&mut self, other: &Self) -> bool;
}

#[derive(Clone, Debug)]
pub(crate) struct Branch<P> {
    lex: u32,
    parser: P,
}

type Branches<P> = SmallVec<[Branch<P>; 1]>;

#[derive(Clone, Debug)]
enum State {
    Lr(Branches<LrStack>),
    Glr(Branches<Frontier>),
}

/// Why the matcher refused input. The matcher is left exactly as it was
/// before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The input stops being a viable prefix at byte `offset` of the bytes
    /// passed in (that byte cannot follow what came before).
    #[error("input is not a viable prefix: byte {offset} cannot follow what came before")]
    Rejected { offset: usize },
    /// The grammar is so ambiguous here that more than the configured number
    /// of lexing/parsing hypotheses are alive at byte `offset`.
    #[error("too ambiguous: more than {limit} hypotheses alive at byte {offset}")]
    TooAmbiguous { offset: usize, limit: usize },
    /// The lazy lexer ran out of room for new DFA states at byte `offset`:
    /// it holds `limit` already (see
    /// [`LexerLimits::lazy_states`](crate::LexerLimits::lazy_states)).
    #[error(
        "the lazy lexer is out of states at byte {offset}: it has its limit of {limit} (`LexerLimits::lazy_states`)"
    )]
    LexerLimit { offset: usize, limit: usize },
    /// The grammar is so ambiguous here that the GLR parser needed more
    /// than `limit` steps for byte `offset` (see
    /// [`MatcherLimits::max_glr_steps`](crate::MatcherLimits::max_glr_steps)).
    #[error("too ambiguous: the GLR parser needed more than {limit} steps at byte {offset}")]
    ParserLimit { offset: usize, limit: usize },
}

/// The steps the GLR driver may still take on the current byte
/// ([`MatcherLimits::max_glr_steps`](crate::MatcherLimits::max_glr_steps));
/// the deterministic driver takes none.
#[derive(Debug)]
pub(crate) struct Work {
    left: usize,
    exhausted: bool,
}

impl Work {
    pub(crate) fn new(limit: usize) -> Work {
        Work { left: limit, exhausted: false }
    }

    pub(crate) fn unlimited() -> Work {
        Work::new(usize::MAX)
    }

    /// Takes `steps` from the budget; false (and exhausted from then on)
    /// if there are not that many left.
    #[inline]
    pub(crate) fn spend(&mut self, steps: usize) -> bool {
        match self.left.checked_sub(steps) {
            Some(left) if !self.exhausted => {
                self.left = left;
                true
            }
            _ => {
                self.exhausted = true;
                false
            }
        }
    }

    /// Whether a step was refused: a `None` from a feed means "gave up",
    /// not "rejected".
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted
    }
}

/// Asked to roll back more steps than are kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot roll back {requested} steps: only {available} are kept")]
pub struct RollbackError {
    pub requested: usize,
    pub available: usize,
}

/// The verdict on a whole input, as `trellis check` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The input is in the language.
    Complete,
    /// The input is a viable prefix (a prefix of something in the
    /// language) but not in it.
    Prefix,
    /// The input stops being a viable prefix at byte `offset`.
    Rejected { offset: usize },
    /// The check gave up at byte `offset`: the grammar was too ambiguous on
    /// this input (too many hypotheses, or too much GLR work for one byte),
    /// or the lazy lexer ran out of states. Nothing is known about the
    /// input.
    GaveUp { offset: usize },
}

impl Verdict {
    /// Whether the input is in the language.
    pub fn is_complete(self) -> bool {
        self == Verdict::Complete
    }

    /// Whether the input is a viable prefix (complete inputs are).
    pub fn is_prefix(self) -> bool {
        matches!(self, Verdict::Complete | Verdict::Prefix)
    }

    /// Where the input stopped being viable, or where the check gave up.
    pub fn error_offset(self) -> Option<usize> {
        match self {
            Verdict::Rejected { offset } | Verdict::GaveUp { offset } => Some(offset),
            Verdict::Complete | Verdict::Prefix => None,
        }
    }

    /// Whether the check gave up ([`Verdict::GaveUp`]).
    pub fn gave_up(self) -> bool {
        matches!(self, Verdict::GaveUp { .. })
    }
}

impl CompiledGrammar {
    /// A matcher at the start of the input.
    pub fn matcher(&self) -> Matcher {
        Matcher::new(self.clone())
    }

    /// Checks a whole input from the start.
    pub fn check(&self, input: &[u8]) -> Verdict {
        let mut matcher = self.matcher();
        match matcher.advance(input) {
            Ok(()) if matcher.is_complete() => Verdict::Complete,
            Ok(()) => Verdict::Prefix,
            Err(MatchError::Rejected { offset }) => Verdict::Rejected { offset },
            Err(
                MatchError::TooAmbiguous { offset, .. }
                | MatchError::LexerLimit { offset, .. }
                | MatchError::ParserLimit { offset, .. },
            ) => Verdict::GaveUp { offset },
        }
    }

    /// Whether `input` is in the language.
    pub fn accepts(&self, input: &[u8]) -> bool {
        self.check(input).is_complete()
    }
}

/// A snapshot of the matcher before one `advance` call.
#[derive(Debug)]
struct Snapshot {
    state: State,
    consumed: u64,
    previous: Option<Arc<Snapshot>>,
}

/// A cursor over a [`CompiledGrammar`]: the state after some bytes.
///
/// Cheap to fork ([`Clone`] is O(1): shared persistent stacks and history),
/// `Send + Sync`, and rolls back the last steps (an `advance` call is one
/// step; up to the grammar's `max_rollback` steps are kept).
///
/// ```
/// use trellis_grammars::{CompiledGrammar, Format};
///
/// let grammar = CompiledGrammar::new(r#"root ::= "(" root ")" | "x""#, Format::Gbnf)?;
/// let mut matcher = grammar.matcher();
/// matcher.advance(b"((x")?;
/// assert!(!matcher.is_complete());
/// let fork = matcher.clone();
/// matcher.advance(b"))")?;
/// assert!(matcher.is_complete());
/// assert!(!fork.is_complete());
/// assert!(matcher.advance(b")").is_err()); // refused: state unchanged
/// matcher.rollback(1)?;
/// assert!(!matcher.is_complete());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Matcher {
    grammar: CompiledGrammar,
    state: State,
    consumed: u64,
    history: Option<Arc<Snapshot>>,
    history_len: usize,
}

impl Matcher {
    pub(crate) fn new(grammar: CompiledGrammar) -> Matcher {
        let tables = grammar.tables();
        let state = match tables.driver {
            Driver::Deterministic => {
                State::Lr(SmallVec::from_elem(Branch { lex: LexerDfa::START, parser: LrStack::initial(tables) }, 1))
            }
            Driver::Generalized => {
                State::Glr(SmallVec::from_elem(Branch { lex: LexerDfa::START, parser: Frontier::initial(tables) }, 1))
            }
        };
        Matcher { grammar, state, consumed: 0, history: None, history_len: 0 }
    }

    /// The grammar this matcher runs over.
    pub fn grammar(&self) -> &CompiledGrammar {
        &self.grammar
    }

    /// Consumes `bytes` as one step. On success the input so far is still a
    /// viable prefix. On error nothing changes.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<(), MatchError> {
        let tables = self.grammar.tables();
        let saved = self.state.clone();
        let result = match &mut self.state {
            State::Lr(branches) => run(tables, branches, bytes),
            State::Glr(branches) => run(tables, branches, bytes),
        };
        match result {
            Ok(()) => {
                self.push_history(saved);
                self.consumed += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                self.state = saved;
                Err(error)
            }
        }
    }

    /// Whether `bytes` could be consumed now (the input would stay a viable
    /// prefix), without consuming them.
    pub fn accepts_prefix(&self, bytes: &[u8]) -> bool {
        self.check(bytes).is_ok()
    }

    /// Like [`Self::accepts_prefix`], but says where the input would stop
    /// being viable.
    pub fn check(&self, bytes: &[u8]) -> Result<(), MatchError> {
        let tables = self.grammar.tables();
        let mut state = self.state.clone();
        match &mut state {
            State::Lr(branches) => run(tables, branches, bytes),
            State::Glr(branches) => run(tables, branches, bytes),
        }
    }

    /// Whether the input so far is a complete string of the language.
    pub fn is_complete(&self) -> bool {
        let tables = self.grammar.tables();
        match &self.state {
            State::Lr(branches) => complete(tables, branches),
            State::Glr(branches) => complete(tables, branches),
        }
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// How many steps [`Self::rollback`] can undo now.
    pub fn rollback_available(&self) -> usize {
        self.history_len
    }

    /// Undoes the last `steps` calls to [`Self::advance`].
    pub fn rollback(&mut self, steps: usize) -> Result<(), RollbackError> {
        if steps > self.history_len {
            return Err(RollbackError { requested: steps, available: self.history_len });
        }
        for _ in 0..steps {
            let Some(snapshot) = self.history.take() else { break };
            self.state = snapshot.state.clone();
            self.consumed = snapshot.consumed;
            self.history = snapshot.previous.clone();
            self.history_len -= 1;
        }
        Ok(())
    }

    /// Resets to the empty input (and forgets the history).
    pub fn reset(&mut self) {
        *self = Matcher::new(self.grammar.clone());
    }

    /// The number of live lexing/parsing hypotheses (1 for unambiguous
    /// input); for diagnostics and benchmarks.
    pub fn branch_count(&self) -> usize {
        match &self.state {
            State::Lr(branches) => branches.len(),
            State::Glr(branches) => branches.len(),
        }
    }

    fn push_history(&mut self, state: State) {
        let limit = self.grammar.tables().limits.max_rollback;
        if limit == 0 {
            return;
        }
        self.history = Some(Arc::new(Snapshot { state, consumed: self.consumed, previous: self.history.take() }));
        self.history_len += 1;
        // Keep between `limit` and `2 * limit` snapshots: rebuilding the
        // newest `limit` every `limit` steps is O(1) amortized, and keeps
        // forks O(1) since the list stays persistent.
        if self.history_len > 2 * limit {
            let mut kept: Vec<(State, u64)> = Vec::with_capacity(limit);
            let mut node = self.history.as_deref();
            while let Some(snapshot) = node {
                if kept.len() == limit {
                    break;
                }
                kept.push((snapshot.state.clone(), snapshot.consumed));
                node = snapshot.previous.as_deref();
            }
            let mut rebuilt: Option<Arc<Snapshot>> = None;
            for (state, consumed) in kept.into_iter().rev() {
                rebuilt = Some(Arc::new(Snapshot { state, consumed, previous: rebuilt }));
            }
            self.history = rebuilt;
            self.history_len = limit;
        }
    }
}

/// How one branch's lexeme meets the next byte, before any cut is made.
pub(crate) enum Extension {
    /// The byte extends the lexeme and no cut needs considering: the
    /// branch simply moves to this lexer state (the fast path).
    Extends(u32),
    /// The lexeme may end before the byte; `extends` says whether the
    /// branch could also extend it (any-split lexing keeps both).
    Cut { extends: bool },
    /// Neither: the branch dies.
    Dead,
    /// The lazy lexer is out of states.
    Overflow,
}

/// Classifies `byte` after a lexeme in state `lex` whose parser makes
/// `alive(state)` say whether a lexeme in `state` can still become an
/// acceptable terminal. Shared by the matcher and the mask walkers, so that
/// they take exactly the same steps.
#[inline]
pub(crate) fn lexeme_extension(tables: &Tables, lex: u32, byte: u8, alive: impl FnOnce(u32) -> bool) -> Extension {
    let lexer = &tables.lexer;
    let extended = lexer.next(lex, byte);
    if extended == LexerDfa::OVERFLOW {
        return Extension::Overflow;
    }
    let may_cut = lex != LexerDfa::START && lexer.is_accepting(lex) && tables.cut_possible(lex, byte);
    let extends = extended != LexerDfa::DEAD && alive(extended);
    match (extends, may_cut) {
        (true, false) => Extension::Extends(extended),
        (true, true) if tables.lexing == Lexing::Greedy => Extension::Extends(extended),
        (false, false) => Extension::Dead,
        (extends, true) => Extension::Cut { extends },
    }
}

/// Runs the branches over `bytes`; on error the branches are garbage.
fn run<P: Parser>(tables: &Tables, branches: &mut Branches<P>, bytes: &[u8]) -> Result<(), MatchError> {
    let lexer = &tables.lexer;
    let greedy = tables.lexing == Lexing::Greedy;
    let mut next: Branches<P> = SmallVec::new();
    let mut candidates: SmallVec<[u32; 4]> = SmallVec::new();
    let limit = tables.limits.max_glr_steps;
    // The budget is per byte, shared by every branch; it is renewed where a
    // byte may feed the parser, not on the fast path that only extends a
    // lexeme: renewed on every byte, checking the JSON corpus with
    // `json.gbnf` took 5% more instructions (callgrind).
    let mut work = Work::new(limit);
    for (offset, &byte) in bytes.iter().enumerate() {
        // Fast path: one branch with one way forward, updated in place.
        // Either it extends its lexeme (greedy lexing; or any-split lexing
        // where no cut is possible), or it cannot and is cut as a single
        // candidate terminal. This is most bytes of most inputs.
        if let [branch] = branches.as_mut_slice() {
            let lex = branch.lex;
            match lexeme_extension(tables, lex, byte, |extended| branch.parser.alive(tables, extended)) {
                Extension::Extends(extended) => {
                    branch.lex = extended;
                    continue;
                }
                Extension::Overflow => return Err(lexer_limit(tables, offset)),
                Extension::Dead => return Err(MatchError::Rejected { offset }),
                // Both ways forward live: the general path keeps both.
                Extension::Cut { extends: true } => {}
                Extension::Cut { extends: false } => {
                    let restarted = lexer.next(LexerDfa::START, byte);
                    match restarted {
                        LexerDfa::OVERFLOW => return Err(lexer_limit(tables, offset)),
                        LexerDfa::DEAD => return Err(MatchError::Rejected { offset }),
                        _ => {}
                    }
                    branch.parser.candidates(tables, lex, &mut candidates);
                    candidates.retain(|&mut t| tables.is_ignored(t) || tables.may_follow(t, restarted));
                    if let [terminal] = candidates[..] {
                        let fed = if tables.is_ignored(terminal) {
                            branch.parser.alive(tables, restarted)
                        } else {
                            work = Work::new(limit);
                            branch.parser.feed_alive_in_place(tables, terminal, restarted, &mut work)
                        };
                        if !fed {
                            return Err(gave_up(&work, tables, offset));
                        }
                        branch.lex = restarted;
                        continue;
                    }
                    // Several candidates, or none: the general path decides.
                }
            }
        }
        work = Work::new(limit);
        next.clear();
        for branch in branches.drain(..) {
            let lex = branch.lex;
            let extended = lexer.next(lex, byte);
            if extended == LexerDfa::OVERFLOW {
                return Err(lexer_limit(tables, offset));
            }
            let extends = extended != LexerDfa::DEAD && branch.parser.alive(tables, extended);
            let mut parser = Some(branch.parser);
            if lex != LexerDfa::START
                && (!greedy || !extends)
                && lexer.is_accepting(lex)
                && tables.cut_possible(lex, byte)
            {
                let restarted = lexer.next(LexerDfa::START, byte);
                if restarted == LexerDfa::OVERFLOW {
                    return Err(lexer_limit(tables, offset));
                }
                if let Some(base) = parser.as_ref().filter(|_| restarted != LexerDfa::DEAD) {
                    base.candidates(tables, lex, &mut candidates);
                    candidates.retain(|&mut t| tables.is_ignored(t) || tables.may_follow(t, restarted));
                }
                let count = candidates.len();
                for (index, &terminal) in candidates.iter().enumerate() {
                    // The last use of the parser takes it instead of a copy.
                    let base = if index + 1 == count && !extends { parser.take() } else { parser.clone() };
                    let Some(base) = base else { break };
                    if tables.is_ignored(terminal) {
                        if base.alive(tables, restarted) {
                            add(&mut next, Branch { lex: restarted, parser: base }, tables, offset)?;
                        }
                    } else if let Some(fed) = base.feed_alive(tables, terminal, restarted, &mut work) {
                        add(&mut next, Branch { lex: restarted, parser: fed }, tables, offset)?;
                    } else if work.exhausted() {
                        return Err(gave_up(&work, tables, offset));
                    }
                }
                candidates.clear();
            }
            if let Some(parser) = parser.filter(|_| extends) {
                add(&mut next, Branch { lex: extended, parser }, tables, offset)?;
            }
        }
        std::mem::swap(branches, &mut next);
        if branches.is_empty() {
            return Err(MatchError::Rejected { offset });
        }
    }
    Ok(())
}

/// The lazy lexer is out of states (cold: kept out of `run`'s loop).
#[cold]
#[inline(never)]
fn lexer_limit(tables: &Tables, offset: usize) -> MatchError {
    MatchError::LexerLimit { offset, limit: tables.lexer.state_capacity() }
}

/// A feed failed: the parser refused the terminal, or ran out of `work`.
#[cold]
#[inline(never)]
fn gave_up(work: &Work, tables: &Tables, offset: usize) -> MatchError {
    if work.exhausted() {
        MatchError::ParserLimit { offset, limit: tables.limits.max_glr_steps }
    } else {
        MatchError::Rejected { offset }
    }
}

/// Adds a branch unless an existing one with the same lexer state covers it.
fn add<P: Parser>(
    branches: &mut Branches<P>,
    branch: Branch<P>,
    tables: &Tables,
    offset: usize,
) -> Result<(), MatchError> {
    for existing in branches.iter_mut() {
        if existing.lex == branch.lex && existing.parser.absorb(&branch.parser) {
            return Ok(());
        }
    }
    branches.push(branch);
    let limit = tables.limits.max_branches;
    if branches.len() > limit {
        return Err(MatchError::TooAmbiguous { offset, limit });
    }
    Ok(())
}

fn complete<P: Parser>(tables: &Tables, branches: &Branches<P>) -> bool {
    let mut candidates: SmallVec<[u32; 4]> = SmallVec::new();
    branches.iter().any(|branch| {
        if branch.lex == LexerDfa::START {
            return branch.parser.accepts_eof(tables);
        }
        if !tables.lexer.is_accepting(branch.lex) {
            return false;
        }
        branch.parser.candidates(tables, branch.lex, &mut candidates);
        candidates.iter().any(|&terminal| {
            if tables.is_ignored(terminal) {
                branch.parser.accepts_eof(tables)
            } else {
                branch.parser.accepts_eof_after(tables, terminal)
            }
        })
    })
}
