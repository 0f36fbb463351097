//! Grammars as exact byte-level recognizers: GBNF, Lark-style EBNF, regular
//! expressions and JSON Schemas, compiled to one lexer DFA and LR(1)
//! tables, and a matcher that says after every byte whether the input can
//! still be completed.
//!
//! # The pipeline
//!
//! A constraint is a language: a set of byte strings. Whatever its format,
//! it goes through the same stages, each a named type:
//!
//! 1. [`Source`]: the text, its [`Format`] and the [`SourceOptions`] that
//!    define its language (JSON Schema's lenient mode and whitespace policy,
//!    ASCII-only `\d` `\w` `\s` for regexes and Lark).
//! 2. [`ebnf::Ebnf`]: every format parses into one AST — [`gbnf::parse`],
//!    [`lark::parse`], [`regex_constraint::parse`],
//!    [`json_schema::compile_json_schema`] (which reports the keywords it
//!    does not enforce as [`Warning`]s: those lenient mode dropped, and
//!    unknown ones that look like typos). [`Source::parse`] picks the parser
//!    and passes it the options ([`lark::parse_with`],
//!    [`regex_constraint::parse_with`]). A UTF-8 byte-order mark at the start
//!    of the text is skipped by every format.
//! 3. [`ir::Grammar`]: the EBNF lowered to BNF over terminals that are
//!    regular expressions. GBNF's rules that are not recursive are inlined
//!    into terminals, so the parser sees only the recursive skeleton.
//! 4. The lexer (one DFA for all terminals, states built on first use or
//!    all up front) and canonical LR(1) tables, merged; conflicts are kept,
//!    reported as [`Conflict`]s, and run by a GLR driver.
//! 5. [`CompiledGrammar`]: those tables, immutable, `Send + Sync`, shared
//!    by an `Arc`; [`Stats`] describes them.
//! 6. [`Matcher`]: a cursor over the compiled grammar — [`Matcher::advance`]
//!    by bytes, [`Matcher::is_complete`], O(1) forks ([`Clone`]),
//!    [`Matcher::rollback`]. [`CompiledGrammar::check`] runs one over a
//!    whole input and gives a [`Verdict`].
//!
//! [`Config`] holds the limits of every stage (and whether the lexer is
//! built eagerly); settings never change the language. Errors are
//! [`GrammarError`]s with a [`Span`] and often a hint;
//! [`GrammarError::render`] (or [`Source::render`]) gives the
//! `file:line:column` report with a caret.
//!
//! # The lexing rule
//!
//! The matcher runs the lexer and the parser together one byte at a time
//! over a small set of *branches*, hypotheses about where lexemes end. How
//! a lexeme may end is fixed by the format ([`ebnf::Lexing`]):
//!
//! * **Any split** (GBNF, regex, JSON Schema): a lexeme may end wherever it
//!   matches a terminal the parser can take next, and both hypotheses live
//!   on. This is exactly the semantics of a context-free grammar over
//!   characters, so the matcher is exact: a branch survives iff the input
//!   is a viable prefix.
//! * **Greedy** (Lark): a lexeme ends exactly where the next byte cannot
//!   continue any terminal the parser could accept here (or an ignored
//!   one), and must then match an acceptable terminal; ties go to the
//!   higher priority, then to a literal over a pattern. This is lark's
//!   contextual lexer with longest match, except that Trellis never
//!   backtracks to a shorter lexeme. It is exact whenever a finished lexeme
//!   can always be followed by a byte that does not extend it, which holds
//!   for the grammars people write.
//!
//! Branches that end up identical are merged, so ambiguity costs memory in
//! proportion to the distinct configurations, not to the parses; past
//! [`MatcherLimits::max_branches`] a matcher gives up with
//! [`MatchError::TooAmbiguous`]. The GLR driver's stacks merge equal
//! states too, which keeps its work per byte polynomial (cubic overall at
//! worst); past [`MatcherLimits::max_glr_steps`] on one byte it gives up
//! with [`MatchError::ParserLimit`].
//!
//! # Example
//!
//! From text to a verdict, and a matcher that forks and rolls back:
//!
//! ```
//! use trellis_grammars::{Config, Format, Source, Verdict};
//!
//! let source = Source::new(Format::Gbnf, r#"
//! root   ::= "[" (number ("," number)*)? "]"
//! number ::= [0-9]+
//! "#);
//! let (grammar, _warnings) = source.compile(&Config::default())?;
//! assert_eq!(grammar.check(b"[1,22]"), Verdict::Complete);
//! assert_eq!(grammar.check(b"[1,"), Verdict::Prefix);
//! assert_eq!(grammar.check(b"[1,]"), Verdict::Rejected { offset: 3 });
//!
//! let mut matcher = grammar.matcher();
//! matcher.advance(b"[4")?;
//! let fork = matcher.clone(); // O(1)
//! matcher.advance(b"2]")?;
//! assert!(matcher.is_complete() && !fork.is_complete());
//! matcher.rollback(1)?;
//! assert_eq!(matcher.consumed(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # For token indexes
//!
//! A token mask walks a whole vocabulary's prefix tree against a matcher
//! state. The [`walk`] module holds the walkers and state keys that
//! `trellis-token-index` drives: which parts of a mask depend on the lexer
//! state alone, and how to name a whole state by value.
//!
//! # What this crate does not do
//!
//! It knows nothing about tokens or models (that is `trellis-token-index`
//! and `trellis-engine`). It recognizes; it builds no parse trees and runs
//! no semantic actions. Terminals are regular: look-around and
//! backreferences are refused with an error, as are JSON Schema keywords a
//! grammar cannot enforce (unless lenient, which warns for each).

pub mod ebnf;
pub mod error;
pub mod gbnf;
pub mod ir;
pub mod json_schema;
pub mod lark;
pub mod regex_constraint;
pub mod span;

mod bitset;
mod compile;
mod config;
mod hir_walk;
mod lexer;
mod lower;
mod lr;
mod matcher;
mod regex_ast;
mod source;
mod tables;

pub use config::{Config, LexerLimits, LowerLimits, LrLimits, MatcherLimits};
pub use error::{ErrorKind, GrammarError};
pub use json_schema::{JsonSchemaOptions, Warning, Whitespace};
pub use lr::Conflict;
pub use matcher::walk;
pub use matcher::{MatchError, Matcher, RollbackError, Verdict};
pub use source::{Format, Source, SourceOptions};
pub use span::Span;
pub use tables::{CompiledGrammar, Stats};
