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

/// The length of a UTF-8 byte-order mark at the start of `text` (0 if
/// there is none). Editors on Windows write one; it is not part of any
/// grammar, so the parsers start after it and keep their spans in the
/// original text.
pub(crate) fn skip_bom(text: &str) -> usize {
    if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 }
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

/// The most characters of a line an excerpt shows: a longer line (a
/// generated grammar, a regex on one line) is clipped to a window around
/// the span, so that a report stays a few lines whatever the input.
const EXCERPT_WIDTH: usize = 100;

/// How many characters before the span a clipped excerpt keeps.
const EXCERPT_CONTEXT: usize = 40;

/// Renders the line holding `span.start` with a caret line under the span,
/// in the style of rustc:
///
/// ```text
///   3 | object ::= "{" valu "}"
///     |                ^^^^
/// ```
///
/// A line longer than 100 characters is shown as a window of
/// that many around the span's start, with `…` where it was cut; the
/// window is cut on character boundaries, and the caret still points at the
/// span.
pub fn excerpt(text: &str, span: Span) -> String {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_end = line_start + text[line_start..line_end].trim_end_matches('\r').len();
    let line_end = line_end.max(start);
    let LineColumn { line, .. } = line_column(text, start);
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());

    // The window, in characters of the line: `first..last`, holding the
    // span's start.
    let column = text[line_start..start].chars().count();
    let length = column + text[start..line_end].chars().count();
    let first = column.saturating_sub(EXCERPT_CONTEXT).min(length.saturating_sub(EXCERPT_WIDTH));
    let last = length.min(first + EXCERPT_WIDTH);
    let byte_at = |chars: usize| text[line_start..].char_indices().nth(chars).map_or(line_end, |(i, _)| line_start + i);
    let (shown_start, shown_end) = (byte_at(first), byte_at(last));
    let left = if first > 0 { "…" } else { "" };
    let right = if last < length { "…" } else { "" };

    // Tabs are kept in the underline so that the caret lines up with them.
    let lead: String = left
        .chars()
        .map(|_| ' ')
        .chain(text[shown_start..start].chars().map(|c| if c == '\t' { '\t' } else { ' ' }))
        .collect();
    let end = span.end.clamp(start, shown_end);
    let width = text[start..end].chars().count().max(1);
    format!("{pad} |\n{gutter} | {left}{}{right}\n{pad} | {lead}{}", &text[shown_start..shown_end], "^".repeat(width))
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

    #[test]
    fn excerpt_of_a_long_line_is_clipped_around_the_span() {
        // 100,000 parentheses, one multi-byte character near the error.
        let text = format!("{}é)x{}", "(".repeat(50_000), "(".repeat(50_000));
        let at = text.find('x').unwrap();
        let shown = excerpt(&text, Span::new(at, at + 1));
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("1 | …") && lines[1].ends_with('…'), "{shown}");
        assert!(lines[1].chars().count() <= EXCERPT_WIDTH + 6, "{shown}");
        // The caret sits under the `x`, counted in characters.
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[1].chars().nth(caret), Some('x'), "{shown}");
        assert_eq!(lines[1].chars().nth(caret - 2), Some('é'));

        // A span at the very start is clipped on the right only; at the end,
        // on the left only.
        let shown = excerpt(&text, Span::new(0, 1));
        assert!(shown.contains("1 | (((") && shown.contains("(…\n  | ^"), "{shown}");
        let shown = excerpt(&text, Span::new(text.len(), text.len()));
        assert!(shown.contains("1 | …((") && shown.lines().nth(1).is_some_and(|l| !l.ends_with('…')), "{shown}");
        let caret_line = shown.lines().nth(2).unwrap();
        assert_eq!(caret_line.chars().count(), shown.lines().nth(1).unwrap().chars().count() + 1);
    }
}
