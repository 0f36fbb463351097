//! Tests of the Lark front-end: each construct (as data: grammar text and
//! the expected expression, written as an S-expression), every error path
//! with its span, imports, CRLF input, and that no input makes it panic.

use proptest::prelude::*;

use super::parse;
use crate::ebnf::{Ebnf, Expr, ExprKind, TerminalDef};
use crate::error::{ErrorKind, GrammarError};

/// An expression as a short S-expression: names bare, literals quoted
/// (`"a"i` when case-insensitive), patterns between slashes, and
/// `(seq ..)`, `(alt ..)`, `(rep MIN MAX ..)`, `ε`.
fn show(expr: &Expr) -> String {
    let list = |head: &str, items: &[Expr]| {
        let items: Vec<String> = items.iter().map(show).collect();
        format!("({head} {})", items.join(" "))
    };
    match &expr.kind {
        ExprKind::Empty => "ε".to_string(),
        ExprKind::Ref(name) => name.clone(),
        ExprKind::Literal { value, case_insensitive } => {
            format!("{value:?}{}", if *case_insensitive { "i" } else { "" })
        }
        ExprKind::Pattern(hir) => format!("/{hir}/"),
        ExprKind::Seq(items) => list("seq", items),
        ExprKind::Alt(items) => list("alt", items),
        ExprKind::Repeat { expr, min, max } => {
            let max = max.map_or("*".to_string(), |max| max.to_string());
            format!("(rep {min} {max} {})", show(expr))
        }
    }
}

fn parsed(text: &str) -> Ebnf {
    parse(text).unwrap_or_else(|err| panic!("{}", err.render("<test>", text)))
}

fn failed(text: &str) -> GrammarError {
    match parse(text) {
        Ok(grammar) => panic!("parsed but should not have: {text:?}\n{grammar:?}"),
        Err(err) => err,
    }
}

/// The body of the only definition in `text`, rule or terminal.
fn only_body(text: &str) -> String {
    let grammar = parsed(text);
    let bodies: Vec<String> = grammar
        .rules
        .iter()
        .map(|rule| show(&rule.body))
        .chain(grammar.terminals.iter().map(|terminal| show(&terminal.body)))
        .collect();
    assert_eq!(bodies.len(), 1, "{text:?} defines {bodies:?}");
    bodies.concat()
}

#[test]
fn expansions() {
    let cases = [
        // sequences, references, leaves
        (r#"start: a B "c" /d/"#, r#"(seq a B "c" /d/)"#),
        ("start: _a _B", "(seq _a _B)"),
        ("start:", "ε"),
        // alternatives, empty ones included
        ("start: a | b c |", "(alt a (seq b c) ε)"),
        ("start: | a", "(alt ε a)"),
        // groups and optionals
        ("start: (a | b) [c]", "(seq (alt a b) (rep 0 1 c))"),
        ("start: ()", "ε"),
        ("start: []", "(rep 0 1 ε)"),
        ("start: ((a))", "a"),
        // operators
        ("start: a? b* c+", "(seq (rep 0 1 a) (rep 0 * b) (rep 1 * c))"),
        ("start: a~3 b ~ 2 .. 5 c~0", "(seq (rep 3 3 a) (rep 2 5 b) (rep 0 0 c))"),
        ("start: (a b)+ [c]*", "(seq (rep 1 * (seq a b)) (rep 0 * (rep 0 1 c)))"),
        // `?` before a name in an expansion is the operator, not a modifier
        ("start: a ?b", "(seq (rep 0 1 a) b)"),
        // literals and their flags
        (r#"start: "a"i "b""#, r#"(seq "a"i "b")"#),
        (r#"start: "a"ix"#, r#"(seq "a"i x)"#),
        (r#"start: "\"\\\n\t\r\f\x41\u00e9\U0001F600""#, r#""\"\\\n\t\r\u{c}Aé😀""#),
        (r#"start: "\d\'\N""#, r#""\\d\\'\\N""#),
        // ranges
        (r#"start: "a".."f""#, "/[a-f]/"),
        (r#"start: "\x00".."\x7f""#, "/[\0-\u{7f}]/"),
        // regexes and flags
        ("start: /ab+/", "/(?:ab+)/"),
        ("start: /a\\/b/", "/(?:a/b)/"),
        ("start: /[a-z]/u", "/[a-z]/"),
        // rule modifiers, priorities and aliases are dropped
        ("?start: a", "a"),
        ("!start: a", "a"),
        ("?!start: a", "a"),
        ("!?start: a", "a"),
        ("start.2: a", "a"),
        ("start.-1: a", "a"),
        ("start: a -> x | b c -> y", "(alt a (seq b c))"),
        // comments
        ("start: a // b\n", "a"),
        ("start: a # b\n", "a"),
        ("start: \"#\" \"//\" // c", r##"(seq "#" "//")"##),
    ];
    for (text, expected) in cases {
        assert_eq!(only_body(text), expected, "{text:?}");
    }
}

#[test]
fn lines_end_definitions_unless_continued() {
    let cases = [
        ("start: a\n  | b\n  | c\n", "(alt a b c)"),
        // blank and comment lines between alternatives
        ("start: a\n\n  // one\n  # two\n\n  | b\n", "(alt a b)"),
        ("start: a // comment\n  | b", "(alt a b)"),
        // a trailing backslash joins lines
        ("start: a \\\n  b", "(seq a b)"),
        ("start: a \\  \r\n  b", "(seq a b)"),
        // newlines inside brackets are whitespace
        ("start: (a\n  b\n)", "(seq a b)"),
        ("start: [\n a\n | b\n ]", "(rep 0 1 (alt a b))"),
        ("start: (a // comment )\n b)", "(seq a b)"),
    ];
    for (text, expected) in cases {
        assert_eq!(only_body(text), expected, "{text:?}");
    }
    let grammar = parsed("\n\n// header\na: x\n\n\nb: y\nC: \"c\"\n// end");
    let names: Vec<&str> = grammar.rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(grammar.terminals.len(), 1);
    assert!(parsed("").rules.is_empty());
    assert!(parsed("// nothing\n# here\n").rules.is_empty());
    assert!(parsed("\u{feff}start: a").rules.len() == 1);
}

#[test]
fn regex_flags_reach_regex_syntax() {
    let matches = |text: &str, subject: &str| {
        let grammar = parsed(text);
        let ExprKind::Pattern(hir) = &grammar.rules[0].body.kind else { panic!("{text}") };
        regex::Regex::new(&format!("^(?:{hir})$")).unwrap().is_match(subject)
    };
    assert!(matches("start: /ab/i", "AB") && !matches("start: /ab/", "AB"));
    assert!(matches("start: /a.b/s", "a\nb") && !matches("start: /a.b/", "a\nb"));
    assert!(matches("start: /a b # comment\n c/x", "abc"));
    assert!(matches("start: /ab/imsux", "aB"));
    let multi_line = parsed("start: /a$/m");
    let single_line = parsed("start: /a$/");
    assert_ne!(show(&multi_line.rules[0].body), show(&single_line.rules[0].body));
}

#[test]
fn terminals_keep_their_priority() {
    let grammar = parsed("A: \"a\"\nB.2: \"b\"\n_C.-3: /c/\nD . 4 : \"d\"");
    let priorities: Vec<(&str, i32)> =
        grammar.terminals.iter().map(|terminal| (terminal.name.as_str(), terminal.priority)).collect();
    assert_eq!(priorities, [("A", 0), ("B", 2), ("_C", -3), ("D", 4)]);
    assert_eq!(show(&grammar.terminals[2].body), "/c/");
}

#[test]
fn names_and_spans_of_definitions() {
    let text = "start: a\n?_inner.3: \"x\"\nWORD: /w/";
    let grammar = parsed(text);
    assert_eq!(grammar.start, "start");
    assert_eq!(grammar.lexing, crate::ebnf::Lexing::Greedy);
    let rule = &grammar.rules[1];
    assert_eq!(rule.name, "_inner");
    assert_eq!(&text[rule.name_span.start..rule.name_span.end], "_inner");
    let terminal = &grammar.terminals[0];
    assert_eq!(&text[terminal.name_span.start..terminal.name_span.end], "WORD");
    assert_eq!(&text[terminal.body.span.start..terminal.body.span.end], "/w/");
    let Expr { span, .. } = &grammar.rules[0].body;
    assert_eq!(&text[span.start..span.end], "a");
}

#[test]
fn ignore_directives() {
    let grammar = parsed("%ignore WS\n%ignore \" \"\n%ignore /x/ /y/\n%ignore A | B\n%ignore C\n  | D");
    let ignored: Vec<String> = grammar.ignore.iter().map(show).collect();
    assert_eq!(ignored, ["WS", r#"" ""#, "(seq /x/ /y/)", "(alt A B)", "(alt C D)"]);
}

#[test]
fn crlf_input_reads_like_lf() {
    let lf = "start: a\n  | b // c\n\nA.2: \"x\" \\\n  \"y\"\n%ignore A\n%import common.INT\n";
    let crlf = lf.replace('\n', "\r\n");
    let (lf, crlf) = (parsed(lf), parsed(&crlf));
    assert_eq!(show(&lf.rules[0].body), show(&crlf.rules[0].body));
    assert_eq!(show(&lf.terminals[0].body), show(&crlf.terminals[0].body));
    assert_eq!(lf.terminals.len(), crlf.terminals.len());
    assert_eq!(crlf.ignore.len(), 1);

    let text = "start: a\r\nstart: b\r\n";
    let err = failed(text);
    assert_eq!(err.kind, ErrorKind::Duplicate);
    assert_eq!(&text[err.span.unwrap().start..err.span.unwrap().end], "start");
    assert!(err.render("g.lark", text).contains("g.lark:2:1"));
}

#[test]
fn a_json_grammar() {
    let text = r#"
?start: value

?value: object
      | array
      | string
      | SIGNED_NUMBER      -> number
      | "true"             -> true
      | "false"            -> false
      | "null"             -> null

array  : "[" [value ("," value)*] "]"
object : "{" [pair ("," pair)*] "}"
pair   : string ":" value

string : ESCAPED_STRING

%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"#;
    let grammar = parsed(text);
    let rules: Vec<&str> = grammar.rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(rules, ["start", "value", "array", "object", "pair", "string"]);
    assert_eq!(show(&grammar.rules[2].body), r#"(seq "[" (rep 0 1 (seq value (rep 0 * (seq "," value)))) "]")"#);
    assert_eq!(show(&grammar.rules[1].body), r#"(alt object array string SIGNED_NUMBER "true" "false" "null")"#);
    assert_eq!(grammar.ignore.len(), 1);
}

// ---------------------------------------------------------------------------
// Imports

fn terminal<'a>(grammar: &'a Ebnf, name: &str) -> &'a TerminalDef {
    grammar.terminals.iter().find(|terminal| terminal.name == name).unwrap_or_else(|| panic!("no terminal {name}"))
}

fn terminal_names(grammar: &Ebnf) -> Vec<&str> {
    grammar.terminals.iter().map(|terminal| terminal.name.as_str()).collect()
}

/// The references in an expression.
fn refs(expr: &Expr, out: &mut Vec<String>) {
    match &expr.kind {
        ExprKind::Ref(name) => out.push(name.clone()),
        ExprKind::Seq(items) | ExprKind::Alt(items) => items.iter().for_each(|item| refs(item, out)),
        ExprKind::Repeat { expr, .. } => refs(expr, out),
        _ => {}
    }
}

/// A terminal as one regex for the `regex` crate, references inlined.
fn terminal_regex(grammar: &Ebnf, name: &str) -> String {
    fn regex(grammar: &Ebnf, expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Empty => "(?:)".to_string(),
            ExprKind::Ref(name) => regex(grammar, &terminal(grammar, name).body),
            ExprKind::Literal { value, case_insensitive: false } => regex_syntax::escape(value),
            ExprKind::Literal { value, case_insensitive: true } => {
                format!("(?i:{})", regex_syntax::escape(value))
            }
            ExprKind::Pattern(hir) => format!("(?:{hir})"),
            ExprKind::Seq(items) => items.iter().map(|item| regex(grammar, item)).collect(),
            ExprKind::Alt(items) => {
                let items: Vec<String> = items.iter().map(|item| regex(grammar, item)).collect();
                format!("(?:{})", items.join("|"))
            }
            ExprKind::Repeat { expr, min, max } => {
                let max = max.map_or(String::new(), |max| max.to_string());
                format!("(?:{}){{{min},{max}}}", regex(grammar, expr))
            }
        }
    }
    format!("^(?:{})$", regex(grammar, &terminal(grammar, name).body))
}

/// Lark's `common` terminals with strings they match and strings they do
/// not, as checked against lark 1.3 itself (for ESCAPED_STRING and
/// C_COMMENT: the lexeme lark's lexer takes from the start of the text).
const COMMON_CASES: &[(&str, &[&str], &[&str])] = &[
    ("DIGIT", &["0", "7"], &["a", "12", ""]),
    ("HEXDIGIT", &["f", "F", "9"], &["g", "ff"]),
    ("INT", &["0", "0123"], &["", "-1", "1.0"]),
    ("SIGNED_INT", &["+1", "-1", "1"], &["+", "+-1"]),
    ("DECIMAL", &["1.", "1.5", ".5"], &[".", "1", "1.5e3"]),
    ("FLOAT", &["1e5", "1.5E-3", ".5", "1.", "2e+7"], &["1", "e5", "1e", "1.5e"]),
    ("SIGNED_FLOAT", &["-1.5", "+.5e1"], &["-1", "1"]),
    ("NUMBER", &["1", "1.5", "1e5"], &["-1", "1e"]),
    ("SIGNED_NUMBER", &["-1", "+1.5e3", "7"], &["--1", "+"]),
    (
        "ESCAPED_STRING",
        &[r#""""#, r#""a\"b""#, r#""a\\""#, r#""\\\\""#, r#""\n é""#],
        &[r#""a"b""#, r#""a\""#, "\"a\nb\"", "\"a\\\nb\"", r#""a"#],
    ),
    ("LCASE_LETTER", &["a", "z"], &["A", "é"]),
    ("UCASE_LETTER", &["A", "Z"], &["a"]),
    ("LETTER", &["a", "Z"], &["1", "é", "_"]),
    ("WORD", &["abcXYZ", "a"], &["ab1", "", "a_b"]),
    ("CNAME", &["_a1", "abc", "_", "A_9"], &["1a", "a-b"]),
    ("WS", &[" ", " \t\n\r\x0c"], &["", "\x0b", " a"]),
    ("WS_INLINE", &[" \t", " "], &["\n", ""]),
    ("CR", &["\r"], &["\n"]),
    ("LF", &["\n"], &["\r"]),
    ("NEWLINE", &["\n", "\r\n", "\r\n\n\r\n"], &["\r", "\n\r", ""]),
    ("SH_COMMENT", &["#", "# x"], &["# x\n", "x"]),
    ("CPP_COMMENT", &["//", "// x /* y"], &["/ x", "// x\n"]),
    ("SQL_COMMENT", &["--", "-- x"], &["- x", "-- x\n"]),
    ("C_COMMENT", &["/**/", "/* a */", "/* * / \n */", "/***/", "/*/ */"], &["/* */ */", "/*/", "/* *"]),
];

#[test]
fn common_terminals_match_larks_languages() {
    for &(name, accepted, rejected) in COMMON_CASES {
        let grammar = parsed(&format!("%import common.{name}"));
        let regex = regex::Regex::new(&terminal_regex(&grammar, name)).unwrap();
        for text in accepted {
            assert!(regex.is_match(text), "{name} should match {text:?}");
        }
        for text in rejected {
            assert!(!regex.is_match(text), "{name} should not match {text:?}");
        }
    }
}

#[test]
fn imports_bring_their_dependencies_under_larks_names() {
    let text = "%import common.SIGNED_NUMBER\nstart: SIGNED_NUMBER";
    let grammar = parsed(text);
    let mut names = terminal_names(&grammar);
    assert_eq!(names[0], "SIGNED_NUMBER");
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "SIGNED_NUMBER",
            "_common__EXP",
            "common__DECIMAL",
            "common__DIGIT",
            "common__FLOAT",
            "common__INT",
            "common__NUMBER",
            "common__SIGNED_INT",
        ]
    );
    // Every reference is to a terminal that came along, and every span
    // points at the import.
    let name_at = text.find("SIGNED_NUMBER").unwrap();
    for terminal in &grammar.terminals {
        let mut used = Vec::new();
        refs(&terminal.body, &mut used);
        for name in used {
            assert!(names.contains(&name.as_str()), "{} uses {name}", terminal.name);
        }
        assert_eq!(terminal.name_span.start, name_at);
        assert_eq!(terminal.body.span, terminal.name_span);
    }
}

#[test]
fn every_common_terminal_imports_completely() {
    for &(name, _, _) in COMMON_CASES {
        let grammar = parsed(&format!("%import common.{name}"));
        let names = terminal_names(&grammar);
        for terminal in &grammar.terminals {
            let mut used = Vec::new();
            refs(&terminal.body, &mut used);
            assert!(used.iter().all(|used| names.contains(&used.as_str())), "{name}: {used:?}");
        }
    }
}

#[test]
fn aliases_and_explicit_imports_rename_references() {
    let grammar = parsed("%import common.INT -> N\n%import common.SIGNED_INT\n%import common (DIGIT, WS)");
    let names = terminal_names(&grammar);
    assert_eq!(names, ["N", "SIGNED_INT", "DIGIT", "WS"]);
    assert_eq!(show(&terminal(&grammar, "SIGNED_INT").body), r#"(seq (rep 0 1 (alt "+" "-")) N)"#);
    assert_eq!(show(&terminal(&grammar, "N").body), "(rep 1 * DIGIT)");
}

#[test]
fn repeated_imports_define_once() {
    let grammar = parsed("%import common.INT\n%import common.INT\n%import common (INT, DIGIT)\n%import common.DIGIT");
    assert_eq!(terminal_names(&grammar), ["INT", "DIGIT"]);
}

#[test]
fn imports_and_local_definitions_live_together() {
    // As in lark, a grammar may define a name that an import uses.
    let grammar = parsed("%import common.INT\nDIGIT: \"x\"\nstart: INT DIGIT");
    assert_eq!(terminal_names(&grammar), ["DIGIT", "INT", "common__DIGIT"]);
    assert_eq!(show(&terminal(&grammar, "INT").body), "(rep 1 * common__DIGIT)");
}

// ---------------------------------------------------------------------------
// Errors

/// Each grammar fails with this kind, at the `nth` (0-based) occurrence of
/// the span text, with this fragment in the message.
const ERRORS: &[(&str, ErrorKind, &str, usize, &str)] = &[
    // Leaves
    ("start: \"abc", ErrorKind::Syntax, "\"", 0, "unterminated string"),
    ("start: \"abc\n\"", ErrorKind::Syntax, "\"", 0, "unterminated string"),
    ("start: /abc", ErrorKind::Syntax, "/", 0, "unterminated regex"),
    ("start: \"a\\x4\"", ErrorKind::Syntax, "\\x4", 0, "2 hex digits"),
    ("start: \"\\ud800\"", ErrorKind::Syntax, "\\ud800", 0, "not a Unicode scalar value"),
    ("start: \"\"", ErrorKind::Syntax, "\"\"", 0, "empty string literal"),
    ("start: a \"\"i", ErrorKind::Syntax, "\"\"i", 0, "empty string literal"),
    ("start: /a(?=b)/", ErrorKind::Regex, "(?=", 0, "look-around"),
    ("start: /(?<!a)b/", ErrorKind::Regex, "(?<!", 0, "look-around"),
    ("start: /\\w+(?!b)/", ErrorKind::Regex, "(?!", 0, "look-around"),
    ("start: /(a)\\1/", ErrorKind::Regex, "\\1", 0, "backreference"),
    ("start: /a{/", ErrorKind::Regex, "{", 0, "repetition"),
    ("start: /[\\w-z]/", ErrorKind::Regex, "\\w-z", 0, "range"),
    ("start: /a/g", ErrorKind::Regex, "g", 0, "unknown regex flag `g`"),
    ("start: /a/il", ErrorKind::Regex, "l", 0, "`l`"),
    ("start: /a\nb/", ErrorKind::Syntax, "\n", 0, "`x` (verbose) flag"),
    ("start: \"a\"..\"bc\"", ErrorKind::Syntax, "\"bc\"", 0, "single character"),
    ("start: \"a\"i..\"c\"", ErrorKind::Syntax, "\"a\"i", 0, "`i` flag"),
    ("start: \"z\"..\"a\"", ErrorKind::Regex, "\"z\"..\"a\"", 0, "empty"),
    // Operators
    ("start: a~3..2", ErrorKind::Syntax, "a~3..2", 0, "3..2 is empty"),
    ("start: a~-1", ErrorKind::Syntax, "-1", 0, "repetition count"),
    ("start: a~99999999999", ErrorKind::Syntax, "99999999999", 0, "repetition count"),
    ("start: a~99999999999999999999", ErrorKind::Syntax, "99999999999999999999", 0, "too large"),
    ("start: a??", ErrorKind::Syntax, "?", 1, "misplaced operator `?`"),
    ("start: a*+", ErrorKind::Syntax, "+", 0, "misplaced operator `+`"),
    ("start: +a", ErrorKind::Syntax, "+", 0, "misplaced operator"),
    // Definitions
    ("start: (a -> b)", ErrorKind::Syntax, "->", 0, "alias"),
    ("%ignore a -> b", ErrorKind::Syntax, "->", 0, "alias"),
    ("A: \"a\" -> b", ErrorKind::Syntax, "b", 0, "not allowed in terminals"),
    ("start: \"a\" -> B", ErrorKind::Syntax, "B", 0, "must be a rule name"),
    ("?A: \"a\"", ErrorKind::Syntax, "?", 0, "terminal `A`"),
    ("??a: \"x\"", ErrorKind::Syntax, "?", 1, "repeated"),
    ("A.3000000000: \"a\"", ErrorKind::Syntax, "3000000000", 0, "out of range"),
    ("aB: x", ErrorKind::Syntax, "aB", 0, "neither a rule name nor a terminal name"),
    ("start: __x", ErrorKind::Syntax, "__x", 0, "neither"),
    ("start", ErrorKind::Syntax, "", 0, "expected `:`"),
    ("start a", ErrorKind::Syntax, "a", 1, "expected one of `:`, `.`"),
    ("start: a\n\"b\"", ErrorKind::Syntax, "\"b\"", 0, "expected a definition"),
    ("start: a b: c", ErrorKind::Syntax, ":", 1, "unexpected `:`"),
    ("start: (a", ErrorKind::Syntax, "(", 0, "never closed"),
    ("start: [a\n", ErrorKind::Syntax, "[", 0, "never closed"),
    ("start: a)", ErrorKind::Syntax, ")", 0, "unexpected `)`"),
    ("start: (a]", ErrorKind::Syntax, "]", 0, "unexpected `]`"),
    ("start: @", ErrorKind::Syntax, "@", 0, "unexpected character `@`"),
    ("start: é", ErrorKind::Syntax, "é", 0, "unexpected character `é`"),
    ("start: a \\ b", ErrorKind::Syntax, "\\", 0, "unexpected `\\`"),
    ("start: a - b", ErrorKind::Syntax, "-", 0, "unexpected character `-`"),
    // Duplicates
    ("start: a\nstart: b", ErrorKind::Duplicate, "start", 1, "rule `start` is already defined on line 1"),
    ("A: \"a\"\n\nA: \"b\"", ErrorKind::Duplicate, "A", 1, "terminal `A` is already defined on line 1"),
    ("INT: \"x\"\n%import common.INT", ErrorKind::Duplicate, "INT", 1, "already defined on line 1"),
    ("%import common.INT\nINT: \"x\"", ErrorKind::Duplicate, "INT", 1, "already defined on line 1"),
    ("%import common.INT -> X\nX: \"x\"", ErrorKind::Duplicate, "X", 1, "already defined on line 1"),
    ("%import common.INT -> X\n%import common.WORD -> X", ErrorKind::Duplicate, "X", 1, "line 1"),
    (
        "%import common.INT\n%import common.INT -> N",
        ErrorKind::Duplicate,
        "N",
        2,
        "already imported as `INT` on line 1",
    ),
    // Imports
    ("%import common.NOPE", ErrorKind::Undefined, "NOPE", 0, "no `NOPE`"),
    ("%import common (INT, nope)", ErrorKind::Undefined, "nope", 0, "no `nope`"),
    ("%import common._STRING_ESC_INNER", ErrorKind::Undefined, "_STRING_ESC_INNER", 0, "no `_STRING_ESC_INNER`"),
    ("%import common", ErrorKind::Syntax, "common", 0, "nothing is imported"),
    ("%import python.NAME", ErrorKind::Unsupported, "python", 0, "cannot import from `python`"),
    ("%import common.sub.NAME", ErrorKind::Unsupported, "common.sub", 0, "`common.sub`"),
    ("%import unicode (LETTER)", ErrorKind::Unsupported, "unicode", 0, "`unicode`"),
    ("%import .grammar.NAME", ErrorKind::Unsupported, ".grammar.NAME", 0, "relative imports"),
    ("%import common.WS -> ws", ErrorKind::Syntax, "ws", 0, "must be uppercase"),
    ("%import common.WS ->", ErrorKind::Syntax, "", 0, "unexpected end of line"),
    ("%import \"a\"", ErrorKind::Syntax, "\"a\"", 0, "unexpected string literal"),
    // Unsupported constructs
    ("%declare A", ErrorKind::Unsupported, "%declare", 0, "`%declare`"),
    ("%override a: \"x\"", ErrorKind::Unsupported, "%override", 0, "`%override`"),
    ("%extend a: \"x\"", ErrorKind::Unsupported, "%extend", 0, "`%extend`"),
    ("%foo bar", ErrorKind::Unsupported, "%foo", 0, "`%foo`"),
    ("start: a\n%", ErrorKind::Syntax, "%", 0, "directive name"),
    ("start: sep{a, \",\"}", ErrorKind::Unsupported, "{", 0, "templates"),
    ("sep{x, y}: x (y x)*", ErrorKind::Unsupported, "{", 0, "templates"),
];

#[test]
fn errors_say_what_and_where() {
    for &(text, kind, span_text, nth, fragment) in ERRORS {
        let err = failed(text);
        let rendered = err.render("<test>", text);
        assert_eq!(err.kind, kind, "{text:?}: {rendered}");
        assert!(err.message.contains(fragment), "{text:?}: {rendered}");
        let span = err.span.unwrap_or_else(|| panic!("{text:?} has no span: {rendered}"));
        let start = if span_text.is_empty() {
            // End of the text (a missing token).
            text.len()
        } else {
            text.match_indices(span_text).nth(nth).map(|(at, _)| at).unwrap_or_else(|| panic!("{span_text:?}"))
        };
        assert_eq!((span.start, span.end), (start, start + span_text.len()), "{text:?}: {rendered}");
    }
}

#[test]
fn errors_help_with_the_usual_mistakes() {
    let help = |text: &str| failed(text).help.unwrap_or_default();
    assert!(help("start: /a(?=b)/").contains("DFA"));
    assert!(help("start: /(a)\\1/").contains("non-regular"));
    assert!(help("start: (a\nb: c").contains("`(` at 1:8 is not closed"));
    assert!(help("start: a b: c").contains("new line"));
    assert!(help("start: a\n  \"b\"").contains("`|`"));
    assert!(help("start: a\nstart: b").contains("`|`"));
    assert!(help("%import common.NOPE").contains("ESCAPED_STRING"));
    assert!(help("%import common._STRING_INNER").contains("one regex"));
    assert!(help("start: /a/g").contains("space"));
    assert!(help("start: a??").contains("(a?)*"));
}

#[test]
fn nesting_is_limited() {
    let deep = format!("start: {}a{}", "(".repeat(200), ")".repeat(200));
    let err = failed(&deep);
    assert_eq!(err.kind, ErrorKind::TooLarge);
    let fine = format!("start: {}a{}", "[".repeat(90), "]".repeat(90));
    assert!(parse(&fine).is_ok());
}

// ---------------------------------------------------------------------------
// Robustness: any input gives a grammar or an error with a sane span.

fn check_total(text: &str) {
    if let Err(err) = parse(text) {
        if let Some(span) = err.span {
            assert!(span.start <= span.end && span.end <= text.len(), "{text:?}: {err:?}");
        }
        let _ = err.render("<fuzz>", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_grammar_like_text(
        text in proptest::collection::vec(
            prop_oneof![
                Just("start"), Just("a"), Just("B"), Just("_c"), Just(":"), Just("|"), Just("("),
                Just(")"), Just("["), Just("]"), Just("?"), Just("!"), Just("*"), Just("+"),
                Just("~"), Just("."), Just(".."), Just("->"), Just(","), Just("{"), Just("\n"),
                Just("\r\n"), Just(" "), Just("\"x\""), Just("\"\\"), Just("\""), Just("/"),
                Just("/a/"), Just("/[\\w-]"), Just("i"), Just("1"), Just("-2"), Just("%ignore"),
                Just("%import"), Just("common"), Just("INT"), Just("//"), Just("#"), Just("\\"),
                Just("é"), Just("\u{feff}"), Just("(?="), Just("\\x"), Just("\\u"),
            ],
            0..40,
        )
    ) {
        check_total(&text.concat());
    }

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,60}") {
        check_total(&text);
    }
}
