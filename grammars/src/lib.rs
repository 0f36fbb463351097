//! Grammar formats compiled to a lexer DFA and LR(1) tables, and an exact
//! byte-level matcher over them.
pub mod ebnf;
pub mod error;
pub mod gbnf;
pub mod ir;
pub mod lark;
pub mod span;

pub use error::{ErrorKind, GrammarError};
pub use span::Span;
