//! String literals and character ranges: from their source text to the
//! leaves of the EBNF.
//!
//! Lark reads the inside of `"..."` with Python's string escapes, but only
//! some of them (`lark/load_grammar.py`, `eval_escaping`): `\\`, `\"`, `\n`,
//! `\t`, `\r`, `\f`, `\xHH`, `\uHHHH` and `\UHHHHHHHH` are replaced; a
//! backslash before any other character stays in the string, backslash
//! and all (`"\d"` is the two characters `\` `d`, `"\a"` is not a bell).

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir};

use super::lexer::StringLiteral;
use crate::ebnf::{Expr, ExprKind};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Unescapes the text between the quotes of a string literal. `offset` is
/// where `content` starts in the grammar, for error spans.
pub(super) fn unescape(content: &str, offset: usize) -> Result<String, GrammarError> {
    let mut value = String::with_capacity(content.len());
    let mut chars = content.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            value.push(c);
            continue;
        }
        let escape_start = offset + at;
        let Some((_, escaped)) = chars.next() else {
            // The lexer never ends a literal after an odd backslash (it
            // would escape the closing quote), but stay total.
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                Span::new(escape_start, escape_start + 1),
                "a string literal cannot end with a lone backslash",
            ));
        };
        let digits = match escaped {
            '\\' | '"' => {
                value.push(escaped);
                continue;
            }
            'n' => {
                value.push('\n');
                continue;
            }
            't' => {
                value.push('\t');
                continue;
            }
            'r' => {
                value.push('\r');
                continue;
            }
            'f' => {
                value.push('\x0c');
                continue;
            }
            'x' => 2,
            'u' => 4,
            'U' => 8,
            other => {
                value.push('\\');
                value.push(other);
                continue;
            }
        };
        let mut code = 0u32;
        let mut taken = 0;
        while taken < digits {
            let Some(digit) = chars.clone().next().and_then(|(_, d)| d.to_digit(16)) else {
                break;
            };
            chars.next();
            code = code * 16 + digit;
            taken += 1;
        }
        let escape_end = escape_start + 2 + taken;
        let span = Span::new(escape_start, escape_end);
        if taken < digits {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                span,
                format!("truncated `\\{escaped}` escape: it takes exactly {digits} hex digits"),
            ));
        }
        let Some(decoded) = char::from_u32(code) else {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                span,
                format!("`\\{escaped}` escape of U+{code:04X}, which is not a Unicode scalar value"),
            )
            .with_help("surrogates and values above U+10FFFF cannot be encoded as UTF-8"));
        };
        value.push(decoded);
    }
    Ok(value)
}

/// A string literal as an expression.
pub(super) fn string(literal: StringLiteral, span: Span) -> Expr {
    let StringLiteral { value, case_insensitive } = literal;
    Expr::new(ExprKind::Literal { value, case_insensitive }, span)
}

/// `"a".."z"`: the characters from one single-character literal to
/// another, inclusive.
///
/// Lark pastes the two literals' source text into a Python class
/// `[a-z]`, so an endpoint such as `"^"` or `"]"` changes the class's
/// meaning there; Trellis takes the two characters for what they are.
pub(super) fn range(from: (StringLiteral, Span), to: (StringLiteral, Span), span: Span) -> Result<Expr, GrammarError> {
    let low = endpoint(&from)?;
    let high = endpoint(&to)?;
    if low > high {
        return Err(GrammarError::at(
            ErrorKind::Regex,
            span,
            format!("the range {:?}..{:?} is empty: its first character comes after its last", low, high),
        )
        .with_help("write the smaller endpoint first"));
    }
    let class = ClassUnicode::new([ClassUnicodeRange::new(low, high)]);
    Ok(Expr::new(ExprKind::Pattern(Hir::class(Class::Unicode(class))), span))
}

fn endpoint((literal, span): &(StringLiteral, Span)) -> Result<char, GrammarError> {
    if literal.case_insensitive {
        return Err(GrammarError::at(ErrorKind::Syntax, *span, "a range endpoint cannot take the `i` flag")
            .with_help("list both cases instead: `\"a\"..\"z\" | \"A\"..\"Z\"`"));
    }
    let mut chars = literal.value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(GrammarError::at(
            ErrorKind::Syntax,
            *span,
            format!("a range endpoint must be a single character, not {:?}", literal.value),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(content: &str) -> String {
        unescape(content, 0).unwrap()
    }

    #[test]
    fn python_escapes_are_replaced() {
        assert_eq!(unescaped(r#"a\"b"#), "a\"b");
        assert_eq!(unescaped(r"a\\b"), "a\\b");
        assert_eq!(unescaped(r"\n\t\r\f"), "\n\t\r\x0c");
        assert_eq!(unescaped(r"\x41\u00e9\U0001F600"), "Aé😀");
        assert_eq!(unescaped(r"\x4a\x4A"), "JJ");
    }

    #[test]
    fn other_escapes_keep_their_backslash() {
        // As in lark: `\d`, `\a`, `\'`, `\0`, `\N{...}` are not replaced.
        assert_eq!(unescaped(r"\d\a\'\0\N{DIGIT ONE}"), r"\d\a\'\0\N{DIGIT ONE}");
        // An escaped backslash does not escape what follows it.
        assert_eq!(unescaped(r"\\n"), r"\n");
        assert_eq!(unescaped(r"\\\q"), r"\\q");
        assert_eq!(unescaped(r"\\\\"), r"\\");
    }

    #[test]
    fn bad_escapes_point_at_the_escape() {
        let err = unescape(r"ab\x4", 10).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Syntax);
        assert_eq!(err.span, Some(Span::new(12, 15)));
        assert!(err.message.contains("2 hex digits"), "{}", err.message);

        let err = unescape(r"\u12G4", 0).unwrap_err();
        assert_eq!(err.span, Some(Span::new(0, 4)));

        let err = unescape(r"\ud800", 0).unwrap_err();
        assert!(err.message.contains("U+D800"), "{}", err.message);
        let err = unescape(r"\U00110000", 0).unwrap_err();
        assert_eq!(err.span, Some(Span::new(0, 10)));

        let err = unescape("a\\", 0).unwrap_err();
        assert_eq!(err.span, Some(Span::new(1, 2)));
    }

    fn lit(value: &str, case_insensitive: bool) -> (StringLiteral, Span) {
        (StringLiteral { value: value.to_string(), case_insensitive }, Span::new(0, 3))
    }

    #[test]
    fn ranges_are_classes() {
        let expr = range(lit("a", false), lit("f", false), Span::new(0, 8)).unwrap();
        let ExprKind::Pattern(hir) = expr.kind else { panic!("not a pattern: {expr:?}") };
        assert_eq!(hir.to_string(), "[a-f]");
        // `^` is not a negation here (it is in lark's pasted class).
        let expr = range(lit("^", false), lit("z", false), Span::new(0, 8)).unwrap();
        let ExprKind::Pattern(hir) = expr.kind else { panic!("not a pattern: {expr:?}") };
        assert_eq!(hir.to_string(), "[\\^-z]");
    }

    #[test]
    fn bad_ranges_are_errors() {
        let err = range(lit("z", false), lit("a", false), Span::new(0, 8)).unwrap_err();
        assert_eq!((err.kind, err.span), (ErrorKind::Regex, Some(Span::new(0, 8))));
        let err = range(lit("ab", false), lit("z", false), Span::new(0, 8)).unwrap_err();
        assert_eq!((err.kind, err.span), (ErrorKind::Syntax, Some(Span::new(0, 3))));
        let err = range(lit("a", true), lit("z", false), Span::new(0, 8)).unwrap_err();
        assert!(err.message.contains("`i` flag"), "{}", err.message);
    }
}
