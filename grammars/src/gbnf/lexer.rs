//! The GBNF lexer: text to tokens for the lalrpop parser.
//!
//! GBNF's newlines are significant, and whether one is depends on what came
//! before it, which a context-free token grammar cannot see cheaply; so the
//! lexer decides. A newline ends a rule, and becomes a [`Tok::Newline`],
//! unless it comes
//!
//! * right after `::=` or `|` (the rule goes on),
//! * inside parentheses (the group goes on), or
//! * right after another newline or at the start of the input (blank lines
//!   between rules),
//!
//! in which case it is whitespace like spaces, tabs and `#` comments. This is
//! llama.cpp's rule: its parser skips newlines exactly there.
//!
//! The lexer also reads whole leaves (string literals, character classes,
//! `.`) into EBNF leaves, so escape errors point at the escape itself, and
//! reports the problems it can see alone: an unmatched `)`, a `(` never
//! closed, token references.

use crate::ebnf::ExprKind;
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

use super::leaf;

#[derive(Clone, Debug)]
pub(crate) enum Tok<'input> {
    /// A rule name `[a-zA-Z0-9-]+` (outside `{...}`).
    Name(&'input str),
    /// A count inside `{...}`; saturates at `u64::MAX`.
    Int(u64),
    /// A string literal, character class or `.`.
    Leaf(ExprKind),
    /// A newline that ends a rule.
    Newline,
    Define,
    Pipe,
    LParen,
    RParen,
    Star,
    Plus,
    Question,
    LBrace,
    RBrace,
    Comma,
    /// Any character GBNF has no use for here; the parser reports it with
    /// what it expected instead.
    Other(char),
}

pub(crate) type Spanned<'input> = (usize, Tok<'input>, usize);

pub(crate) struct Lexer<'input> {
    text: &'input str,
    pos: usize,
    /// Byte offsets of the `(` still open, innermost last.
    open_parens: Vec<usize>,
    /// Between `{` and `}`, where digits are counts rather than names.
    in_braces: bool,
    /// Whether a newline here would end the rule: false at the start, after
    /// a newline, `::=` or `|`.
    newline_ends_rule: bool,
    finished: bool,
}

impl<'input> Lexer<'input> {
    pub(crate) fn new(text: &'input str) -> Lexer<'input> {
        // A byte-order mark is not part of the grammar; spans stay offsets
        // in `text`.
        let pos = crate::span::skip_bom(text);
        Lexer { text, pos, open_parens: Vec::new(), in_braces: false, newline_ends_rule: false, finished: false }
    }

    fn rest(&self) -> &'input str {
        &self.text[self.pos..]
    }

    /// Skips whitespace, comments and the newlines that do not end a rule;
    /// returns the span of a newline that does.
    fn skip_space(&mut self) -> Option<(usize, usize)> {
        while let Some(c) = self.rest().chars().next() {
            match c {
                ' ' | '\t' => self.pos += 1,
                '#' => {
                    let comment = self.rest().find(['\r', '\n']).unwrap_or(self.rest().len());
                    self.pos += comment;
                }
                '\r' | '\n' => {
                    let start = self.pos;
                    self.pos += if self.rest().starts_with("\r\n") { 2 } else { 1 };
                    if self.newline_ends_rule && self.open_parens.is_empty() {
                        self.newline_ends_rule = false;
                        return Some((start, self.pos));
                    }
                }
                _ => break,
            }
        }
        None
    }

    fn token(&mut self) -> Result<Option<Spanned<'input>>, GrammarError> {
        if let Some((start, end)) = self.skip_space() {
            return Ok(Some((start, Tok::Newline, end)));
        }
        let start = self.pos;
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return match self.open_parens.last() {
                Some(&open) => Err(GrammarError::at(
                    ErrorKind::Syntax,
                    Span::new(open, open + 1),
                    "this `(` is never closed: expected a `)` before the end of the input",
                )),
                None => Ok(None),
            };
        };
        let punct = |tok, len| Ok(Some((start, tok, start + len)));
        let token = match c {
            ':' if rest.starts_with("::=") => punct(Tok::Define, 3),
            '|' => punct(Tok::Pipe, 1),
            '(' => {
                self.open_parens.push(start);
                punct(Tok::LParen, 1)
            }
            ')' => {
                if self.open_parens.pop().is_none() {
                    return Err(GrammarError::at(
                        ErrorKind::Syntax,
                        Span::new(start, start + 1),
                        "unmatched `)`: no `(` is open here",
                    ));
                }
                punct(Tok::RParen, 1)
            }
            '*' => punct(Tok::Star, 1),
            '+' => punct(Tok::Plus, 1),
            '?' => punct(Tok::Question, 1),
            '{' => {
                self.in_braces = true;
                punct(Tok::LBrace, 1)
            }
            '}' => {
                self.in_braces = false;
                punct(Tok::RBrace, 1)
            }
            ',' => punct(Tok::Comma, 1),
            '"' => {
                let leaf = leaf::string_literal(self.text, start)?;
                Ok(Some((start, Tok::Leaf(leaf.kind), leaf.end)))
            }
            '[' => {
                let leaf = leaf::char_class(self.text, start)?;
                Ok(Some((start, Tok::Leaf(leaf.kind), leaf.end)))
            }
            '.' => punct(Tok::Leaf(leaf::any_char()), 1),
            '<' => Err(self.token_reference(start)),
            '!' if rest.starts_with("!<") => Err(self.token_reference(start)),
            '0'..='9' if self.in_braces => {
                let len = rest.bytes().take_while(u8::is_ascii_digit).count();
                let count = rest[..len]
                    .bytes()
                    .fold(0u64, |count, digit| count.saturating_mul(10).saturating_add(u64::from(digit - b'0')));
                punct(Tok::Int(count), len)
            }
            _ if is_name_char(c) => {
                let len = rest.bytes().take_while(|&b| is_name_char(char::from(b))).count();
                punct(Tok::Name(&rest[..len]), len)
            }
            _ => punct(Tok::Other(c), c.len_utf8()),
        };
        if let Ok(Some((_, tok, end))) = &token {
            self.pos = *end;
            self.newline_ends_rule = !matches!(tok, Tok::Define | Tok::Pipe);
        }
        token
    }

    /// llama.cpp's `<name>`, `<[id]>` and `!<...>` match model tokens, which
    /// a grammar over bytes cannot express.
    fn token_reference(&self, start: usize) -> GrammarError {
        let line_end = self.text[start..].find(['\r', '\n']).map_or(self.text.len(), |i| start + i);
        let end = self.text[start..line_end].find('>').map_or(start + 1, |i| start + i + 1);
        GrammarError::at(
            ErrorKind::Unsupported,
            Span::new(start, end),
            format!(
                "token reference `{}` is not supported: Trellis grammars constrain the bytes of the output, not token ids",
                &self.text[start..end],
            ),
        )
        .with_help("to require some text, write it as a string literal (\"...\"); special tokens cannot be matched by a grammar")
    }
}

/// `[a-zA-Z0-9-]`: the characters of a GBNF name.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

impl<'input> Iterator for Lexer<'input> {
    type Item = Result<Spanned<'input>, GrammarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let token = self.token();
        if !matches!(token, Ok(Some(_))) {
            self.finished = true;
        }
        token.transpose()
    }
}
