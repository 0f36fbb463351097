//! Lark-style EBNF: the grammar language of the Python parser
//! [lark](https://github.com/lark-parser/lark), parsed into the
//! surface-neutral [`Ebnf`].
//!
//! A Lark grammar is a list of definitions, one per line. Lowercase names
//! are *rules* (`pair: KEY "=" value`), the context-free part; uppercase
//! names are *terminals* (`KEY: /[a-z]+/`), regular languages that a lexer
//! matches. Rule bodies use terminals, other rules, and anonymous terminals
//! written in place (`"="`, `/\d+/`). Directives start with `%`: `%ignore`
//! names what the lexer skips between lexemes, `%import` brings terminals
//! from a library. The result has [`Lexing::Greedy`] and starts at `start`;
//! names are not resolved here — lowering does that, and reports undefined
//! names and recursive terminals.
//!
//! ```
//! use trellis_grammars::ebnf::ExprKind;
//! use trellis_grammars::{ErrorKind, lark};
//!
//! let grammar = lark::parse(
//!     r#"
//! // key = value pairs, separated by commas
//! start: pair ("," pair)*
//! pair: KEY "=" value
//! ?value: SIGNED_NUMBER
//!       | ESCAPED_STRING -> string
//! KEY: /[a-z_]\w*/
//!
//! %import common (SIGNED_NUMBER, ESCAPED_STRING, WS)
//! %ignore WS
//! "#,
//! )?;
//! assert_eq!(grammar.start, "start");
//! assert_eq!(grammar.rules.len(), 3);
//! let terminals: Vec<&str> = grammar.terminals.iter().map(|t| t.name.as_str()).collect();
//! // KEY, the three imports, and the terminals they use (named as lark
//! // names them).
//! assert_eq!(terminals[..4], ["KEY", "SIGNED_NUMBER", "ESCAPED_STRING", "WS"]);
//! assert!(terminals.contains(&"common__DIGIT"));
//! assert!(matches!(&grammar.ignore[0].kind, ExprKind::Ref(name) if name == "WS"));
//!
//! // A DFA cannot look around: the error points into the regex.
//! let err = lark::parse("start: /a(?=b)/").unwrap_err();
//! assert_eq!(err.kind, ErrorKind::Regex);
//! assert_eq!(err.span.map(|s| s.start), Some(9));
//! # Ok::<(), trellis_grammars::GrammarError>(())
//! ```
//!
//! # What is supported
//!
//! * **Rules** `name: expansion | expansion ...`, with the modifiers `?name`
//!   and `!name`, a leading `_`, a priority `name.2:` and aliases
//!   `expansion -> alias`. All of these shape lark's parse tree (or, for the
//!   priority, Earley's choice among ambiguous parses), not the language, so
//!   they are checked and dropped.
//! * **Terminals** `NAME: expansion` (or `_NAME`), with a priority
//!   `NAME.2:` (negative allowed; default 0, as in lark) kept in
//!   [`TerminalDef::priority`](crate::ebnf::TerminalDef::priority).
//! * **Expansions**: sequences, `|`, `( ... )`, `[ ... ]` (optional, like
//!   `?`), one postfix operator per item (`?`, `*`, `+`, `~ n`, `~ n..m`),
//!   names, string literals `"..."` with an optional `i` flag, regexes
//!   `/.../flags`, and character ranges `"a".."z"`.
//! * **String escapes** as lark reads them: `\\ \" \n \t \r \f \xHH \uHHHH
//!   \UHHHHHHHH`; a backslash before anything else stays in the string
//!   (`"\d"` is two characters).
//! * **Regexes** in Python's `re` dialect, compiled with regex-syntax
//!   (rewritten where the two dialects differ, see `python_re.rs`), with the
//!   flags `i` `m` `s` `x` (case-insensitive, multi-line, dot matches
//!   newline, verbose) and `u` (no effect: Unicode is the default, as for
//!   Python `str` patterns). A regex may span lines only with `x`.
//! * **Lines**: a definition ends at the end of its line, unless the next
//!   non-blank line starts with `|` (comment lines may come between), the
//!   line ends with `\`, or a bracket is open. Comments are `// ...` and
//!   `# ...`. CRLF line ends are accepted.
//! * **Directives**: `%ignore expansion`; `%import common.NAME`,
//!   `%import common.NAME -> ALIAS` and `%import common (NAME, ...)` from
//!   Trellis's bundled `common.lark`, which defines lark's `common`
//!   terminals (`DIGIT`, `INT`, `NUMBER`, `ESCAPED_STRING`, `CNAME`, `WS`,
//!   `NEWLINE`, `C_COMMENT`, ...) with the same languages, written for a DFA.
//!
//! # What is not
//!
//! Each of these is an error, never ignored: templates (`name{a, b}: ...`
//! and their uses), `%declare`, `%override`, `%extend` and other
//! directives ([`ErrorKind::Unsupported`]); imports from anything but
//! `common`, including relative ones and lark's other bundled grammars;
//! names `common` does not define (notably lark's lazy helpers
//! `_STRING_INNER`/`_STRING_ESC_INNER`); regex features a DFA cannot
//! express, such as look-around, backreferences (`\1`, `(?P=name)`), atomic
//! groups and possessive repetitions ([`ErrorKind::Regex`], pointing at the
//! construct in the regex and naming it); the regex flag `l`.
//!
//! A UTF-8 byte-order mark at the start of the text is skipped. With
//! [`SourceOptions::ascii_classes`] ([`parse_with`]), `\d`, `\w` and `\s`
//! in regexes are ASCII-only, like Python's `re.ASCII` for those classes.
//!
//! # Differences from lark
//!
//! Trellis accepts a few grammars lark refuses — newlines inside brackets,
//! `a ?b` — and means the same by every grammar both accept, except:
//!
//! * lark evaluates the escapes `\xHH`, `\uHHHH`, `\n`, ... of a *regex*
//!   before Python's `re` sees it, so `/a\x2eb/` matches `axb` there and
//!   `/\n/x` matches nothing; Trellis reads them as regex escapes;
//! * lark pastes a range's endpoints into a Python class, so `"^".."z"`
//!   is a negated class there; Trellis takes the characters literally;
//! * Python's and regex-syntax's Unicode tables and case folding may
//!   differ slightly (see `python_re.rs`).
//!
//! Lexing — which terminal wins when several match — is not decided here;
//! see the compiler's documentation of [`Lexing::Greedy`].

use std::collections::HashMap;

use lalrpop_util::ParseError;

use crate::ebnf::{Ebnf, Lexing};
use crate::error::{ErrorKind, GrammarError};
use crate::source::SourceOptions;
use crate::span::{Span, line_column};

use self::lexer::{Lexer, Tok};
use self::statement::Statement;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused)]
    grammar,
    "/lark/grammar.rs"
);
mod import;
mod lexer;
mod literal;
mod python_re;
mod statement;
#[cfg(test)]
mod tests;

/// Parses Lark grammar text into EBNF: [`parse_with`] and the default
/// options.
///
/// Errors carry the span of the offending text: a syntax error, a regex
/// regex-syntax refuses, an unsupported construct, a rule or terminal
/// defined twice, an import `common` cannot satisfy.
pub fn parse(text: &str) -> Result<Ebnf, GrammarError> {
    parse_with(text, &SourceOptions::default())
}

/// Parses Lark grammar text with the options of its source, of which only
/// [`SourceOptions::ascii_classes`] applies: it makes `\d`, `\w`, `\s` (and
/// their negations) ASCII in the grammar's regexes. Terminals imported from
/// `common` are the same either way (they spell their classes out).
pub fn parse_with(text: &str, options: &SourceOptions) -> Result<Ebnf, GrammarError> {
    let statements = parse_statements(text, options.ascii_classes)?;
    let mut grammar = Ebnf {
        lexing: Lexing::Greedy,
        rules: Vec::new(),
        terminals: Vec::new(),
        ignore: Vec::new(),
        start: "start".to_string(),
    };
    let mut defined = Definitions { text, first: HashMap::new() };
    let mut imports = import::Imports::default();
    for statement in statements {
        match statement {
            Statement::Rule(rule) => {
                defined.add(&rule.name, rule.name_span)?;
                grammar.rules.push(rule);
            }
            Statement::Terminal(terminal) => {
                defined.add(&terminal.name, terminal.name_span)?;
                grammar.terminals.push(terminal);
            }
            Statement::Ignore(expr) => grammar.ignore.push(expr),
            Statement::Import(requests) => {
                for request in requests {
                    let (local, local_span) = (request.local.clone(), request.local_span);
                    if imports.add(request, text)? {
                        defined.add(&local, local_span)?;
                    }
                }
            }
        }
    }
    grammar.terminals.extend(imports.definitions()?);
    Ok(grammar)
}

/// Lexes and parses `text` into its statements.
fn parse_statements(text: &str, ascii_classes: bool) -> Result<Vec<Statement>, GrammarError> {
    let mut lexer = Lexer::new(text, ascii_classes);
    grammar::StatementsParser::new().parse(&mut lexer).map_err(|err| syntax_error(err, &lexer))
}

/// The names defined so far, to report the second definition of one.
struct Definitions<'a> {
    text: &'a str,
    first: HashMap<String, Span>,
}

impl Definitions<'_> {
    fn add(&mut self, name: &str, span: Span) -> Result<(), GrammarError> {
        let Some(first) = self.first.get(name) else {
            self.first.insert(name.to_string(), span);
            return Ok(());
        };
        let line = line_column(self.text, first.start).line;
        let (kind, help) = match lexer::classify_name(name) {
            Some(lexer::NameKind::Rule) => {
                ("rule", "to give a rule more alternatives, add them to its definition with `|`")
            }
            _ => ("terminal", "rename one of them"),
        };
        Err(GrammarError::at(ErrorKind::Duplicate, span, format!("{kind} `{name}` is already defined on line {line}"))
            .with_help(help))
    }
}

/// Turns a parser error into a [`GrammarError`] that says what was found,
/// what would have fitted, and — for the usual mistakes — how to fix it.
fn syntax_error(err: ParseError<usize, Tok, GrammarError>, lexer: &Lexer<'_>) -> GrammarError {
    let (start, found, end, expected) = match err {
        ParseError::User { error } => return error,
        ParseError::UnrecognizedToken { token: (start, found, end), expected } => (start, found, end, expected),
        ParseError::ExtraToken { token: (start, found, end) } => (start, found, end, Vec::new()),
        // The lexer always ends the text with a line end, which is never
        // left over, and it reports invalid input itself; stay total anyway.
        ParseError::UnrecognizedEof { location, .. } | ParseError::InvalidToken { location } => {
            return GrammarError::at(ErrorKind::Syntax, Span::new(location, location), "unexpected end of the grammar");
        }
    };
    // lalrpop names the expected tokens as the grammar spells them, quotes
    // included.
    let expected: Vec<String> = expected.iter().map(|name| name.trim_matches('"').to_string()).collect();
    let expects = |name: &str| expected.iter().any(|e| e == name);
    let at_statement_start = expects("%import");
    let found_text = found.describe();
    let (message, mut help) = match found {
        Tok::Arrow if !expects("->") => (
            "an alias (`-> name`) can only end an alternative of a rule".to_string(),
            Some("aliases are not allowed inside `(...)`, `[...]` or `%ignore`".to_string()),
        ),
        Tok::Question | Tok::Star | Tok::Plus | Tok::Tilde if !at_statement_start => (
            format!("misplaced operator {found_text}"),
            Some(
                "an operator follows a name, a literal, a regex or a bracketed group, once; \
                 write `(a?)*` to apply two"
                    .to_string(),
            ),
        ),
        _ if at_statement_start => (
            format!("unexpected {found_text}: expected a definition (`name: ...`) or a directive"),
            Some(
                "a definition ends at the end of its line; continue it on the next line with `|`, \
                 inside brackets, or after a trailing `\\`"
                    .to_string(),
            ),
        ),
        Tok::EndOfLine if expects(":") => ("expected `:` after the name".to_string(), None),
        _ => (format!("unexpected {found_text}{}", expected_list(&expected)), None),
    };
    if let Some((bracket, at)) = lexer.open_bracket() {
        let position = line_column(lexer.text(), at);
        help = Some(format!("the `{bracket}` at {position} is not closed"));
    } else if matches!(found, Tok::Colon) && help.is_none() {
        help = Some("each definition starts on a new line".to_string());
    }
    let err = GrammarError::at(ErrorKind::Syntax, Span::new(start, end), message);
    match help {
        Some(help) => err.with_help(help),
        None => err,
    }
}

/// `, expected one of ...` for a short list of expected tokens, in words.
fn expected_list(expected: &[String]) -> String {
    if expected.is_empty() || expected.len() > 8 {
        return String::new();
    }
    let words: Vec<String> = expected
        .iter()
        .map(|name| match name.as_str() {
            "end of line" => "end of line".to_string(),
            "rule name" | "terminal name" | "number" | "regex" => format!("a {name}"),
            "string" => "a string literal".to_string(),
            other => format!("`{other}`"),
        })
        .collect();
    match words.as_slice() {
        [only] => format!(", expected {only}"),
        _ => format!(", expected one of {}", words.join(", ")),
    }
}
