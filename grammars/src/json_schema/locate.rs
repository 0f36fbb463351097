//! Where the values of a schema's text are, by JSON pointer.
//!
//! serde_json keeps no positions, so the text is scanned once more where a
//! span is wanted: for the keywords whose cost shows only later in the
//! pipeline (a string length bound becomes a counted repetition, which can
//! make the lexer too large to build). Their expressions get the span of
//! the keyword's value, the lowering points the terminal's errors at it,
//! and [`name_pointer`] adds the pointer to such an error's message, as the
//! schema compiler's own errors have it.
//!
//! The scan recurses once per level of nesting; the text parsed as JSON
//! already, and serde_json refuses more than 128 levels.

use std::fmt::Write as _;

use hashbrown::HashMap;

use super::{shown, token};
use crate::error::GrammarError;
use crate::span::Span;

/// The span of every value in `text`, a JSON document, by pointer (`""` is
/// the whole document). With a key given twice, the last one counts, as
/// for serde_json.
pub(super) fn value_spans(text: &str) -> HashMap<String, Span> {
    let mut scanner = Scanner { text, at: 0, spans: HashMap::new() };
    scanner.value(&mut String::new());
    scanner.spans
}

/// `error` with the pointer of the schema value its span is on, if it is
/// on one and the message does not name one yet.
pub(crate) fn name_pointer(error: GrammarError, text: &str) -> GrammarError {
    let Some(span) = error.span else { return error };
    if error.message.contains("(at #") {
        return error;
    }
    let spans = value_spans(text);
    let Some((pointer, _)) = spans.iter().find(|(_, value)| **value == span) else { return error };
    let message = format!("{} (at {})", error.message, shown(pointer));
    GrammarError { message, ..error }
}

struct Scanner<'t> {
    text: &'t str,
    at: usize,
    spans: HashMap<String, Span>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Steps over `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    /// The string at a `"`, decoded.
    fn string(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'\\' => self.at += 1,
                b'"' => break,
                _ => {}
            }
        }
        let end = self.at.min(self.text.len());
        self.text.get(start..end).and_then(|quoted| serde_json::from_str(quoted).ok()).unwrap_or_default()
    }

    /// The value here, whose pointer is `pointer`.
    fn value(&mut self, pointer: &mut String) {
        self.skip_space();
        let start = self.at;
        match self.peek() {
            None => return,
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        self.eat(b'}');
                        break;
                    }
                    let key = self.string();
                    self.skip_space();
                    self.eat(b':');
                    let length = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&token(&key));
                    self.value(pointer);
                    pointer.truncate(length);
                    self.skip_space();
                    self.eat(b',');
                }
            }
            Some(b'[') => {
                self.at += 1;
                for index in 0.. {
                    self.skip_space();
                    let before = self.at;
                    if self.eat(b']') || self.peek().is_none() {
                        break;
                    }
                    let length = pointer.len();
                    let _ = write!(pointer, "/{index}");
                    self.value(pointer);
                    pointer.truncate(length);
                    self.skip_space();
                    if !self.eat(b',') && self.at == before {
                        // Not JSON after all: stop rather than spin.
                        break;
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while !matches!(self.peek(), None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.at += 1;
                }
            }
        }
        self.spans.insert(pointer.clone(), Span::new(start, self.at.min(self.text.len())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_by_pointer() {
        let text = r#"{"a": [1, {"b~/c": "x\"y"}], "d" : {"maxLength": 100000 } }"#;
        let spans = value_spans(text);
        let at = |pointer: &str| spans.get(pointer).map(|span| &text[span.start..span.end]);
        assert_eq!(at(""), Some(text));
        assert_eq!(at("/a/0"), Some("1"));
        assert_eq!(at("/a/1/b~0~1c"), Some(r#""x\"y""#));
        assert_eq!(at("/d/maxLength"), Some("100000"));
        assert_eq!(at("/d"), Some(r#"{"maxLength": 100000 }"#));
        assert_eq!(at("/e"), None);
    }
}
