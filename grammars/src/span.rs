//! Byte spans in grammar source text, and their rendering as `line:column`
//! with a caret excerpt.

use std::fmt;

/// A half-open byte range `start..end` in a grammar's source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end: end.max(start) }
    }

    /// A span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A position as people read it: 1-based line and column (column counted in
/// characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineColumn {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for LineColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Maps a byte offset in `text` to its line and column. Offsets past the end
/// (or inside a UTF-8 sequence) are clamped to the nearest valid position.
pub fn line_column(text: &str, offset: usize) -> LineColumn {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    LineColumn { line, column }
}

/// Renders the line holding `span.start` with a caret line under the span,
/// in the style of rustc:
///
/// ```text
///   3 | object ::= "{" valu "}"
///     |                ^^^^
/// ```
pub fn excerpt(text: &str, span: Span) -> String {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let LineColumn { line, .. } = line_column(text, start);
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    // Tabs are kept in the underline so that the caret lines up with them.
    let lead: String = text[line_start..start].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let end = span.end.clamp(start, line_end);
    let width = text[start..end].chars().count().max(1);
    format!("{pad} |\n{gutter} | {line_text}\n{pad} | {lead}{}", "^".repeat(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\ncdé f\n";
        assert_eq!(line_column(text, 0), LineColumn { line: 1, column: 1 });
        assert_eq!(line_column(text, 3), LineColumn { line: 2, column: 1 });
        // 'f' is at byte 8 (é takes two bytes) but column 5.
        assert_eq!(line_column(text, 8), LineColumn { line: 2, column: 5 });
        assert_eq!(line_column(text, 999), LineColumn { line: 3, column: 1 });
    }

    #[test]
    fn excerpt_underlines_the_span() {
        let text = "root ::= x\nx ::= \"a\" yy\n";
        let at = text.find("yy").unwrap();
        let shown = excerpt(text, Span::new(at, at + 2));
        assert_eq!(shown, "  |\n2 | x ::= \"a\" yy\n  |           ^^");
    }
}
