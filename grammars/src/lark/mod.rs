//! Lark-style EBNF.
use crate::ebnf::Ebnf;
use crate::error::{ErrorKind, GrammarError};

/// Parses Lark text into EBNF.
pub fn parse(_text: &str) -> Result<Ebnf, GrammarError> {
    Err(GrammarError::new(ErrorKind::Unsupported, "the Lark front-end is being written"))
}
