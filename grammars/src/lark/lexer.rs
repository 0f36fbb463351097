//! The tokens of Lark grammar text, and the hand-written lexer that produces
//! them for the lalrpop parser.
//!
//! Lark's grammar syntax is line-oriented, which is why the lexer is written
//! by hand: a newline ends a definition, except that
//!
//! * a newline followed (after blank lines, indentation and comment lines)
//!   by `|` continues the definition with another alternative — lark's
//!   `_NL_OR` token;
//! * a backslash at the end of a line joins the next line (lark's
//!   `BACKSLASH`);
//! * inside `(...)` and `[...]` newlines are plain whitespace. Lark itself
//!   rejects a newline there unless `|` follows, so this only accepts more
//!   grammars; none that lark accepts changes meaning.
//!
//! The lexer turns the leaves into their final form as it goes: string
//! literals are unescaped ([`super::literal`]) and regexes are compiled to
//! [`Hir`] ([`super::python_re`]), so their errors point into the literal.

use regex_syntax::hir::Hir;

use super::literal;
use super::python_re::{self, RegexFlags};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Brackets may nest at most this deep. Expression trees are built from
/// brackets, so the limit bounds their depth — and the recursion of every
/// pass that walks them later (lowering, `Drop`, `Debug`).
pub(super) const MAX_NESTING: usize = 100;

#[derive(Clone, Debug)]
pub(super) enum Tok {
    /// The end of a definition or directive.
    EndOfLine,
    Colon,
    Pipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Question,
    Bang,
    Star,
    Plus,
    Tilde,
    Dot,
    DotDot,
    Arrow,
    Comma,
    Ignore,
    Import,
    RuleName(String),
    TerminalName(String),
    Number(i64),
    Str(StringLiteral),
    Regex(Hir),
}

/// A `"..."` literal, unescaped.
#[derive(Clone, Debug)]
pub(super) struct StringLiteral {
    pub value: String,
    pub case_insensitive: bool,
}

impl Tok {
    /// The token as an error message names it.
    pub(super) fn describe(&self) -> String {
        let punctuation = match self {
            Tok::EndOfLine => return "end of line".to_string(),
            Tok::RuleName(name) => return format!("rule name `{name}`"),
            Tok::TerminalName(name) => return format!("terminal name `{name}`"),
            Tok::Number(n) => return format!("number `{n}`"),
            Tok::Str(_) => return "string literal".to_string(),
            Tok::Regex(_) => return "regex".to_string(),
            Tok::Colon => ":",
            Tok::Pipe => "|",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Question => "?",
            Tok::Bang => "!",
            Tok::Star => "*",
            Tok::Plus => "+",
            Tok::Tilde => "~",
            Tok::Dot => ".",
            Tok::DotDot => "..",
            Tok::Arrow => "->",
            Tok::Comma => ",",
            Tok::Ignore => "%ignore",
            Tok::Import => "%import",
        };
        format!("`{punctuation}`")
    }
}

pub(super) type Spanned = (usize, Tok, usize);

pub(super) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// The brackets open at `pos`: the bracket and its offset.
    open: Vec<(char, usize)>,
    /// Whether nothing but line ends has been emitted since the last
    /// definition, so that runs of blank lines give one `EndOfLine`.
    at_line_start: bool,
    finished: bool,
    /// [`SourceOptions::ascii_classes`](crate::SourceOptions::ascii_classes),
    /// for every regex of the grammar.
    ascii_classes: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str, ascii_classes: bool) -> Lexer<'a> {
        // A byte-order mark is not part of the grammar.
        let pos = crate::span::skip_bom(text);
        Lexer { text, pos, open: Vec::new(), at_line_start: true, finished: false, ascii_classes }
    }

    /// The text being lexed.
    pub(super) fn text(&self) -> &'a str {
        self.text
    }

    /// The innermost bracket still open where lexing stopped, if any.
    pub(super) fn open_bracket(&self) -> Option<(char, usize)> {
        self.open.last().copied()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|rest| rest.chars().next())
    }

    fn emit(&mut self, start: usize, tok: Tok, end: usize) -> Result<Option<Spanned>, GrammarError> {
        self.pos = end;
        self.at_line_start = matches!(tok, Tok::EndOfLine);
        Ok(Some((start, tok, end)))
    }

    fn next_token(&mut self) -> Result<Option<Spanned>, GrammarError> {
        loop {
            let start = self.pos;
            let Some(c) = self.char_at(start) else {
                return self.end_of_input();
            };
            let next = self.byte(start + 1);
            match c {
                ' ' | '\t' | '\r' | '\x0b' | '\x0c' => self.pos += 1,
                '\n' => {
                    self.pos += 1;
                    if !self.open.is_empty() {
                        continue;
                    }
                    self.skip_blank_lines();
                    if self.byte(self.pos) == Some(b'|') || self.at_line_start {
                        // Another alternative of the same definition, or a
                        // blank line: nothing ends here.
                        continue;
                    }
                    self.at_line_start = true;
                    return Ok(Some((start, Tok::EndOfLine, start + 1)));
                }
                '/' if next == Some(b'/') => self.skip_comment(),
                '#' => self.skip_comment(),
                '\\' => self.line_continuation(start)?,
                ':' => return self.emit(start, Tok::Colon, start + 1),
                '|' => return self.emit(start, Tok::Pipe, start + 1),
                '(' | '[' => {
                    if self.open.len() >= MAX_NESTING {
                        return Err(GrammarError::at(
                            ErrorKind::TooLarge,
                            Span::new(start, start + 1),
                            format!("brackets are nested more than {MAX_NESTING} deep"),
                        ));
                    }
                    self.open.push((c, start));
                    let tok = if c == '(' { Tok::LParen } else { Tok::LBracket };
                    return self.emit(start, tok, start + 1);
                }
                ')' | ']' => {
                    self.open.pop();
                    let tok = if c == ')' { Tok::RParen } else { Tok::RBracket };
                    return self.emit(start, tok, start + 1);
                }
                '?' => return self.emit(start, Tok::Question, start + 1),
                '!' => return self.emit(start, Tok::Bang, start + 1),
                '*' => return self.emit(start, Tok::Star, start + 1),
                '~' => return self.emit(start, Tok::Tilde, start + 1),
                ',' => return self.emit(start, Tok::Comma, start + 1),
                '.' if next == Some(b'.') => return self.emit(start, Tok::DotDot, start + 2),
                '.' => return self.emit(start, Tok::Dot, start + 1),
                '-' if next == Some(b'>') => return self.emit(start, Tok::Arrow, start + 2),
                // Lark's NUMBER is `[+-]?\d+`: a sign directly before a digit
                // belongs to the number (`name.-1:`).
                '+' | '-' if next.is_some_and(|b| b.is_ascii_digit()) => return self.number(start),
                '+' => return self.emit(start, Tok::Plus, start + 1),
                '0'..='9' => return self.number(start),
                '"' => return self.string(start),
                '/' => return self.regex(start),
                '%' => return self.directive(start),
                '{' | '}' => {
                    return Err(GrammarError::at(
                        ErrorKind::Unsupported,
                        Span::new(start, start + 1),
                        "templates (`name{param, ...}: ...` and their uses `name{arg, ...}`) are not supported",
                    )
                    .with_help("write out each instantiation as its own rule"));
                }
                c if c == '_' || c.is_ascii_alphabetic() => return self.name(start),
                c => {
                    let mut err = GrammarError::at(
                        ErrorKind::Syntax,
                        Span::new(start, start + c.len_utf8()),
                        format!("unexpected character `{}`", c.escape_debug()),
                    );
                    if c == '-' {
                        err = err.with_help("an alias is written `-> name`");
                    }
                    return Err(err);
                }
            }
        }
    }

    fn end_of_input(&mut self) -> Result<Option<Spanned>, GrammarError> {
        if let Some((bracket, at)) = self.open_bracket() {
            let closing = if bracket == '(' { ')' } else { ']' };
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                Span::new(at, at + 1),
                format!("`{bracket}` is never closed"),
            )
            .with_help(format!("add the missing `{closing}`")));
        }
        if self.at_line_start {
            return Ok(None);
        }
        // Like lark, which appends a newline to the text, the last
        // definition needs no line end.
        let end = self.text.len();
        self.emit(end, Tok::EndOfLine, end)
    }

    /// Skips whitespace, line ends and comment lines after a line end, so
    /// that the next character decides whether the definition goes on.
    fn skip_blank_lines(&mut self) {
        loop {
            match self.byte(self.pos) {
                Some(b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'#') => self.skip_comment(),
                Some(b'/') if self.byte(self.pos + 1) == Some(b'/') => self.skip_comment(),
                _ => return,
            }
        }
    }

    /// Skips to the end of the line, leaving the line end itself.
    fn skip_comment(&mut self) {
        let rest = self.text.get(self.pos..).unwrap_or("");
        self.pos += rest.find('\n').unwrap_or(rest.len());
    }

    /// `\` then spaces then a line end: the line goes on (lark's BACKSLASH).
    fn line_continuation(&mut self, start: usize) -> Result<(), GrammarError> {
        let mut at = start + 1;
        while self.byte(at) == Some(b' ') {
            at += 1;
        }
        if self.byte(at) == Some(b'\r') {
            at += 1;
        }
        if self.byte(at) != Some(b'\n') {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                Span::new(start, start + 1),
                "unexpected `\\` outside a string or regex",
            )
            .with_help("a backslash can only end a line, to continue the definition on the next one"));
        }
        self.pos = at + 1;
        Ok(())
    }

    fn number(&mut self, start: usize) -> Result<Option<Spanned>, GrammarError> {
        let mut end = start + 1;
        while self.byte(end).is_some_and(|b| b.is_ascii_digit()) {
            end += 1;
        }
        let digits = self.text.get(start..end).unwrap_or("");
        let value: i64 = digits.parse().map_err(|_| {
            GrammarError::at(ErrorKind::Syntax, Span::new(start, end), format!("the number `{digits}` is too large"))
        })?;
        self.emit(start, Tok::Number(value), end)
    }

    /// A rule name (`_?[a-z][_a-z0-9]*`) or a terminal name
    /// (`_?[A-Z][_A-Z0-9]*`), as lark spells them.
    fn name(&mut self, start: usize) -> Result<Option<Spanned>, GrammarError> {
        let mut end = start;
        while self.byte(end).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            end += 1;
        }
        let name = self.text.get(start..end).unwrap_or("").to_string();
        let tok = match classify_name(&name) {
            Some(NameKind::Rule) => Tok::RuleName(name),
            Some(NameKind::Terminal) => Tok::TerminalName(name),
            None => {
                return Err(GrammarError::at(
                    ErrorKind::Syntax,
                    Span::new(start, end),
                    format!("`{name}` is neither a rule name nor a terminal name"),
                )
                .with_help(
                    "rule names are lowercase (`_?[a-z][_a-z0-9]*`), terminal names uppercase \
                     (`_?[A-Z][_A-Z0-9]*`)",
                ));
            }
        };
        self.emit(start, tok, end)
    }

    fn directive(&mut self, start: usize) -> Result<Option<Spanned>, GrammarError> {
        let mut end = start + 1;
        while self.byte(end).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            end += 1;
        }
        let word = self.text.get(start + 1..end).unwrap_or("");
        let span = Span::new(start, end);
        let unsupported = |what: &str, help: &str| {
            Err(GrammarError::at(ErrorKind::Unsupported, span, format!("{what} is not supported")).with_help(help))
        };
        match word {
            "ignore" => self.emit(start, Tok::Ignore, end),
            "import" => self.emit(start, Tok::Import, end),
            "declare" => {
                unsupported("`%declare`", "a declared terminal has no definition, so Trellis cannot lex it; define it")
            }
            "override" => unsupported("`%override`", "edit the definition itself"),
            "extend" => unsupported("`%extend`", "add the alternatives to the definition itself"),
            "" => Err(GrammarError::at(ErrorKind::Syntax, span, "expected a directive name after `%`")),
            other => {
                unsupported(&format!("the directive `%{other}`"), "Trellis supports `%ignore` and `%import common...`")
            }
        }
    }

    /// `"..."` with an optional `i` flag. Lark's STRING token is
    /// `"(\\"|\\\\|[^"\n])*?"i?`: it ends at the first quote not escaped by
    /// a backslash, on the same line.
    fn string(&mut self, start: usize) -> Result<Option<Spanned>, GrammarError> {
        let content_start = start + 1;
        let mut at = content_start;
        loop {
            match self.byte(at) {
                None | Some(b'\n') => {
                    return Err(GrammarError::at(
                        ErrorKind::Syntax,
                        Span::new(start, start + 1),
                        "unterminated string literal",
                    )
                    .with_help("a string literal ends with `\"` on the line where it starts"));
                }
                Some(b'\\') if matches!(self.byte(at + 1), Some(b'"' | b'\\')) => at += 2,
                Some(b'"') => break,
                Some(_) => at += 1,
            }
        }
        // `at` is on the closing quote, an ASCII byte, so the slice is on
        // character boundaries.
        let content = self.text.get(content_start..at).unwrap_or("");
        let mut end = at + 1;
        let case_insensitive = self.byte(end) == Some(b'i');
        if case_insensitive {
            end += 1;
        }
        let value = literal::unescape(content, content_start)?;
        if value.is_empty() {
            return Err(GrammarError::at(ErrorKind::Syntax, Span::new(start, end), "empty string literal")
                .with_help("lark allows no empty terminals; leave the alternative empty or use `[...]`"));
        }
        self.emit(start, Tok::Str(StringLiteral { value, case_insensitive }), end)
    }

    /// `/.../flags`. Lark's REGEXP token is `/(?!/)(\\/|\\\\|[^/])*?/[imslux]*`:
    /// it ends at the first `/` not escaped by a backslash, possibly on a
    /// later line (which only the `x` flag allows).
    fn regex(&mut self, start: usize) -> Result<Option<Spanned>, GrammarError> {
        let content_start = start + 1;
        let mut at = content_start;
        loop {
            match self.byte(at) {
                None => {
                    return Err(GrammarError::at(ErrorKind::Syntax, Span::new(start, start + 1), "unterminated regex")
                        .with_help("a regex ends with an unescaped `/`; write `\\/` for a slash inside it"));
                }
                Some(b'\\') if matches!(self.byte(at + 1), Some(b'/' | b'\\')) => at += 2,
                Some(b'/') => break,
                Some(_) => at += 1,
            }
        }
        let content = self.text.get(content_start..at).unwrap_or("");
        let flags_start = at + 1;
        let mut end = flags_start;
        while self.byte(end).is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            end += 1;
        }
        let mut flags = RegexFlags { ascii_classes: self.ascii_classes, ..RegexFlags::default() };
        for (i, flag) in self.text.get(flags_start..end).unwrap_or("").char_indices() {
            let span = Span::new(flags_start + i, flags_start + i + 1);
            match flag {
                'i' => flags.case_insensitive = true,
                'm' => flags.multi_line = true,
                's' => flags.dot_matches_new_line = true,
                'x' => flags.verbose = true,
                // Python's re.UNICODE: the default for str patterns.
                'u' => {}
                'l' => {
                    return Err(GrammarError::at(
                        ErrorKind::Regex,
                        span,
                        "the regex flag `l` (locale-dependent matching) is not supported",
                    )
                    .with_help("Python refuses it for text patterns too; remove it"));
                }
                other => {
                    return Err(GrammarError::at(ErrorKind::Regex, span, format!("unknown regex flag `{other}`"))
                        .with_help(
                            "the flags are `i`, `m`, `s`, `x` and `u`; put a space before a name that follows a regex",
                        ));
                }
            }
        }
        if !flags.verbose
            && let Some(newline) = content.find('\n')
        {
            let at = content_start + newline;
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                Span::new(at, at + 1),
                "a regex can span lines only with the `x` (verbose) flag",
            )
            .with_help("is the closing `/` missing?"));
        }
        let hir = python_re::compile(content, content_start, flags)?;
        self.emit(start, Tok::Regex(hir), end)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Spanned, GrammarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let result = self.next_token();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result.transpose()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NameKind {
    Rule,
    Terminal,
}

/// Lark's spelling rules: `_?[a-z][_a-z0-9]*` for rules and
/// `_?[A-Z][_A-Z0-9]*` for terminals.
pub(super) fn classify_name(name: &str) -> Option<NameKind> {
    let body = name.strip_prefix('_').unwrap_or(name);
    let first = body.bytes().next()?;
    let rest = body.bytes().skip(1);
    if first.is_ascii_lowercase() {
        let ok = rest.clone().all(|b| b == b'_' || b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then_some(NameKind::Rule)
    } else if first.is_ascii_uppercase() {
        let ok = rest.clone().all(|b| b == b'_' || b.is_ascii_uppercase() || b.is_ascii_digit());
        ok.then_some(NameKind::Terminal)
    } else {
        None
    }
}
