//! Grammar formats (GBNF, Lark, regex, JSON Schema) compiled to a lexer DFA
//! and LR(1) tables, and an exact byte-level matcher over them.
pub mod ebnf;
pub mod error;
pub mod gbnf;
pub mod ir;
pub mod json_schema;
pub mod lark;
pub mod lexer;
pub mod lower;
pub mod lr;
pub mod regex_constraint;
pub mod span;

mod bitset;
mod compile;
mod matcher;

pub use compile::{CompiledGrammar, Config, Format, MatcherLimits, Stats, Verdict};
pub use error::{ErrorKind, GrammarError};
pub use json_schema::{JsonSchemaOptions, Whitespace};
pub use lr::Conflict;
pub use matcher::{
    ByteWalker, LexState, LexemeKey, LexemeStep, LexemeWalker, MatchError, Matcher, RollbackError, StackProbe,
    StateKey, StateKeyRef,
};
pub use span::Span;
