//! Regex constraints: the whole output must match a regular expression.
//!
//! The syntax and semantics are the `regex` crate's (Unicode-aware, `.`
//! does not match `\n` unless `(?s)`), and the match is **fully anchored**:
//! the entire text must match, as if the pattern were wrapped in
//! `\A(?:...)\z`. Anchors and ASCII word boundaries inside the pattern keep
//! their meaning relative to the whole text; Unicode word boundaries (`\b`
//! with Unicode on) cannot be compiled to a DFA and are refused with a hint
//! to use `(?-u:\b)`.
//!
//! A `.regex` file holds one pattern; a single trailing newline (`\n` or
//! `\r\n`) is not part of it.

use regex_syntax::ParserBuilder;

use crate::ebnf::{Ebnf, Expr, ExprKind, Lexing, RuleDef};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Parses a regex constraint into EBNF: one rule, `root`, whose body is the
/// pattern.
pub fn parse(text: &str) -> Result<Ebnf, GrammarError> {
    let pattern = text.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(text);
    let hir = ParserBuilder::new().build().parse(pattern).map_err(|error| regex_error(&error, pattern))?;
    let span = Span::new(0, pattern.len());
    Ok(Ebnf {
        lexing: Lexing::AnySplit,
        rules: vec![RuleDef { name: "root".into(), name_span: span, body: Expr::new(ExprKind::Pattern(hir), span) }],
        terminals: Vec::new(),
        ignore: Vec::new(),
        start: "root".into(),
    })
}

/// Turns a regex-syntax error into a grammar error pointing into the
/// pattern.
pub(crate) fn regex_error(error: &regex_syntax::Error, pattern: &str) -> GrammarError {
    let (message, span) = match error {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), Some(e.span())),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), Some(e.span())),
        other => (other.to_string(), None),
    };
    let mut result = GrammarError::new(ErrorKind::Regex, message.clone());
    if let Some(span) = span {
        let start = span.start.offset.min(pattern.len());
        let end = span.end.offset.clamp(start, pattern.len());
        result = result.with_span(Span::new(start, end));
    }
    if message.contains("look-around") || message.contains("backreference") {
        result = result
            .with_help("look-around and backreferences are not regular; Trellis compiles every constraint to a DFA");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newline_is_not_part_of_the_pattern() {
        let ebnf = parse("a+\n").unwrap();
        let ExprKind::Pattern(hir) = &ebnf.rules[0].body.kind else { panic!() };
        assert_eq!(hir.to_string(), regex_syntax::parse("a+").unwrap().to_string());
    }

    #[test]
    fn errors_point_into_the_pattern() {
        let error = parse("ab(?=c)").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Regex);
        assert_eq!(error.span, Some(Span::new(2, 5)));
        assert!(error.help.is_some());
    }
}
