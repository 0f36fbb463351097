//! The leaves of a GBNF expression: string literals, character classes and
//! `.`, with their escapes, turned into EBNF leaves.
//!
//! GBNF escapes denote *code points*, not bytes, and nothing stops a grammar
//! from writing one that is not a Unicode scalar value (`\uD800`,
//! `\U00110000`). Trellis constrains valid UTF-8, where such a character can
//! never occur, so it simply never matches: a class item made of them adds
//! nothing to the class, and a literal containing one becomes a pattern that
//! matches nothing.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir};

use crate::ebnf::ExprKind;
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Where a leaf ended, and what it is.
pub(super) struct Leaf {
    pub kind: ExprKind,
    pub end: usize,
}

/// The escapes GBNF knows, for help messages.
const ESCAPES: &str = r#"GBNF escapes are \xHH, \uHHHH, \UHHHHHHHH, \t, \r, \n, \\, \", \[, \] and \-"#;

/// `.`: any Unicode scalar value, newline included.
pub(super) fn any_char() -> ExprKind {
    let all = ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]);
    ExprKind::Pattern(Hir::class(Class::Unicode(all)))
}

/// Parses the string literal whose opening `"` is at `start`.
///
/// `""` is the empty string, so it becomes [`ExprKind::Empty`]; a literal
/// holding a code point that is not a scalar value matches nothing.
pub(super) fn string_literal(text: &str, start: usize) -> Result<Leaf, GrammarError> {
    let mut pos = start + 1;
    let mut value = String::new();
    let mut matchable = true;
    loop {
        match text[pos..].chars().next() {
            None => {
                return Err(GrammarError::at(
                    ErrorKind::Syntax,
                    Span::new(start, start + 1),
                    "this string literal is never closed: expected a `\"` before the end of the input",
                ));
            }
            Some('"') => break,
            Some(_) => {
                let (code_point, next) = code_point(text, pos, start, "string literal")?;
                match char::from_u32(code_point) {
                    Some(c) => value.push(c),
                    None => matchable = false,
                }
                pos = next;
            }
        }
    }
    let end = pos + 1;
    let kind = if !matchable {
        ExprKind::Pattern(Hir::fail())
    } else if value.is_empty() {
        ExprKind::Empty
    } else {
        ExprKind::Literal { value, case_insensitive: false }
    };
    Ok(Leaf { kind, end })
}

/// Parses the character class whose opening `[` is at `start`: `[...]` or
/// `[^...]`, with single characters and ranges `a-z`. A `-` right before the
/// closing `]` (or first in the class) is a literal `-`.
pub(super) fn char_class(text: &str, start: usize) -> Result<Leaf, GrammarError> {
    let never_closed = || {
        GrammarError::at(
            ErrorKind::Syntax,
            Span::new(start, start + 1),
            "this character class is never closed: expected a `]` before the end of the input",
        )
    };
    let mut pos = start + 1;
    let negated = text[pos..].starts_with('^');
    if negated {
        pos += 1;
    }
    // The items as code point ranges: they may reach into the surrogates
    // or above U+10FFFF, which only the complement below can see.
    let mut items: Vec<(u32, u32)> = Vec::new();
    loop {
        match text[pos..].chars().next() {
            None => return Err(never_closed()),
            Some(']') => break,
            Some(_) => {}
        }
        let item_start = pos;
        let (low, next) = code_point(text, pos, start, "character class")?;
        pos = next;
        let mut high = low;
        let rest = &text[pos..];
        if rest.starts_with('-') && !rest.starts_with("-]") {
            let dash = pos;
            if rest.len() == 1 {
                return Err(never_closed());
            }
            let (end_point, next) = code_point(text, dash + 1, start, "character class")?;
            pos = next;
            high = end_point;
            if low > high {
                let (low_text, high_text) = (&text[item_start..dash], &text[dash + 1..pos]);
                return Err(GrammarError::at(
                    ErrorKind::Syntax,
                    Span::new(item_start, pos),
                    format!(
                        "invalid range `{}` in a character class: its start {} comes after its end {}",
                        &text[item_start..pos],
                        describe_code_point(low),
                        describe_code_point(high),
                    ),
                )
                .with_help(format!("write the smaller end first: `{high_text}-{low_text}`")));
            }
        }
        items.push((low, high));
    }
    let end = pos + 1;
    if items.is_empty() {
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            Span::new(start, end),
            format!("empty character class `{}`", &text[start..end]),
        )
        .with_help(if negated {
            "llama.cpp reads `[^]` as the empty string, Trellis refuses it; write `\"\"` for the empty string or `.` for any character"
        } else {
            "llama.cpp reads `[]` as the empty string, Trellis refuses it; write `\"\"` for the empty string"
        }));
    }
    let class =
        if negated { join_across_surrogates(scalar_class(code_point_complement(items))) } else { scalar_class(items) };
    Ok(Leaf { kind: ExprKind::Pattern(Hir::class(Class::Unicode(class))), end })
}

fn scalar_class(ranges: Vec<(u32, u32)>) -> ClassUnicode {
    ClassUnicode::new(ranges.into_iter().flat_map(|(low, high)| scalar_ranges(low, high)))
}

/// Joins a range that ends at U+D7FF with one that starts at U+E000 (a
/// range of `char`s steps over the surrogates), the form regex-syntax gives
/// a negated class; later passes may then negate it again without meeting
/// the gap (see [`code_point_complement`]).
fn join_across_surrogates(class: ClassUnicode) -> ClassUnicode {
    let mut ranges: Vec<ClassUnicodeRange> = Vec::with_capacity(class.ranges().len());
    for &range in class.ranges() {
        match ranges.last_mut() {
            Some(last) if last.end() == '\u{D7FF}' && range.start() == '\u{E000}' => {
                *last = ClassUnicodeRange::new(last.start(), range.end());
            }
            _ => ranges.push(range),
        }
    }
    ClassUnicode::new(ranges)
}

/// The code points `0..=0x10FFFF` that none of `ranges` holds.
///
/// A negated class is complemented here, over code points, and only then
/// cut down to scalar values, rather than by `ClassUnicode::negate` on the
/// scalar ranges: regex-syntax 0.8 computes the gap between a range ending
/// at U+D7FF and one starting at U+E000 as the inverted range
/// `E000..=D7FF`, normalises it to `D7FF..=E000`, and so let
/// `[^\x00-\U0010FFFF]` match U+D7FF and U+E000.
fn code_point_complement(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut gaps = Vec::new();
    // Every code point below `next` is in some range seen so far.
    let mut next = 0u32;
    for (low, high) in ranges {
        if low > next {
            gaps.push((next, low - 1));
        }
        next = next.max(high.saturating_add(1));
    }
    if next <= MAX_CODE_POINT {
        gaps.push((next, MAX_CODE_POINT));
    }
    gaps
}

const MAX_CODE_POINT: u32 = 0x10_FFFF;

/// The parts of the code point range `low..=high` that are Unicode scalar
/// values: at most two ranges, around the surrogates.
fn scalar_ranges(low: u32, high: u32) -> impl Iterator<Item = ClassUnicodeRange> {
    const SCALAR_BLOCKS: [(u32, u32); 2] = [(0, 0xD7FF), (0xE000, 0x10_FFFF)];
    SCALAR_BLOCKS.into_iter().filter_map(move |(block_low, block_high)| {
        let from = char::from_u32(low.max(block_low))?;
        let to = char::from_u32(high.min(block_high))?;
        (from <= to).then(|| ClassUnicodeRange::new(from, to))
    })
}

/// `U+0041 'A'`, or just `U+D800` for something that is not a character.
fn describe_code_point(code_point: u32) -> String {
    match char::from_u32(code_point) {
        Some(c) if !c.is_control() => format!("U+{code_point:04X} {c:?}"),
        _ => format!("U+{code_point:04X}"),
    }
}

/// Reads one character or escape at `pos` (inside the literal or class that
/// opened at `open`), returning its code point and where it ends. The caller
/// has checked that `pos` is not at the end of `text`.
fn code_point(text: &str, pos: usize, open: usize, inside: &str) -> Result<(u32, usize), GrammarError> {
    let mut chars = text[pos..].chars();
    let Some(first) = chars.next() else {
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            Span::new(open, open + 1),
            format!("this {inside} is never closed"),
        ));
    };
    if first != '\\' {
        return Ok((u32::from(first), pos + first.len_utf8()));
    }
    let Some(kind) = chars.next() else {
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            Span::new(open, open + 1),
            format!("this {inside} is never closed: the input ends after a `\\`"),
        ));
    };
    let after = pos + 1 + kind.len_utf8();
    let simple = |value: char| Ok((u32::from(value), after));
    match kind {
        'x' => hex_escape(text, pos, 2),
        'u' => hex_escape(text, pos, 4),
        'U' => hex_escape(text, pos, 8),
        't' => simple('\t'),
        'r' => simple('\r'),
        'n' => simple('\n'),
        '\\' | '"' | '[' | ']' | '-' => simple(kind),
        _ => Err(GrammarError::at(
            ErrorKind::Syntax,
            Span::new(pos, after),
            format!("unknown escape `\\{kind}` in a {inside}"),
        )
        .with_help(ESCAPES)),
    }
}

/// `\xHH`, `\uHHHH`, `\UHHHHHHHH`: exactly `digits` hex digits after the two
/// characters of the escape at `pos`.
fn hex_escape(text: &str, pos: usize, digits: usize) -> Result<(u32, usize), GrammarError> {
    let start = pos + 2;
    let found = text[start..].bytes().take(digits).take_while(u8::is_ascii_hexdigit).count();
    if found < digits {
        let escape = &text[pos..start];
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            Span::new(pos, start + found),
            format!(
                "expected {digits} hex digits after `{escape}`, found {}",
                if found == 0 { "none".to_owned() } else { format!("only `{}`", &text[start..start + found]) },
            ),
        )
        .with_help(format!("write exactly {digits} hex digits, e.g. `{escape}{}`", "0".repeat(digits - 1) + "A")));
    }
    // At most 8 hex digits: the value fits in a u32.
    let value = text[start..start + digits].bytes().fold(0u32, |value, digit| (value << 4) | hex_value(digit));
    Ok((value, start + digits))
}

fn hex_value(digit: u8) -> u32 {
    match digit {
        b'0'..=b'9' => u32::from(digit - b'0'),
        b'a'..=b'f' => u32::from(digit - b'a' + 10),
        b'A'..=b'F' => u32::from(digit - b'A' + 10),
        _ => 0,
    }
}
