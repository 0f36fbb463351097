//! `pattern`: ECMA-262 regular expressions translated to `regex-syntax`, and
//! string languages turned into the language of their JSON encodings.
//!
//! A JSON Schema `pattern` is an ECMA-262 regex, searched (not anchored) in
//! the *decoded* string. The translation keeps ECMA-262's meaning where the
//! two dialects differ: `\d`, `\w` and `\s` are ECMA's sets (ASCII digits and
//! word characters, ECMA's white space), `.` excludes all four ECMA line
//! terminators, `\cX`, `\0`, `\uHHHH` (surrogate pairs joined) and
//! `\u{...}` are code points, `[^]` is any character and `[]` nothing, and a
//! `{` that does not start a quantifier is a literal. Backreferences,
//! lookahead, lookbehind and word boundaries (`\b`, `\B`) cannot be
//! expressed by a finite automaton and are refused. `^` and `$` are
//! supported at the start and end of the pattern (or of its top-level
//! alternatives) only; elsewhere they are refused.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

/// ECMA-262's `\s`: WhiteSpace and LineTerminator code points.
const ECMA_SPACE: &str =
    r"\t\n\x0B\x0C\r \xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";

/// Translates an ECMA-262 pattern into `regex-syntax` syntax. The error is a
/// message for people.
pub(super) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_quantifier = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let (text, next) = escape(&chars, i, false)?;
                out.push_str(&text);
                i = next;
                continue;
            }
            '.' => out.push_str(r"[^\n\r\x{2028}\x{2029}]"),
            '[' => {
                let (text, next) = class(&chars, i)?;
                out.push_str(&text);
                i = next;
                continue;
            }
            '(' => {
                let rest: String = chars[i + 1..].iter().take(3).collect();
                if rest.starts_with("?=")
                    || rest.starts_with("?!")
                    || rest.starts_with("?<=")
                    || rest.starts_with("?<!")
                {
                    return Err("lookahead and lookbehind cannot be enforced by a grammar".into());
                }
                if rest.starts_with("?<") {
                    out.push_str("(?P<");
                    i += 3;
                    continue;
                }
                out.push('(');
            }
            '{' => {
                // A quantifier is `{n}`, `{n,}` or `{n,m}`; anything else is a
                // literal brace (ECMA-262 Annex B).
                let rest: String = chars[i..].iter().collect();
                let quantifier = rest.find('}').is_some_and(|end| {
                    let inner = &rest[1..end];
                    let mut parts = inner.splitn(2, ',');
                    let first = parts.next().unwrap_or("");
                    !first.is_empty()
                        && first.bytes().all(|b| b.is_ascii_digit())
                        && parts.next().is_none_or(|second| second.bytes().all(|b| b.is_ascii_digit()))
                });
                in_quantifier = quantifier;
                out.push_str(if quantifier { "{" } else { r"\{" });
            }
            '}' => {
                out.push_str(if in_quantifier { "}" } else { r"\}" });
                in_quantifier = false;
            }
            ']' => out.push_str(r"\]"),
            '#' | ' ' | '~' | '&' | '-' => out.push_str(&regex_syntax::escape(&c.to_string())),
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

fn hex_value(chars: &[char], from: usize, count: usize) -> Option<u32> {
    let digits: String = chars.get(from..from + count)?.iter().collect();
    if digits.len() != count || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&digits, 16).ok()
}

fn code_point(value: u32) -> Result<String, String> {
    match char::from_u32(value) {
        Some(c) => Ok(format!(r"\x{{{:X}}}", u32::from(c))),
        None => Err(format!("\\u{value:04X} is a lone surrogate, which no valid string contains")),
    }
}

/// Translates the escape at `chars[at] == '\\'`; returns the text and the
/// index after it. Inside a class, shorthand classes become class items.
fn escape(chars: &[char], at: usize, in_class: bool) -> Result<(String, usize), String> {
    let Some(&c) = chars.get(at + 1) else { return Err("the pattern ends with a lone `\\`".into()) };
    let next = at + 2;
    let set = |items: &str, negated: bool| -> String {
        match (in_class, negated) {
            (true, false) => items.to_owned(),
            (_, true) => format!("[^{items}]"),
            (false, false) => format!("[{items}]"),
        }
    };
    let text = match c {
        'd' => set("0-9", false),
        'D' => set("0-9", true),
        'w' => set("0-9A-Za-z_", false),
        'W' => set("0-9A-Za-z_", true),
        's' => set(ECMA_SPACE, false),
        'S' => set(ECMA_SPACE, true),
        'b' if in_class => r"\x08".to_owned(),
        'b' | 'B' => return Err("word boundaries (`\\b`, `\\B`) cannot be enforced by a grammar".into()),
        '1'..='9' => return Err("backreferences cannot be enforced by a grammar".into()),
        'k' => return Err("named backreferences cannot be enforced by a grammar".into()),
        '0' => r"\x00".to_owned(),
        't' => r"\t".to_owned(),
        'n' => r"\n".to_owned(),
        'r' => r"\r".to_owned(),
        'f' => r"\x0C".to_owned(),
        'v' => r"\x0B".to_owned(),
        'c' => match chars.get(next) {
            Some(letter) if letter.is_ascii_alphabetic() => {
                return Ok((format!(r"\x{:02X}", u32::from(*letter) % 32), next + 1));
            }
            _ => r"\\c".to_owned(),
        },
        'x' => match hex_value(chars, next, 2) {
            Some(value) => return Ok((code_point(value)?, next + 2)),
            None => "x".to_owned(),
        },
        'u' => {
            if chars.get(next) == Some(&'{') {
                let end = chars[next..].iter().position(|&c| c == '}').map(|offset| next + offset);
                let value = end.and_then(|end| hex_value(chars, next + 1, end - next - 1));
                match (end, value) {
                    (Some(end), Some(value)) => return Ok((code_point(value)?, end + 1)),
                    _ => return Err("malformed `\\u{...}` escape".into()),
                }
            }
            match hex_value(chars, next, 4) {
                Some(high @ 0xD800..=0xDBFF) => {
                    let low = (chars.get(next + 4) == Some(&'\\') && chars.get(next + 5) == Some(&'u'))
                        .then(|| hex_value(chars, next + 6, 4))
                        .flatten()
                        .filter(|low| (0xDC00..=0xDFFF).contains(low));
                    match low {
                        Some(low) => {
                            let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                            return Ok((code_point(value)?, next + 10));
                        }
                        None => {
                            return Err(format!("\\u{high:04X} is a lone surrogate, which no valid string contains"));
                        }
                    }
                }
                Some(value) => return Ok((code_point(value)?, next + 4)),
                None => "u".to_owned(),
            }
        }
        'p' | 'P' => {
            // `\p{...}` means the same in both dialects (u-mode ECMA).
            let end = chars[next..].iter().position(|&c| c == '}').map(|offset| next + offset);
            match end {
                Some(end) if chars.get(next) == Some(&'{') => {
                    let text: String = chars[at..=end].iter().collect();
                    return Ok((text, end + 1));
                }
                _ => return Err("malformed `\\p{...}` escape".into()),
            }
        }
        // Identity escapes: the character itself.
        other => regex_syntax::escape(&other.to_string()),
    };
    Ok((text, next))
}

/// Translates the class opening at `chars[at] == '['`.
fn class(chars: &[char], at: usize) -> Result<(String, usize), String> {
    let mut i = at + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        // ECMA-262: `[]` matches nothing and `[^]` anything.
        let text = if negated { r"[\x00-\x{10FFFF}]" } else { r"[^\x00-\x{10FFFF}]" };
        return Ok((text.to_owned(), i + 1));
    }
    // One class item: a single character (as regex-syntax text) or a set.
    enum Item {
        Char(String),
        Set(String),
    }
    let item = |i: usize| -> Result<(Item, usize), String> {
        match chars.get(i) {
            None => Err("a character class is never closed".into()),
            Some('\\') => {
                let is_set = matches!(chars.get(i + 1), Some('d' | 'D' | 'w' | 'W' | 's' | 'S' | 'p' | 'P'));
                let (text, next) = escape(chars, i, true)?;
                Ok((if is_set { Item::Set(text) } else { Item::Char(text) }, next))
            }
            Some(&c) => Ok((Item::Char(regex_syntax::escape(&c.to_string())), i + 1)),
        }
    };
    let mut out = String::from(if negated { "[^" } else { "[" });
    loop {
        match chars.get(i) {
            None => return Err("a character class is never closed".into()),
            Some(']') => break,
            Some(_) => {}
        }
        let (first, next) = item(i)?;
        i = next;
        let is_range = chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']');
        match first {
            Item::Char(low) if is_range => {
                let (second, next) = item(i + 1)?;
                i = next;
                match second {
                    Item::Char(high) => out.push_str(&format!("{low}-{high}")),
                    Item::Set(set) => out.push_str(&format!("{low}\\-{set}")),
                }
            }
            Item::Char(text) | Item::Set(text) => out.push_str(&text),
        }
    }
    out.push(']');
    Ok((out, i + 1))
}

/// Any character: the unanchored context of a pattern.
fn any_string() -> Hir {
    Hir::repetition(Repetition {
        min: 0,
        max: None,
        greedy: true,
        sub: Box::new(Hir::class(Class::Unicode(ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)])))),
    })
}

fn has_look(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(_) => true,
        HirKind::Repetition(repetition) => has_look(&repetition.sub),
        HirKind::Capture(capture) => has_look(&capture.sub),
        HirKind::Concat(items) | HirKind::Alternation(items) => items.iter().any(has_look),
        _ => false,
    }
}

/// Turns a searched pattern into the set of whole strings that contain a
/// match: `.*p.*`, without the `.*` on a side anchored by `^`/`$`.
pub(super) fn whole_strings(hir: Hir) -> Result<Hir, String> {
    match hir.kind() {
        HirKind::Capture(capture) => return whole_strings((*capture.sub).clone()),
        HirKind::Alternation(alternatives) => {
            let alternatives: Result<Vec<Hir>, String> = alternatives.iter().cloned().map(whole_strings).collect();
            return Ok(super::hir_alt(alternatives?));
        }
        _ => {}
    }
    let mut items = match hir.kind() {
        HirKind::Concat(items) => items.clone(),
        _ => vec![hir],
    };
    let is =
        |item: Option<&Hir>, look: Look| item.is_some_and(|item| matches!(item.kind(), HirKind::Look(l) if *l == look));
    let anchored_start = is(items.first(), Look::Start);
    if anchored_start {
        items.remove(0);
    }
    let anchored_end = is(items.last(), Look::End);
    if anchored_end {
        items.pop();
    }
    if items.iter().any(has_look) {
        return Err("`^`, `$` and other assertions are only supported at the start and end of a pattern".into());
    }
    if !anchored_start {
        items.insert(0, any_string());
    }
    if !anchored_end {
        items.push(any_string());
    }
    Ok(Hir::concat(items))
}

/// Compiles an ECMA-262 pattern to the whole decoded strings it accepts.
pub(super) fn pattern_strings(pattern: &str) -> Result<Hir, String> {
    let translated = translate(pattern)?;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&translated)
        .map_err(|error| format!("cannot translate the pattern: {error}"))?;
    whole_strings(hir)
}

/// The JSON escape for a character that cannot appear raw in a string.
fn escaped(c: char) -> String {
    match c {
        '"' => "\\\"".to_owned(),
        '\\' => "\\\\".to_owned(),
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        '\t' => "\\t".to_owned(),
        '\u{8}' => "\\b".to_owned(),
        '\u{c}' => "\\f".to_owned(),
        other => format!("\\u{:04x}", u32::from(other)),
    }
}

/// The characters that must be escaped inside a JSON string.
pub(super) fn must_escape() -> ClassUnicode {
    ClassUnicode::new([
        ClassUnicodeRange::new('\0', '\u{1f}'),
        ClassUnicodeRange::new('"', '"'),
        ClassUnicodeRange::new('\\', '\\'),
    ])
}

fn encode_class(class: &ClassUnicode) -> Hir {
    let mut raw = class.clone();
    raw.difference(&must_escape());
    let mut special = class.clone();
    special.intersect(&must_escape());
    let mut alternatives = vec![Hir::class(Class::Unicode(raw))];
    if special == must_escape() {
        // All of them: the same escapes as below, written as one small
        // regex instead of 34 literals (which would multiply the lexer's
        // NFA, and its determinization time, at every counted position).
        let one = |ranges: &[(char, char)]| {
            Hir::class(Class::Unicode(ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)))))
        };
        let short = one(&[('"', '"'), ('\\', '\\'), ('b', 'b'), ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't')]);
        let control = super::hir_alt(vec![
            Hir::concat(vec![Hir::literal(*b"0"), one(&[('0', '7'), ('b', 'b'), ('e', 'f')])]),
            Hir::concat(vec![Hir::literal(*b"1"), one(&[('0', '9'), ('a', 'f')])]),
        ]);
        let escape = super::hir_alt(vec![short, Hir::concat(vec![Hir::literal(*b"u00"), control])]);
        alternatives.push(Hir::concat(vec![Hir::literal(*b"\\"), escape]));
        return super::hir_alt(alternatives);
    }
    for range in special.iter() {
        for c in range.start()..=range.end() {
            alternatives.push(Hir::literal(escaped(c).into_bytes()));
        }
    }
    super::hir_alt(alternatives)
}

/// The JSON string bodies (without quotes) whose decoded value is in the
/// language of `hir`, a regex over characters without assertions. Each
/// character has one encoding: itself, or for the characters that must be
/// escaped, the short escape (`\n`, `\"`) or else `\u00XX`.
pub(super) fn json_encoded(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Hir::empty(),
        HirKind::Literal(literal) => match std::str::from_utf8(&literal.0) {
            Ok(text) => Hir::concat(
                text.chars()
                    .map(|c| {
                        if must_escape().contains_char(c) {
                            Hir::literal(escaped(c).into_bytes())
                        } else {
                            Hir::literal(c.to_string().into_bytes())
                        }
                    })
                    .collect(),
            ),
            Err(_) => Hir::fail(),
        },
        HirKind::Class(Class::Unicode(class)) => encode_class(class),
        HirKind::Class(Class::Bytes(bytes)) => {
            // Only ASCII byte classes occur in UTF-8 mode.
            let ranges = bytes
                .iter()
                .filter(|range| range.start() < 0x80)
                .map(|range| ClassUnicodeRange::new(char::from(range.start()), char::from(range.end().min(0x7f))));
            encode_class(&ClassUnicode::new(ranges))
        }
        HirKind::Repetition(repetition) => Hir::repetition(Repetition {
            min: repetition.min,
            max: repetition.max,
            greedy: true,
            sub: Box::new(json_encoded(&repetition.sub)),
        }),
        HirKind::Capture(capture) => json_encoded(&capture.sub),
        HirKind::Concat(items) => Hir::concat(items.iter().map(json_encoded).collect()),
        HirKind::Alternation(items) => super::hir_alt(items.iter().map(json_encoded).collect()),
    }
}

trait ContainsChar {
    fn contains_char(&self, c: char) -> bool;
}

impl ContainsChar for ClassUnicode {
    fn contains_char(&self, c: char) -> bool {
        self.iter().any(|range| range.start() <= c && c <= range.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_keeps_ecma_meaning() {
        assert_eq!(translate(r"^\d{3}$").unwrap(), "^[0-9]{3}$");
        assert_eq!(translate(r"a{x").unwrap(), r"a\{x");
        assert_eq!(translate(r"[\w-]").unwrap(), r"[0-9A-Za-z_\-]");
        assert_eq!(translate(r"\uD83D\uDE00").unwrap(), r"\x{1F600}");
        assert!(translate(r"(a)\1").is_err());
        assert!(translate(r"(?=a)").is_err());
        assert!(translate(r"\bword").is_err());
        assert!(pattern_strings("a^b").is_err());
        assert!(pattern_strings("^a|b$").is_ok());
    }
}
