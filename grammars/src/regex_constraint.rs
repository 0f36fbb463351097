//! Regex constraints: the whole output must match a regular expression.
//!
//! The syntax and semantics are the `regex` crate's (Unicode-aware, `.`
//! does not match `\n` unless `(?s)`), and the match is **fully anchored**:
//! the entire text must match, as if the pattern were wrapped in
//! `\A(?:...)\z`. Anchors and ASCII word boundaries inside the pattern keep
//! their meaning relative to the whole text.
//!
//! What a DFA cannot do is refused with an [`ErrorKind::Regex`] error at the
//! construct, naming it: Unicode word boundaries (`\b`, `\B`, `\<`, ... with
//! Unicode on; `(?-u:\b)` is the ASCII one, which works), look-around,
//! backreferences (`\1`, and `(?P=name)` from Python), and the PCRE
//! constructs the `regex` crate does not have: atomic groups `(?>...)`,
//! conditionals `(?(...)...)`, recursion `(?1)`, `(?&name)`, `(?P>name)`.
//!
//! With [`SourceOptions::ascii_classes`], `\d`, `\w`, `\s` and their
//! negations are ASCII-only (`[0-9]`, `[0-9A-Za-z_]`, `[\t\n\x0B\x0C\r ]`);
//! everything else stays Unicode-aware.
//!
//! A `.regex` file holds one pattern; a single trailing newline (`\n` or
//! `\r\n`) is not part of it, nor is a UTF-8 byte-order mark at its start.

use regex_syntax::ast::parse::Parser;
use regex_syntax::hir::Hir;
use regex_syntax::hir::translate::Translator;

use crate::ebnf::{Ebnf, Expr, ExprKind, Lexing, RuleDef};
use crate::error::{ErrorKind, GrammarError};
use crate::regex_ast;
use crate::source::SourceOptions;
use crate::span::{Span, skip_bom};

/// Parses a regex constraint into EBNF: one rule, `root`, whose body is the
/// pattern. The same as [`parse_with`] and the default options.
pub fn parse(text: &str) -> Result<Ebnf, GrammarError> {
    parse_with(text, &SourceOptions::default())
}

/// Parses a regex constraint with the options of its source (of which
/// only [`SourceOptions::ascii_classes`] applies).
///
/// # Errors
///
/// An [`ErrorKind::Regex`] error with the span of the problem in `text`.
pub fn parse_with(text: &str, options: &SourceOptions) -> Result<Ebnf, GrammarError> {
    let offset = skip_bom(text);
    let body = &text[offset..];
    let pattern = body.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(body);
    let hir = compile(pattern, options.ascii_classes).map_err(|error| match error.span {
        Some(span) => error.with_span(Span::new(span.start + offset, span.end + offset)),
        None => error,
    })?;
    let span = Span::new(offset, offset + pattern.len());
    Ok(Ebnf {
        lexing: Lexing::AnySplit,
        rules: vec![RuleDef { name: "root".into(), name_span: span, body: Expr::new(ExprKind::Pattern(hir), span) }],
        terminals: Vec::new(),
        ignore: Vec::new(),
        start: "root".into(),
    })
}

const WORD_BOUNDARY_HELP: &str = "whether a position is a Unicode word boundary depends on the characters \
     around it, which a DFA over bytes cannot see; use `(?-u:\\b)` for an ASCII word boundary";

/// Parses and translates `pattern`; error spans are offsets in it.
fn compile(pattern: &str, ascii_classes: bool) -> Result<Hir, GrammarError> {
    let mut ast = Parser::new().parse(pattern).map_err(|error| {
        if let Some(refusal) = regex_ast::named_refusal(pattern, &error) {
            return GrammarError::at(ErrorKind::Regex, Span::new(refusal.start, refusal.end), refusal.message)
                .with_help(refusal.help);
        }
        let error = located(pattern, error.kind().to_string(), error.span());
        match error.message.contains("look-around") {
            true => error.with_help("look-around is not regular; Trellis compiles every constraint to a DFA"),
            false => error,
        }
    })?;
    if ascii_classes {
        regex_ast::make_classes_ascii(&mut ast);
    }
    let hir = Translator::new()
        .translate(pattern, &ast)
        .map_err(|error| located(pattern, error.kind().to_string(), error.span()))?;
    if hir.properties().look_set().contains_word_unicode() {
        let error = GrammarError::new(ErrorKind::Regex, "Unicode word boundaries are not supported");
        let error = match regex_ast::unicode_word_boundary(&ast) {
            Some(span) => error.with_span(Span::new(span.start.offset, span.end.offset)),
            None => error,
        };
        return Err(error.with_help(WORD_BOUNDARY_HELP));
    }
    Ok(hir)
}

/// A regex error at regex-syntax's span, clamped to the pattern.
fn located(pattern: &str, message: String, span: &regex_syntax::ast::Span) -> GrammarError {
    let start = span.start.offset.min(pattern.len());
    let end = span.end.offset.clamp(start, pattern.len());
    GrammarError::at(ErrorKind::Regex, Span::new(start, end), message)
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

    #[test]
    fn what_a_dfa_cannot_do_is_named_where_it_is() {
        let cases = [
            (r"\bfoo\b", 0, 2, "Unicode word boundaries are not supported", "(?-u:\\b)"),
            (r"a\B", 1, 3, "Unicode word boundaries", "(?-u:\\b)"),
            (r"(?P<x>a)(?P=x)", 8, 14, "backreferences are not regular", "non-regular"),
            (r"(a)\1", 3, 5, "backreferences are not regular", "non-regular"),
            (r"(?>a+)b", 0, 3, "atomic groups are not supported", "plain group"),
            ("ab(?<=c)", 2, 6, "look-around", "not regular"),
        ];
        for (pattern, start, end, message, help) in cases {
            let error = parse(pattern).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Regex, "{pattern}");
            assert_eq!(error.span, Some(Span::new(start, end)), "{pattern}: {error}");
            assert!(error.message.contains(message), "{pattern}: {}", error.message);
            assert!(error.help.as_deref().unwrap_or("").contains(help), "{pattern}: {:?}", error.help);
        }
        // The ASCII word boundary compiles, and so does a Unicode one turned
        // off by a flag.
        assert!(parse(r"(?-u:\b)foo(?-u:\b)").is_ok());
        assert!(parse(r"(?-u)\bfoo\b").is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_pattern() {
        let ebnf = parse("\u{feff}a+\n").unwrap();
        let ExprKind::Pattern(hir) = &ebnf.rules[0].body.kind else { panic!() };
        assert_eq!(hir.to_string(), regex_syntax::parse("a+").unwrap().to_string());
        assert_eq!(ebnf.rules[0].body.span, Span::new(3, 5));
        // Errors point at the byte of the original text.
        let error = parse("\u{feff}ab(?=c)").unwrap_err();
        assert_eq!(error.span, Some(Span::new(5, 8)));
    }

    #[test]
    fn ascii_classes_apply_only_when_asked() {
        let matches = |ebnf: &Ebnf, text: &str| {
            let ExprKind::Pattern(hir) = &ebnf.rules[0].body.kind else { panic!() };
            regex::Regex::new(&format!("^(?:{hir})$")).unwrap().is_match(text)
        };
        let ascii = SourceOptions { ascii_classes: true, ..SourceOptions::default() };
        let unicode = parse(r"\d+\s\w").unwrap();
        let ascii = parse_with(r"\d+\s\w", &ascii).unwrap();
        assert!(matches(&unicode, "٣ é") && !matches(&ascii, "٣ é"));
        assert!(matches(&unicode, "12 _") && matches(&ascii, "12 _"));
        // `.` and literals stay Unicode.
        let dot = parse_with(r"é.", &SourceOptions { ascii_classes: true, ..SourceOptions::default() }).unwrap();
        assert!(matches(&dot, "éλ"));
    }
}
