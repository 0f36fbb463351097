//! Tests of the GBNF front-end: every construct, escape and error path.
//!
//! Expressions are compared through [`show`], a compact S-expression form,
//! so that a test reads like the tree it expects.

use proptest::prelude::*;
use regex_syntax::hir::{Class, Hir, HirKind, Literal};

use super::parse;
use super::tree::MAX_DEPTH;
use crate::ebnf::{Ebnf, Expr, ExprKind, Lexing};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

fn ok(text: &str) -> Ebnf {
    match parse(text) {
        Ok(ebnf) => ebnf,
        Err(error) => panic!("{text:?} should parse:\n{}", error.render("<test>", text)),
    }
}

fn err(text: &str) -> GrammarError {
    match parse(text) {
        Ok(ebnf) => panic!("{text:?} should not parse, got {:?}", ebnf.rules),
        Err(error) => error,
    }
}

/// The body of the first rule of `text`.
fn body(text: &str) -> Expr {
    ok(text).rules.swap_remove(0).body
}

/// The first rule's body of `text` in S-expression form.
fn shown(text: &str) -> String {
    show(&body(text))
}

fn show(expr: &Expr) -> String {
    let list = |head: &str, items: &[Expr]| {
        let items: Vec<String> = items.iter().map(show).collect();
        format!("({head} {})", items.join(" "))
    };
    match &expr.kind {
        ExprKind::Empty => "ε".to_owned(),
        ExprKind::Ref(name) => name.clone(),
        ExprKind::Literal { value, case_insensitive } => {
            assert!(!case_insensitive);
            format!("{value:?}")
        }
        ExprKind::Pattern(hir) => format!("/{}/", hir.to_string().escape_debug()),
        ExprKind::Seq(items) => list("seq", items),
        ExprKind::Alt(items) => list("alt", items),
        ExprKind::Repeat { expr, min, max } => match max {
            Some(max) => format!("(rep {min} {max} {})", show(expr)),
            None => format!("(rep {min} - {})", show(expr)),
        },
    }
}

/// The ranges of a class pattern, as code points. regex-syntax counts the
/// surrogates, which no `char` can be, as absent from any range: a range
/// `(0, 0x10FFFF)` holds every scalar value.
fn class_ranges(expr: &Expr) -> Vec<(u32, u32)> {
    let ExprKind::Pattern(hir) = &expr.kind else { panic!("not a pattern: {expr:?}") };
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect()
        }
        HirKind::Class(Class::Bytes(class)) if class.ranges().is_empty() => vec![],
        // regex-syntax turns a class of one character into a literal.
        HirKind::Literal(Literal(bytes)) => {
            let text = std::str::from_utf8(bytes).expect("a UTF-8 literal");
            let mut chars = text.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else { panic!("not one character: {text:?}") };
            vec![(u32::from(c), u32::from(c))]
        }
        other => panic!("not a class: {other:?}"),
    }
}

/// The ranges of the class that is the first rule's whole body.
fn class_of(text: &str) -> Vec<(u32, u32)> {
    class_ranges(&body(text))
}

fn matches_nothing(expr: &Expr) -> bool {
    matches!(&expr.kind, ExprKind::Pattern(hir) if *hir == Hir::fail())
}

/// The source text an error's span covers.
fn spanned<'t>(text: &'t str, error: &GrammarError) -> &'t str {
    let span = error.span.expect("the error has a span");
    &text[span.start..span.end]
}

fn assert_error(text: &str, kind: ErrorKind, at: &str, message: &str) -> GrammarError {
    let error = err(text);
    assert_eq!(error.kind, kind, "{text:?}: {error:?}");
    assert_eq!(spanned(text, &error), at, "{text:?}: {error:?}");
    assert!(error.message.contains(message), "{text:?}: {:?} lacks {message:?}", error.message);
    error
}

fn syntax_error(text: &str, at: &str, message: &str) -> GrammarError {
    assert_error(text, ErrorKind::Syntax, at, message)
}

fn help(error: &GrammarError) -> &str {
    error.help.as_deref().unwrap_or("")
}

// ---------------------------------------------------------------- grammars

#[test]
fn a_grammar_is_its_rules_in_order_with_root_as_start() {
    let ebnf = ok("root ::= a b\na ::= \"x\"\nb ::= [0-9]\n");
    assert_eq!(ebnf.start, "root");
    assert_eq!(ebnf.lexing, Lexing::AnySplit);
    assert!(ebnf.terminals.is_empty());
    assert!(ebnf.ignore.is_empty());
    let names: Vec<&str> = ebnf.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["root", "a", "b"]);
    assert_eq!(ebnf.rules[1].name_span, Span::new(13, 14));
    assert_eq!(show(&ebnf.rules[0].body), "(seq a b)");
}

#[test]
fn an_empty_text_has_no_rules() {
    assert!(ok("").rules.is_empty());
    assert!(ok("\n\n  # only a comment\n\r\n").rules.is_empty());
}

#[test]
fn names_are_letters_digits_and_dashes() {
    let ebnf = ok("root ::= my-rule2 3rd --\nmy-rule2 ::= \"a\"\n");
    assert_eq!(show(&ebnf.rules[0].body), "(seq my-rule2 3rd --)");
    assert_eq!(ebnf.rules[1].name, "my-rule2");
}

#[test]
fn items_need_no_space_between_them() {
    assert_eq!(shown(r#"root ::= "a"b"c"[d](e)."#), r#"(seq "a" b "c" /d/ e /[\0-\u{10ffff}]/)"#);
}

#[test]
fn left_recursion_is_accepted() {
    // llama.cpp rejects it; Trellis's LR parser does not need to.
    assert_eq!(shown("list ::= list \",\" item | item"), r#"(alt (seq list "," item) item)"#);
}

#[test]
fn a_grammar_in_the_usual_style_parses() {
    let text = r#"
# JSON, in the style of llama.cpp's grammars/json.gbnf.
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
"#;
    let ebnf = ok(text);
    let names: Vec<&str> = ebnf.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["root", "value", "object", "array", "string", "number", "ws"]);
    assert_eq!(show(&ebnf.rules[3].body), r#"(seq "[" ws (rep 0 1 (seq value (rep 0 - (seq "," ws value)))) "]" ws)"#);
    assert_eq!(show(&ebnf.rules[6].body), r#"(alt ε " " (seq "\n" (rep 0 20 /[\t ]/)))"#);
}

// ------------------------------------------------------ alternatives, groups

#[test]
fn alternatives_sequences_and_groups() {
    assert_eq!(shown("root ::= a | b c | d"), "(alt a (seq b c) d)");
    assert_eq!(shown("root ::= (a | b) c"), "(seq (alt a b) c)");
    assert_eq!(shown("root ::= ((a))"), "a");
    assert_eq!(shown("root ::= a (b (c | d)) e"), "(seq a (seq b (alt c d)) e)");
    assert_eq!(shown("root ::= ()"), "ε");
    assert_eq!(shown("root ::= ( )* a"), "(seq (rep 0 - ε) a)");
}

#[test]
fn alternatives_and_bodies_may_be_empty() {
    assert_eq!(shown(r#"ws ::= | " " ws"#), r#"(alt ε (seq " " ws))"#);
    assert_eq!(shown(r#"root ::= "x" |"#), r#"(alt "x" ε)"#);
    assert_eq!(shown("root ::= a | | b"), "(alt a ε b)");
    assert_eq!(shown("root ::= (|a)"), "(alt ε a)");
    assert_eq!(shown("root ::="), "ε");
    assert_eq!(shown("root ::=   # nothing\n"), "ε");
    assert_eq!(shown(r#"root ::= """#), "ε");
}

// -------------------------------------------------------------- repetition

#[test]
fn postfix_repetition_operators() {
    assert_eq!(shown("root ::= a*"), "(rep 0 - a)");
    assert_eq!(shown("root ::= a+"), "(rep 1 - a)");
    assert_eq!(shown("root ::= a?"), "(rep 0 1 a)");
    assert_eq!(shown("root ::= a{3}"), "(rep 3 3 a)");
    assert_eq!(shown("root ::= a{3,}"), "(rep 3 - a)");
    assert_eq!(shown("root ::= a{3,5}"), "(rep 3 5 a)");
    assert_eq!(shown("root ::= a{0}"), "(rep 0 0 a)");
    assert_eq!(shown("root ::= a { 2 , 4 } b"), "(seq (rep 2 4 a) b)");
    assert_eq!(shown("root ::= a{ 4}"), "(rep 4 4 a)");
    assert_eq!(shown("root ::= (a b)+"), "(rep 1 - (seq a b))");
}

#[test]
fn repetition_operators_stack() {
    assert_eq!(shown("root ::= a**"), "(rep 0 - (rep 0 - a))");
    assert_eq!(shown("root ::= a{2}?"), "(rep 0 1 (rep 2 2 a))");
    assert_eq!(shown("root ::= a+{1,2}*"), "(rep 0 - (rep 1 2 (rep 1 - a)))");
}

#[test]
fn counts_follow_llama_cpp_limits() {
    // A maximum above 2000 means unbounded (llama.cpp's test cases).
    assert_eq!(shown(r#"root ::= "a"{0,5000}"#), r#"(rep 0 - "a")"#);
    assert_eq!(shown(r#"root ::= "a"{3,5000}"#), r#"(rep 3 - "a")"#);
    assert_eq!(shown(r#"root ::= "a"{0,2000}"#), r#"(rep 0 2000 "a")"#);
    assert_eq!(shown(r#"root ::= "a"{2000}"#), r#"(rep 2000 2000 "a")"#);
    assert_eq!(shown(r#"root ::= "a"{0,99999999999999999999999999}"#), r#"(rep 0 - "a")"#);
    // A minimum above 2000 is an error.
    for text in [r#"root ::= "a"{5000}"#, r#"root ::= "a"{5000,}"#, r#"root ::= "a"{5000,6000}"#] {
        assert_error(text, ErrorKind::TooLarge, &text[12..], "minimum count 5000");
    }
    assert_error("root ::= a{2001}", ErrorKind::TooLarge, "{2001}", "more than GBNF allows (2000)");
    assert_error(
        "root ::= a{99999999999999999999999999}",
        ErrorKind::TooLarge,
        "{99999999999999999999999999}",
        "minimum count",
    );
    // llama.cpp refuses this one only through its expansion-size check.
    assert!(parse("root ::= (((((([^x]*){0,99}){0,99}){0,99}){0,99}){0,99}){0,99}").is_ok());
}

#[test]
fn a_minimum_above_the_maximum_is_an_error() {
    let error = syntax_error("root ::= a{3,2}", "{3,2}", "minimum count 3 is more than the maximum count 2");
    assert_eq!(help(&error), "write `{2,3}`");
}

#[test]
fn malformed_counts() {
    let error = syntax_error(r#"root ::= "a"{,10}"#, ",", "expected a number, found `,`");
    assert!(help(&error).contains("{0,n}"));
    syntax_error(r#"root ::= "a"{,}"#, ",", "expected a number");
    syntax_error("root ::= a{}", "}", "expected a number, found `}`");
    syntax_error("root ::= a{x}", "x", "expected a number, found `x`");
    syntax_error("root ::= a{2 3}", "3", "expected `,` or `}`, found `3`");
    syntax_error("root ::= a{2-3}", "-3", "expected `,` or `}`, found `-3`");
    syntax_error("root ::= a{2,3", "", "expected `}`, found the end of the input");
    syntax_error("root ::= a{2,x}", "x", "expected a number or `}`, found `x`");
    syntax_error("root ::= a{2\n}", "\n", "expected `,` or `}`, found a newline");
}

#[test]
fn newlines_inside_braces_need_parentheses() {
    syntax_error("root ::= a{2,\n3}", "\n", "found a newline");
    assert_eq!(shown("root ::= (a{2,\n3})"), "(rep 2 3 a)");
}

#[test]
fn a_repetition_needs_something_to_repeat() {
    for (text, op) in [
        ("root ::= *", "*"),
        ("root ::= +", "+"),
        ("root ::= ?", "?"),
        ("root ::= {2}", "{"),
        ("root ::= a | *", "*"),
        ("root ::= ( + )", "+"),
        ("root ::= (a | ?)", "?"),
    ] {
        let error = syntax_error(text, op, "expected an expression before");
        assert!(error.message.ends_with("found nothing to repeat"), "{error:?}");
        assert!(help(&error).contains("repeat the item right before them"));
    }
}

// ------------------------------------------------------------------ leaves

#[test]
fn string_literals() {
    assert_eq!(shown(r#"root ::= "abc""#), r#""abc""#);
    assert_eq!(shown(r#"root ::= "héllo ✓ 😀""#), r#""héllo ✓ 😀""#);
    assert_eq!(shown(r##"root ::= "# not a comment""##), r##""# not a comment""##);
    assert_eq!(shown(r#"root ::= "[a-z] (x)|*""#), r#""[a-z] (x)|*""#);
    // Raw newlines (and CRLF) are allowed inside a literal.
    assert_eq!(shown("root ::= \"a\nb\r\nc\""), r#""a\nb\r\nc""#);
}

#[test]
fn every_escape() {
    let cases = [
        (r"\x41", "A"),
        (r"\xFF", "\u{FF}"),
        (r"\xff", "\u{FF}"),
        (r"\x00", "\0"),
        (r"\u00e9", "é"),
        (r"\u2713", "✓"),
        (r"\U0001F600", "😀"),
        (r"\U0010FFFF", "\u{10FFFF}"),
        (r"\t", "\t"),
        (r"\r", "\r"),
        (r"\n", "\n"),
        (r"\\", "\\"),
        (r#"\""#, "\""),
        (r"\[", "["),
        (r"\]", "]"),
        (r"\-", "-"),
        // Exactly that many digits: the rest is literal text.
        (r"\x414", "A4"),
        (r"\u00e9e", "ée"),
    ];
    for (escape, value) in cases {
        let text = format!(r#"root ::= "{escape}""#);
        match body(&text).kind {
            ExprKind::Literal { value: got, case_insensitive: false } => assert_eq!(got, value, "{escape}"),
            other => panic!("{escape}: {other:?}"),
        }
        let class = format!("root ::= [{escape}]");
        let first = u32::from(value.chars().next().unwrap_or('\0'));
        if value.chars().count() == 1 {
            assert_eq!(class_of(&class), [(first, first)], "{escape}");
        }
    }
}

#[test]
fn short_hex_escapes_are_errors() {
    let error = syntax_error(r#"root ::= "\x4""#, r"\x4", r"expected 2 hex digits after `\x`, found only `4`");
    assert!(help(&error).contains(r"\x0A"));
    syntax_error(r#"root ::= "\xg0""#, r"\x", r"expected 2 hex digits after `\x`, found none");
    syntax_error(r#"root ::= "\u12""#, r"\u12", "expected 4 hex digits");
    syntax_error(r#"root ::= "\U0001F60""#, r"\U0001F60", "expected 8 hex digits");
    syntax_error(r"root ::= [\u12]", r"\u12", "expected 4 hex digits");
    syntax_error(r"root ::= [\x", r"\x", "expected 2 hex digits");
    // A hex digit must be ASCII; a multi-byte character is not one.
    syntax_error("root ::= \"\\x4é\"", r"\x4", "expected 2 hex digits");
}

#[test]
fn unknown_escapes_are_errors() {
    for escape in [r"\q", r"\a", r"\0", r"\'", r"\ ", r"\/", r"\é"] {
        let text = format!(r#"root ::= "{escape}""#);
        let error = syntax_error(&text, escape, &format!("unknown escape `{escape}` in a string literal"));
        assert!(help(&error).contains(r"\xHH"), "{error:?}");
    }
    syntax_error(r"root ::= [\d]", r"\d", "unknown escape `\\d` in a character class");
}

#[test]
fn code_points_that_are_not_scalar_values_never_match() {
    // In a literal: the literal matches nothing.
    assert!(matches_nothing(&body(r#"root ::= "\uD800""#)));
    assert!(matches_nothing(&body(r#"root ::= "ab\U00110000c""#)));
    assert!(matches_nothing(&body(r#"root ::= "\UFFFFFFFF""#)));
    // In a class: they add nothing.
    assert_eq!(class_of(r"root ::= [a\uDC00]"), [(0x61, 0x61)]);
    assert_eq!(class_of(r"root ::= [\uD800-\uDFFF]"), []);
    assert_eq!(class_of(r"root ::= [\uD000-\uE000]"), [(0xD000, 0xD7FF), (0xE000, 0xE000)]);
    assert_eq!(class_of(r"root ::= [\U0010FFF0-\UFFFFFFFF]"), [(0x10FFF0, 0x10FFFF)]);
    // In a negated class, they exclude nothing.
    assert_eq!(class_of(r"root ::= [^\uD800]"), [(0, 0x10FFFF)]);
    assert_eq!(class_of(r"root ::= [^\U00110000-\U00120000]"), [(0, 0x10FFFF)]);
}

#[test]
fn character_classes() {
    assert_eq!(class_of("root ::= [abc]"), [(0x61, 0x63)]);
    assert_eq!(class_of("root ::= [a-z0-9_]"), [(0x30, 0x39), (0x5F, 0x5F), (0x61, 0x7A)]);
    assert_eq!(class_of("root ::= [bdx-z]"), [(0x62, 0x62), (0x64, 0x64), (0x78, 0x7A)]);
    assert_eq!(class_of("root ::= [a-a]"), [(0x61, 0x61)]);
    assert_eq!(class_of("root ::= [é-ê✓]"), [(0xE9, 0xEA), (0x2713, 0x2713)]);
    // `-` first, last, or escaped is a literal `-`.
    assert_eq!(class_of("root ::= [-a]"), [(0x2D, 0x2D), (0x61, 0x61)]);
    assert_eq!(class_of("root ::= [a-]"), [(0x2D, 0x2D), (0x61, 0x61)]);
    assert_eq!(class_of(r"root ::= [a\-z]"), [(0x2D, 0x2D), (0x61, 0x61), (0x7A, 0x7A)]);
    assert_eq!(class_of("root ::= [-]"), [(0x2D, 0x2D)]);
    // Escapes as range ends.
    assert_eq!(class_of(r"root ::= [\x00-\x1F]"), [(0, 0x1F)]);
}

#[test]
fn character_class_details() {
    // `[a-\]]` is a range from `a` down to `]`: backwards, so an error.
    syntax_error(r"root ::= [a-\]]", r"a-\]", "invalid range");
    assert_eq!(class_of(r"root ::= [\[-\]]"), [(0x5B, 0x5D)]);
    // Special characters need no escape inside a class.
    assert_eq!(class_of(r##"root ::= [(|)*."#]"##), [(0x22, 0x23), (0x28, 0x2A), (0x2E, 0x2E), (0x7C, 0x7C)]);
    // A raw newline inside a class is a character of it.
    assert_eq!(class_of("root ::= [\n]"), [(0x0A, 0x0A)]);
    // `^` is special only first.
    assert_eq!(class_of("root ::= [a^]"), [(0x5E, 0x5E), (0x61, 0x61)]);
}

#[test]
fn negated_classes() {
    assert_eq!(class_of("root ::= [^a]"), [(0, 0x60), (0x62, 0x10FFFF)]);
    assert_eq!(class_of(r#"root ::= [^"\\]"#), [(0, 0x21), (0x23, 0x5B), (0x5D, 0x10FFFF)]);
    assert_eq!(class_of("root ::= [^^]"), [(0, 0x5D), (0x5F, 0x10FFFF)]);
}

#[test]
fn dot_is_any_scalar_value_newline_included() {
    assert_eq!(class_of("root ::= ."), [(0, 0x10FFFF)]);
}

#[test]
fn empty_classes_are_errors() {
    let error = syntax_error("root ::= []", "[]", "empty character class `[]`");
    assert!(help(&error).contains("llama.cpp reads `[]` as the empty string"));
    let error = syntax_error("root ::= a [^] b", "[^]", "empty character class `[^]`");
    assert!(help(&error).contains("`.`"));
}

#[test]
fn backwards_ranges_are_errors() {
    let error = syntax_error("root ::= [az-a]", "z-a", "invalid range `z-a`");
    assert!(error.message.contains("U+007A 'z' comes after its end U+0061 'a'"), "{error:?}");
    assert_eq!(help(&error), "write the smaller end first: `a-z`");
    syntax_error(r"root ::= [\x7F-\x00]", r"\x7F-\x00", "U+007F comes after its end U+0000");
}

#[test]
fn unterminated_leaves() {
    syntax_error(r#"root ::= "abc"#, "\"", "string literal is never closed");
    syntax_error(r#"root ::= "abc\"#, "\"", "string literal is never closed");
    syntax_error("root ::= \"abc\nnext ::= \"x\"", "\"", "");
    syntax_error("root ::= [abc", "[", "character class is never closed");
    syntax_error("root ::= [a-", "[", "character class is never closed");
    syntax_error("root ::= [^", "[", "character class is never closed");
    syntax_error(r"root ::= [a\", "[", "character class is never closed");
}

// -------------------------------------------------------- token references

#[test]
fn token_references_are_unsupported() {
    for (text, at) in [
        ("root ::= <think> \"x\"", "<think>"),
        ("root ::= <[1000]>", "<[1000]>"),
        ("root ::= \"a\" !<[1001]> <[1001]>", "!<[1001]>"),
        ("root ::= !<think>", "!<think>"),
        ("root ::= <unclosed\n", "<"),
    ] {
        let error = assert_error(text, ErrorKind::Unsupported, at, "is not supported");
        assert!(error.message.contains("not token ids"), "{error:?}");
    }
    syntax_error("root ::= !x", "!", "found `!`");
}

// ------------------------------------------------------- comments, newlines

#[test]
fn comments_run_to_the_end_of_the_line() {
    let ebnf = ok("# header\nroot ::= a # trailing\n# between\n\na ::= \"x\" | # after a bar\n  \"y\"   # end");
    assert_eq!(show(&ebnf.rules[0].body), "a");
    assert_eq!(show(&ebnf.rules[1].body), r#"(alt "x" "y")"#);
    assert_eq!(shown("root ::= (a # inside\n b)#"), "(seq a b)");
}

#[test]
fn crlf_and_lone_cr_end_lines() {
    let crlf = ok("root ::= a |\r\n  b\r\n\r\na ::= \"x\"\r\nb ::= [\\r\\n]\r\n");
    assert_eq!(crlf.rules.len(), 3);
    assert_eq!(show(&crlf.rules[0].body), "(alt a b)");
    let cr = ok("root ::= a\ra ::= \"x\"\r");
    assert_eq!(cr.rules.len(), 2);
    syntax_error("root ::= a\r\n  | b\r\n", "|", "expected a rule name, found `|`");
}

#[test]
fn rules_continue_after_define_and_bar_and_inside_parentheses() {
    assert_eq!(shown("root ::=\n\n  a b"), "(seq a b)");
    assert_eq!(shown("root ::= a |\n\n  # why not\n  b"), "(alt a b)");
    assert_eq!(shown("root ::= (\n  a\n  b\n  |\n  c\n)\n"), "(alt (seq a b) c)");
    assert_eq!(shown("root ::= a (\n(\nb\n)\n)*"), "(seq a (rep 0 - b))");
    assert_eq!(shown("root ::= \"a\"\n\n\n"), r#""a""#);
}

#[test]
fn a_newline_ends_the_rule() {
    let ebnf = ok("root ::= a\nb ::= c");
    assert_eq!(show(&ebnf.rules[0].body), "a");
    let error = syntax_error("root ::= \"a\"\n  \"b\"", "\"b\"", "expected a rule name, found `\"b\"`");
    assert!(help(&error).contains("a rule ends at the end of its line"), "{error:?}");
    let error = syntax_error("root ::= a\n  b c", "c", "expected `::=` after the rule name, found `c`");
    assert!(help(&error).contains("wrap a sequence that spans several lines in parentheses"));
}

#[test]
fn a_line_cannot_start_with_a_bar() {
    let error = syntax_error("root ::= a\n  | b", "|", "expected a rule name, found `|`");
    assert!(help(&error).contains("a line cannot start with `|`"), "{error:?}");
    syntax_error("| root ::= a", "|", "expected a rule name");
}

#[test]
fn a_newline_after_define_makes_the_next_line_the_body() {
    // llama.cpp reads `b` as `a`'s body and then fails at `::=`.
    let error =
        syntax_error("a ::=\nb ::= c", "::=", "expected a newline or the end of the input after the rule, found `::=`");
    assert!(help(&error).contains("write an empty body or alternative as `\"\"`"));
    syntax_error("a ::= x |\nb ::= c", "::=", "found `::=`");
    syntax_error("a ::= x ::= y", "::=", "found `::=`");
}

// ------------------------------------------------------------- rule heads

#[test]
fn rule_head_errors() {
    let error = syntax_error("root := a", ":", "expected `::=` after the rule name, found `:`");
    assert!(help(&error).contains("`name ::= ...`"));
    syntax_error("root = a", "=", "expected `::=`");
    syntax_error("root :: = a", ":", "expected `::=`");
    syntax_error("root a ::= b", "a", "expected `::=` after the rule name, found `a`");
    syntax_error("root", "", "expected `::=` after the rule name, found the end of the input");
    let error = syntax_error("root\n::= a", "\n", "expected `::=` after the rule name, found a newline");
    assert!(help(&error).contains("same line"));
    syntax_error("::= a", "::=", "expected a rule name, found `::=`");
    syntax_error("\"x\" ::= a", "\"x\"", "expected a rule name, found `\"x\"`");
    syntax_error("é ::= a", "é", "expected a rule name, found `é`");
    // A byte-order mark is skipped at the start of the text only.
    syntax_error("root ::= \"a\"\n\u{feff}x ::= a", "\u{feff}", r"found `\u{feff}`");
    syntax_error("root ::= a\0", "\0", r"found `\0`");
}

#[test]
fn underscores_in_names_get_help() {
    let error =
        syntax_error("root ::= my_rule\n", "_", "expected a newline or the end of the input after the rule, found `_`");
    assert_eq!(
        help(&error),
        "GBNF rule names may use letters, digits and '-', not '_': write `my-rule` instead of `my_rule`"
    );
    let error = syntax_error("root ::= a\nmy_rule ::= b", "_", "expected `::=` after the rule name, found `_`");
    assert!(help(&error).contains("write `my-rule` instead of `my_rule`"));
    let error = syntax_error("_x ::= b", "_", "expected a rule name, found `_`");
    assert!(help(&error).contains("write `-x` instead of `_x`"));
}

#[test]
fn stray_characters_after_a_rule() {
    syntax_error(r#"root ::= "a" ]"#, "]", "expected a newline or the end of the input after the rule, found `]`");
    syntax_error("root ::= a , b", ",", "after the rule, found `,`");
    syntax_error("root ::= a }", "}", "after the rule, found `}`");
    syntax_error("root ::= a @", "@", "after the rule, found `@`");
    syntax_error("root ::= a\u{0b}b", "\u{0b}", r"found `\u{b}`");
    syntax_error("root ::= (a ::= b)", "::=", "expected an expression, `|` or `)`, found `::=`");
}

// ---------------------------------------------------------- parentheses

#[test]
fn unbalanced_parentheses() {
    let error = syntax_error("root ::= a)", ")", "unmatched `)`");
    assert_eq!(error.span, Some(Span::new(10, 11)));
    syntax_error("root ::= (a\n", "(", "this `(` is never closed");
    syntax_error("root ::= (a (b)\nx ::= y", "::=", "expected an expression, `|` or `)`, found `::=`");
    syntax_error("root ::= ((a) (b", "(", "never closed");
    assert_eq!(err("root ::= ((a) (b").span, Some(Span::new(14, 15)));
}

#[test]
fn deep_parentheses_around_one_item_cost_nothing() {
    let depth = 20_000;
    let text = format!("root ::= {}\"a\"{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(shown(&text), r#""a""#);
}

#[test]
fn nesting_up_to_the_limit_parses() {
    // Each level is a sequence: `("a" ("a" (... "a")))`.
    let depth = MAX_DEPTH as usize - 1;
    let text = format!("root ::= {}\"a\"{}", "(\"a\" ".repeat(depth), ")".repeat(depth));
    let ebnf = ok(&text);
    let mut expr = &ebnf.rules[0].body;
    let mut levels = 1;
    while let ExprKind::Seq(items) = &expr.kind {
        expr = &items[1];
        levels += 1;
    }
    assert_eq!(levels, depth + 1);
}

#[test]
fn nesting_deeper_than_the_limit_is_too_large() {
    for depth in [MAX_DEPTH as usize, 1000, 100_000] {
        let text = format!("root ::= {}\"a\"{}", "(\"a\" ".repeat(depth), ")".repeat(depth));
        let error = err(&text);
        assert_eq!(error.kind, ErrorKind::TooLarge);
        assert!(error.message.contains("more than 256 levels"), "{error:?}");
        assert_eq!(help(&error), "split it into several rules");
    }
    let error = err(&format!("root ::= {}\"a\"{}", "(\"a\" | ".repeat(1000), ")".repeat(1000)));
    assert_eq!(error.kind, ErrorKind::TooLarge);

    // A chain of postfix operators nests too.
    let stars = |n: usize| format!("root ::= \"a\"{}", "*".repeat(n));
    let depth = MAX_DEPTH as usize;
    assert!(parse(&stars(depth - 1)).is_ok());
    let error = err(&stars(depth));
    assert_eq!((error.kind, spanned(&stars(depth), &error)), (ErrorKind::TooLarge, &stars(depth)[9..]));
    assert_eq!(err(&stars(100_000)).kind, ErrorKind::TooLarge);
}

#[test]
fn long_flat_grammars_parse() {
    let items = "\"a\" ".repeat(50_000);
    let alternatives = "\"a\" | ".repeat(50_000);
    let rules: String = (0..5_000).map(|i| format!("r{i} ::= r{} | \"x\"\n", i + 1)).collect();
    assert!(parse(&format!("root ::= {items}")).is_ok());
    assert!(parse(&format!("root ::= {alternatives}")).is_ok());
    assert_eq!(ok(&rules).rules.len(), 5_000);
}

// ------------------------------------------------------------- duplicates

#[test]
fn a_rule_defined_twice_is_an_error() {
    let text = "root ::= a\na ::= \"x\"\n\n# again\na ::= \"y\"\n";
    let error = assert_error(text, ErrorKind::Duplicate, "a", "rule `a` is already defined on line 2");
    assert_eq!(error.span, Some(Span::new(30, 31)));
    assert!(help(&error).contains("with `|`"));
    assert_eq!(err("root ::= a\nroot ::= b").span, Some(Span::new(11, 15)));
}

// ------------------------------------------------------------------- spans

#[test]
fn every_node_carries_its_span() {
    let text = r#"root ::= "ab" [c-d]* | (e f)? | "#;
    let ebnf = ok(text);
    let rule = &ebnf.rules[0];
    assert_eq!(&text[rule.name_span.start..rule.name_span.end], "root");
    let span_text = |expr: &Expr| &text[expr.span.start..expr.span.end];
    let ExprKind::Alt(alternatives) = &rule.body.kind else { panic!("{:?}", rule.body) };
    assert_eq!(span_text(&rule.body), r#""ab" [c-d]* | (e f)? |"#);
    assert_eq!(span_text(&alternatives[0]), r#""ab" [c-d]*"#);
    let ExprKind::Seq(items) = &alternatives[0].kind else { panic!() };
    assert_eq!(span_text(&items[0]), r#""ab""#);
    assert_eq!(span_text(&items[1]), "[c-d]*");
    let ExprKind::Repeat { expr: class, .. } = &items[1].kind else { panic!() };
    assert_eq!(span_text(class), "[c-d]");
    assert_eq!(span_text(&alternatives[1]), "(e f)?");
    let ExprKind::Repeat { expr: group, .. } = &alternatives[1].kind else { panic!() };
    assert_eq!(span_text(group), "e f");
    // The empty alternative at the end is an empty span where it would be.
    assert!(alternatives[2].span.start == alternatives[2].span.end, "{:?}", alternatives[2]);
}

#[test]
fn errors_render_with_their_line_and_help() {
    let text = "root ::= item+\nitem ::= [a-z] | \"\\q\"\n";
    assert_eq!(
        err(text).render("g.gbnf", text),
        "g.gbnf:2:19: syntax error: unknown escape `\\q` in a string literal\n  |\n2 | item ::= [a-z] | \"\\q\"\n  |                   ^^\n  = help: GBNF escapes are \\xHH, \\uHHHH, \\UHHHHHHHH, \\t, \\r, \\n, \\\\, \\\", \\[, \\] and \\-"
    );
    let text = "root ::= \"a\"\n  | \"b\"\n";
    assert_eq!(
        err(text).render("g.gbnf", text),
        "g.gbnf:2:3: syntax error: expected a rule name, found `|`\n  |\n2 |   | \"b\"\n  |   ^\n  = help: a line cannot start with `|`: a rule continues onto the next line only after a `|` at the end of a line, or inside parentheses"
    );
}

// ----------------------------------------------------------- never panics

/// Checks that parsing `text` returns, and that an error's span lies inside
/// the text on character boundaries.
fn parses_or_errs_cleanly(text: &str) {
    if let Err(error) = parse(text) {
        let span = error.span.expect("parse errors have spans");
        assert!(span.start <= span.end && span.end <= text.len(), "{error:?} for {text:?}");
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end), "{error:?}");
        let _ = error.render("<fuzz>", text);
    }
}

#[test]
fn every_prefix_of_a_grammar_parses_or_errs_cleanly() {
    let text = "root ::= (\"a\\x41\\u00e9\" | [^a-z\\]-]{1,3} . x*)+ # c\r\nx ::= | <[1]> \"\\U0001F600\"{2,} é\n";
    for end in (0..=text.len()).filter(|&end| text.is_char_boundary(end)) {
        parses_or_errs_cleanly(&text[..end]);
        parses_or_errs_cleanly(&text[end..]);
    }
}

proptest! {
    #[test]
    fn arbitrary_text_parses_or_errs_cleanly(text in "\\PC*") {
        parses_or_errs_cleanly(&text);
    }

    #[test]
    fn gbnf_like_text_parses_or_errs_cleanly(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("root"), Just("a-1"), Just(" "), Just("\t"), Just("\n"), Just("\r\n"), Just("\r"),
                Just("::="), Just("|"), Just("("), Just(")"), Just("*"), Just("+"), Just("?"),
                Just("{"), Just("}"), Just(","), Just("2"), Just("2001"), Just("\""), Just("["),
                Just("]"), Just("^"), Just("-"), Just("."), Just("\\"), Just("\\x4"), Just("\\u"),
                Just("\\UFFFFFFFF"), Just("#"), Just("<"), Just(">"), Just("!"), Just("é"), Just("_"),
            ],
            0..40,
        )
    ) {
        parses_or_errs_cleanly(&pieces.concat());
    }
}

#[test]
fn negated_classes_complement_over_scalar_values() {
    // The excluded range spans the surrogates: nothing is left, not U+D7FF
    // and U+E000 (regex-syntax's own negation of the scalar ranges keeps
    // those two).
    assert_eq!(class_of(r"root ::= [^\x00-\U0010FFFF]"), []);
    assert_eq!(class_of(r"root ::= [^\x00-\uFFFF]"), [(0x1_0000, 0x10_FFFF)]);
    assert_eq!(class_of(r"root ::= [^\uD000-\uEFFF]"), [(0, 0xCFFF), (0xF000, 0x10_FFFF)]);
    assert_eq!(class_of(r"root ::= [^\x00-\uD7FF\uE000-\U0010FFFF]"), []);
    assert_eq!(class_of(r"root ::= [^\uD7FF\uE000]"), [(0, 0xD7FE), (0xE001, 0x10_FFFF)]);
    let grammar = crate::CompiledGrammar::new(r"root ::= [^\x00-\uFFFF]", crate::Format::Gbnf).expect("compiles");
    assert!(!grammar.accepts("\u{E000}".as_bytes()) && !grammar.accepts("\u{D7FF}".as_bytes()));
    assert!(grammar.accepts("\u{10000}".as_bytes()));
}

#[test]
fn a_class_that_empties_the_language_is_pointed_at() {
    let cases = [
        (r"root ::= [^\x00-\U0010FFFF]", r"[^\x00-\U0010FFFF]"),
        ("root ::= \"a\" x\nx ::= [\\uD800-\\uDFFF]+", r"[\uD800-\uDFFF]"),
        (r#"root ::= ("a" | [^\x00-\U0010FFFF]) [^\x00-\U0010FFFF] "b""#, r"[^\x00-\U0010FFFF]"),
        // `b` dies of `root`, not the other way round: the walk to the
        // class must not go round through `b`.
        ("root ::= b [^\\x00-\\U0010FFFF]\nb ::= root \"x\"", r"[^\x00-\U0010FFFF]"),
    ];
    for (text, class) in cases {
        let error = crate::CompiledGrammar::new(text, crate::Format::Gbnf).expect_err("an empty language");
        assert_eq!(error.kind, ErrorKind::EmptyLanguage, "{text}");
        let span = error.span.expect("located");
        assert_eq!(&text[span.start..span.end], class, "{text}");
        assert_eq!(Some(span.start), text.rfind(class), "{text}: the class that every string needs");
    }
    // A class that matches nothing in one alternative leaves the others.
    let grammar = crate::CompiledGrammar::new(r#"root ::= "a" | [^\x00-\U0010FFFF]"#, crate::Format::Gbnf);
    assert!(grammar.expect("compiles").accepts(b"a"));
    // Emptiness that comes from recursion keeps pointing at the rule.
    let error = crate::CompiledGrammar::new("root ::= root \"a\"", crate::Format::Gbnf).expect_err("empty");
    assert_eq!((error.kind, error.span), (ErrorKind::EmptyLanguage, Some(Span::new(0, 4))));
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let text = "\u{feff}root ::= \"a\" x\nx ::= \"b\"\n";
    let ebnf = ok(text);
    assert_eq!(ebnf.rules[0].name_span, Span::new(3, 7));
    let grammar = crate::CompiledGrammar::new(text, crate::Format::Gbnf).expect("compiles");
    assert!(grammar.accepts(b"ab"));
    // Spans of errors are offsets in the original text.
    let text = "\u{feff}root ::= y";
    let error = crate::CompiledGrammar::new(text, crate::Format::Gbnf).expect_err("undefined");
    assert_eq!(spanned(text, &error), "y");
}

/// A code point for a class endpoint, often near the places where UTF-8
/// and scalar values have edges.
fn code_point() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..0x80,
        0x780u32..0x820,
        0xD700u32..0xE100,
        0xFFF0u32..0x1_0010,
        0x10_FF00u32..0x11_0100,
        0u32..=0x10_FFFF,
        Just(0xD7FF),
        Just(0xE000),
        Just(0x10_FFFF),
    ]
}

/// The regex crate's class of the scalar values in `items` (code point
/// ranges that may reach into the surrogates or past U+10FFFF), as a regex
/// matching one character; `None` if it holds none.
fn regex_class(items: &[(u32, u32)]) -> Option<regex::Regex> {
    let mut parts = String::new();
    for &(low, high) in items {
        for (block_low, block_high) in [(0, 0xD7FF), (0xE000, 0x10_FFFF)] {
            let (from, to) = (low.max(block_low), high.min(block_high));
            if from <= to {
                parts.push_str(&format!(r"\x{{{from:X}}}-\x{{{to:X}}}"));
            }
        }
    }
    (!parts.is_empty()).then(|| regex::Regex::new(&format!("^[{parts}]$")).expect("an oracle class"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// A GBNF class, compiled as a whole grammar, matches a character iff
    /// the regex crate's class of the same scalar values does (negated: iff
    /// it does not; the regex crate's own `[^...]` shares regex-syntax's
    /// negation, which is not exact at the surrogate gap).
    #[test]
    fn gbnf_classes_agree_with_the_regex_crate(
        items in proptest::collection::vec((code_point(), code_point()), 1..4),
        negated in any::<bool>(),
        extra in proptest::collection::vec(0u32..=0x10_FFFF, 8),
    ) {
        let items: Vec<(u32, u32)> = items.into_iter().map(|(a, b)| (a.min(b), a.max(b))).collect();
        let written: String = items.iter().map(|&(low, high)| format!(r"\U{low:08X}-\U{high:08X}")).collect();
        let text = format!("root ::= [{}{written}]", if negated { "^" } else { "" });
        let positive = regex_class(&items);
        let oracle = |c: char| positive.as_ref().is_some_and(|class| class.is_match(c.encode_utf8(&mut [0; 4]))) != negated;
        let mut probes: Vec<u32> = vec![0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x1_0000, 0x10_FFFF];
        for &(low, high) in &items {
            probes.extend([low.saturating_sub(1), low, low + 1, high.saturating_sub(1), high, high + 1]);
        }
        probes.extend(extra);
        let probes: Vec<char> = probes.into_iter().filter_map(char::from_u32).collect();
        match crate::CompiledGrammar::new(&text, crate::Format::Gbnf) {
            Ok(grammar) => {
                for &c in &probes {
                    let bytes = c.encode_utf8(&mut [0; 4]).as_bytes().to_vec();
                    prop_assert_eq!(grammar.accepts(&bytes), oracle(c), "{} on U+{:04X}", text, u32::from(c));
                }
                // An encoded surrogate is not UTF-8, whatever the class.
                prop_assert!(!grammar.accepts(&[0xED, 0xA0, 0x80]) && !grammar.accepts(&[0xED, 0xBF, 0xBF]));
            }
            Err(error) => {
                prop_assert_eq!(error.kind, ErrorKind::EmptyLanguage, "{}: {}", text, error);
                for &c in &probes {
                    prop_assert!(!oracle(c), "{} refused as empty, but the oracle matches U+{:04X}", text, u32::from(c));
                }
            }
        }
    }
}
