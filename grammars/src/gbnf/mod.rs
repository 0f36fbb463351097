//! GBNF, the grammar format of llama.cpp.
use crate::ebnf::Ebnf;
use crate::error::{ErrorKind, GrammarError};

/// Parses GBNF text into EBNF.
pub fn parse(_text: &str) -> Result<Ebnf, GrammarError> {
    Err(GrammarError::new(ErrorKind::Unsupported, "the GBNF front-end is being written"))
}
