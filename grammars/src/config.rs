//! Compilation settings: the size limit of every stage and how the lexer
//! is built.
//!
//! Nothing here changes a grammar's language: a setting either leaves the
//! compiled grammar equivalent (eager or lazy lexer) or makes compiling or
//! matching stop with a clear error (a limit). What the language is — the
//! text, its format, and options such as JSON Schema's lenient mode — is a
//! [`Source`](crate::Source).

pub use crate::lexer::LexerLimits;
pub use crate::lower::LowerLimits;
pub use crate::lr::LrLimits;

/// Compilation settings, one group per stage. The defaults suit grammars
/// people write by hand and machine-generated ones up to tens of thousands
/// of rules.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Lowering EBNF to BNF: inlining and production counts.
    pub lower: LowerLimits,
    /// The lexer: eager or lazy, and its size limits.
    pub lexer: LexerLimits,
    /// LR(1) construction: the number of canonical states.
    pub lr: LrLimits,
    /// Matchers over the compiled grammar: ambiguity and rollback.
    pub matcher: MatcherLimits,
}

/// Limits for matchers over the compiled grammar.
#[derive(Clone, Copy, Debug)]
pub struct MatcherLimits {
    /// Most lexing/parsing hypotheses alive at once before
    /// [`MatchError::TooAmbiguous`](crate::MatchError::TooAmbiguous)
    /// (default 10 000). Each costs a parser configuration per byte.
    pub max_branches: usize,
    /// Most steps a matcher keeps for rollback (default 1024; 0 disables
    /// rollback). Each costs one snapshot of the branches, shared with
    /// forks.
    pub max_rollback: usize,
    /// Most steps the GLR driver may take on one byte, over all branches,
    /// before [`MatchError::ParserLimit`](crate::MatchError::ParserLimit)
    /// (default 100 000). A step is an edge of the graph-structured stack
    /// walked while reducing, or a node reduced to or shifted: about 20 ns
    /// each, so the default bounds a byte at a few milliseconds. Tables
    /// without conflicts run the deterministic driver, which never counts.
    ///
    /// Why: GLR recognition is cubic at worst. On `x ::= x x | "a"` the
    /// byte at position `i` takes about `i²` steps: without a bound 800
    /// bytes take 3.4 s and 3,000 would take minutes, while at the default
    /// the matcher gives up at byte 227, about 0.1 s in, whatever the
    /// input's length (release build, `cargo run --release -p
    /// trellis-grammars --example scaling catalan`). The GLR grammars of
    /// the test suite take at most 1,600 steps on any byte.
    pub max_glr_steps: usize,
}

impl Default for MatcherLimits {
    fn default() -> MatcherLimits {
        MatcherLimits { max_branches: 10_000, max_rollback: 1024, max_glr_steps: 100_000 }
    }
}
