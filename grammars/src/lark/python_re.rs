//! Lark's `/regex/` leaves: Python `re` syntax, compiled with regex-syntax.
//!
//! Lark hands the text between the slashes to Python's `re` module (as a
//! `str` pattern, so with Unicode semantics). Python's dialect and
//! regex-syntax's agree on almost everything a grammar writes; where the
//! same text means different things, [`translate`] rewrites it into the
//! regex-syntax spelling of the *Python* meaning before parsing:
//!
//! | Python                         | means                          | rewritten as            |
//! |--------------------------------|--------------------------------|-------------------------|
//! | `\w`, `\W`                     | `str.isalnum()` or `_`         | `[\p{L}\p{N}_]`, negated |
//! | `\s`, `\S`                     | `str.isspace()`                | `[\s\x1C-\x1F]`, negated |
//! | `\Z`                           | end of text                    | `\z`                    |
//! | `\<`, `\>`, `\é`               | the literal character          | `<`, `>`, `é`           |
//! | `\0`, `\012`, `[\7]`           | octal escapes                  | `\x{..}`                |
//! | `[\b]`                         | backspace                      | `\x{8}`                 |
//! | `[` `&` `~` inside a class     | literal characters             | escaped                 |
//! | `-` inside a class, not a range | a literal `-`                 | `\-`                    |
//! | whitespace and `#` in a class  | literal, even with `x`         | escaped                 |
//! | `(?#...)`                      | a comment                      | removed                 |
//! | `{,n}`                         | `{0,n}`                        | (parser option)         |
//!
//! (`\d` is `\p{Nd}` in both.) With
//! [`SourceOptions::ascii_classes`](crate::SourceOptions::ascii_classes)
//! (Python's `re.ASCII` for classes alone), `\d`, `\w` and `\s` are
//! rewritten as `[0-9]`, `[0-9A-Za-z_]` and `[\t\n\x0B\x0C\r ]` instead,
//! outside brackets inside a `(?-i:...)` group so that case folding does not
//! add U+212A KELVIN SIGN to `\w`.
//!
//! Python syntax that regex-syntax does not have is an error, never a
//! silent change of meaning: look-around, backreferences (`\1`,
//! `(?P=name)`), a `{` that starts no repetition (Python reads it as a
//! literal), `\N{name}`, atomic groups `(?>...)`, possessive repetitions
//! `a*+` (which regex-syntax would read as `(a*)+`), and a repetition of a
//! repetition such as `a**` (which Python refuses). Each error names the
//! construct and points at it. Known
//! remaining differences: the Unicode tables follow regex-syntax's Unicode
//! version; `i` uses simple case folding; `$` without `m` matches only at
//! the very end (Python also before a final `\n`); `\b` follows
//! regex-syntax's `\w`; inline flags may appear anywhere (Python 3.11
//! wants global ones first); regex-syntax extensions (`\p{..}`,
//! `\x{..}`, `(?<name>..)`) are accepted.
//!
//! Lark also evaluates `\xHH`, `\uHHHH`, `\n` and friends *before* Python
//! sees the pattern (so `/a\x2eb/` matches `axb` and `/\n/x` matches the
//! empty string there); Trellis gives those escapes their documented regex
//! meaning instead.

use regex_syntax::ast::parse::ParserBuilder;
use regex_syntax::hir::Hir;
use regex_syntax::hir::translate::TranslatorBuilder;

use crate::error::{ErrorKind, GrammarError};
use crate::regex_ast;
use crate::span::Span;

/// The flags after a regex's closing slash.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RegexFlags {
    /// `i`
    pub case_insensitive: bool,
    /// `m`
    pub multi_line: bool,
    /// `s`
    pub dot_matches_new_line: bool,
    /// `x`
    pub verbose: bool,
    /// Not a flag of the regex: the source's
    /// [`ascii_classes`](crate::SourceOptions::ascii_classes) option.
    pub ascii_classes: bool,
}

/// Compiles the text between a regex's slashes; `offset` is where it starts
/// in the grammar, so that errors point at the right character there.
pub(super) fn compile(pattern: &str, offset: usize, flags: RegexFlags) -> Result<Hir, GrammarError> {
    let verbose = flags.verbose || starts_verbose(pattern);
    let translated = translate(pattern, verbose, flags.ascii_classes);
    if let Some((start, end)) = translated.bad_range {
        return Err(GrammarError::at(
            ErrorKind::Regex,
            Span::new(offset + start, offset + end),
            "a class escape such as `\\w` or `\\d` cannot be the end of a range",
        )
        .with_help("write a literal `-` as `\\-`"));
    }
    let text = translated.pattern.as_str();
    let ast = ParserBuilder::new().ignore_whitespace(flags.verbose).empty_min_range(true).build().parse(text).map_err(
        |err| {
            if let Some(refusal) = regex_ast::named_refusal(text, &err) {
                let help = match err.kind() {
                    regex_syntax::ast::ErrorKind::UnsupportedBackreference => BACKREFERENCE_HELP,
                    _ => refusal.help,
                };
                return translated.error_between(refusal.start, refusal.end, refusal.message, offset, Some(help));
            }
            let help = match err.kind() {
                regex_syntax::ast::ErrorKind::UnsupportedLookAround => Some(LOOK_AROUND_HELP),
                regex_syntax::ast::ErrorKind::UnsupportedBackreference => Some(BACKREFERENCE_HELP),
                regex_syntax::ast::ErrorKind::RepetitionCountUnclosed
                | regex_syntax::ast::ErrorKind::RepetitionCountDecimalEmpty
                | regex_syntax::ast::ErrorKind::RepetitionCountInvalid
                | regex_syntax::ast::ErrorKind::RepetitionMissing => Some(BRACE_HELP),
                _ => None,
            };
            translated.error(err.kind().to_string(), err.span(), offset, help)
        },
    )?;
    if let Some(stacked) = regex_ast::stacked_repetition(&ast) {
        let (message, help) = if stacked.possessive {
            (
                "possessive repetitions are not supported",
                "a possessive repetition never gives back what it matched, which regex-syntax cannot express \
                 (it would read `a*+` as `(a*)+`); drop the `+` (the language may then grow), or make the next \
                 item exclude what it repeats",
            )
        } else {
            (
                "a repetition of a repetition (Python: \"multiple repeat\")",
                "Python refuses it; put the inner repetition in a group, e.g. `(?:a*)*`",
            )
        };
        return Err(translated.error_between(stacked.start, stacked.end, message.to_owned(), offset, Some(help)));
    }
    TranslatorBuilder::new()
        .case_insensitive(flags.case_insensitive)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_matches_new_line)
        .build()
        .translate(text, &ast)
        .map_err(|err| translated.error(err.kind().to_string(), err.span(), offset, None))
}

const LOOK_AROUND_HELP: &str = "terminals compile to a DFA, which has no look-around; \
     express the condition in the grammar (a negated class, another terminal, a rule)";
const BACKREFERENCE_HELP: &str = "a backreference makes the language non-regular, so no DFA can \
     match it (regex-syntax reads `\\1`..`\\9` as backreferences)";
const BRACE_HELP: &str = "Python reads a `{` that starts no repetition as a literal; write `\\{`";

/// Whether the pattern starts with an inline flag group that turns on
/// verbose mode, e.g. `(?x)` or `(?ix)`.
fn starts_verbose(pattern: &str) -> bool {
    let Some(rest) = pattern.strip_prefix("(?") else {
        return false;
    };
    let flags: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    flags.contains('x') && rest[flags.len()..].starts_with(')')
}

/// Python's whitespace in verbose mode; regex-syntax ignores all of
/// Unicode's `White_Space` there.
const PYTHON_VERBOSE_SPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];
/// Python's `\w` for `str` patterns is exactly letters, numbers and `_`
/// (checked over all code points against Python 3.11).
const WORD: &str = r"\p{L}\p{N}_";
/// Python's `\s` is Unicode `White_Space` plus the separators U+001C..U+001F.
const SPACE: &str = r"\s\x1C-\x1F";
/// The ASCII classes ([`RegexFlags::ascii_classes`]): Python's `re.ASCII`
/// meanings, the space written as `\x20` so that verbose mode keeps it.
const ASCII_DIGIT: &str = "0-9";
const ASCII_WORD: &str = "0-9A-Za-z_";
const ASCII_SPACE: &str = r"\t\n\x0B\x0C\r\x20";

/// A pattern rewritten for regex-syntax, remembering where each of its
/// bytes came from.
#[derive(Debug, Default)]
pub(super) struct Translation {
    pub pattern: String,
    /// `origin[i]` is the offset in the original pattern of the piece that
    /// produced byte `i`; one more entry maps the end.
    origin: Vec<usize>,
    /// The first range with a set (`\w`, `\d`, ...) as an endpoint, which
    /// Python refuses: its start and end in the original pattern.
    bad_range: Option<(usize, usize)>,
    /// Whether `\d`, `\w`, `\s` are translated to their ASCII classes.
    ascii_classes: bool,
}

impl Translation {
    fn push(&mut self, text: &str, origin: usize) {
        self.pattern.push_str(text);
        self.origin.extend(std::iter::repeat_n(origin, text.len()));
    }

    fn push_char(&mut self, c: char, origin: usize) {
        self.push(c.encode_utf8(&mut [0; 4]), origin);
    }

    fn push_hex(&mut self, c: char, origin: usize) {
        self.push(&format!("\\x{{{:X}}}", u32::from(c)), origin);
    }

    /// The offset in the original pattern of translated offset `at`.
    pub(super) fn origin(&self, at: usize) -> usize {
        self.origin.get(at).or(self.origin.last()).copied().unwrap_or(0)
    }

    fn error(
        &self,
        message: String,
        span: &regex_syntax::ast::Span,
        offset: usize,
        help: Option<&str>,
    ) -> GrammarError {
        self.error_between(span.start.offset, span.end.offset, message, offset, help)
    }

    /// An error about translated bytes `start..end`, located in the grammar
    /// (the original pattern starts at `offset` there).
    fn error_between(
        &self,
        start: usize,
        end: usize,
        message: String,
        offset: usize,
        help: Option<&str>,
    ) -> GrammarError {
        let span = Span::new(offset + self.origin(start), offset + self.origin(end));
        let err = GrammarError::at(ErrorKind::Regex, span, message);
        match help {
            Some(help) => err.with_help(help),
            None => err,
        }
    }
}

/// Rewrites a Python pattern into regex-syntax's spelling of the same
/// meaning (see the module docs).
pub(super) fn translate(pattern: &str, verbose: bool, ascii_classes: bool) -> Translation {
    let mut out = Translation { ascii_classes, ..Translation::default() };
    let mut at = 0;
    while let Some(c) = pattern.get(at..).and_then(|rest| rest.chars().next()) {
        let rest = &pattern[at..];
        at = match c {
            '\\' => escape(pattern, at, false, &mut out).0,
            '[' => class(pattern, at, &mut out),
            '(' if rest.starts_with("(?#") => match rest.find(')') {
                // Python's comment group: it ends at the first `)`.
                Some(close) => at + close + 1,
                None => {
                    out.push("(?#", at);
                    at + 3
                }
            },
            '#' if verbose => {
                // A comment to the end of the line: copied as is, so that a
                // `[` inside it does not open a class.
                let len = rest.find('\n').unwrap_or(rest.len());
                out.push(&rest[..len], at);
                at + len
            }
            c if verbose && c.is_whitespace() && !PYTHON_VERBOSE_SPACE.contains(&c) => {
                out.push_hex(c, at);
                at + c.len_utf8()
            }
            c => {
                out.push_char(c, at);
                at + c.len_utf8()
            }
        };
    }
    out.origin.push(pattern.len());
    out
}

/// Translates the escape starting with the backslash at `at`; returns
/// where the next piece starts, and whether the escape is a set of
/// characters (`\w`, `\d`, ...) rather than one.
fn escape(pattern: &str, at: usize, in_class: bool, out: &mut Translation) -> (usize, bool) {
    let Some(escaped) = pattern.get(at + 1..).and_then(|rest| rest.chars().next()) else {
        // A trailing backslash: regex-syntax reports it.
        out.push("\\", at);
        return (at + 1, false);
    };
    let next = at + 1 + escaped.len_utf8();
    match escaped {
        'd' | 'D' if !out.ascii_classes => {
            out.push("\\", at);
            out.push_char(escaped, at + 1);
            return (next, true);
        }
        'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
            let items = match (escaped.to_ascii_lowercase(), out.ascii_classes) {
                ('d', _) => ASCII_DIGIT,
                ('w', false) => WORD,
                ('w', true) => ASCII_WORD,
                (_, false) => SPACE,
                (_, true) => ASCII_SPACE,
            };
            let text = match (escaped.is_ascii_lowercase(), in_class) {
                (true, true) => items.to_string(),
                (true, false) => format!("[{items}]"),
                (false, _) => format!("[^{items}]"),
            };
            // Alone, an ASCII class must not be case-folded into non-ASCII
            // letters; inside brackets the whole class is folded anyway.
            let text = if out.ascii_classes && !in_class { format!("(?-i:{text})") } else { text };
            out.push(&text, at);
            return (next, true);
        }
        'Z' if !in_class => out.push("\\z", at),
        'b' if in_class => out.push("\\x{8}", at),
        '0'..='7' => {
            // Python: `\0` starts an octal escape of up to three digits; so
            // does any octal digit inside a class, while outside one `\1`
            // to `\7` are octal only with exactly three octal digits (else
            // a backreference).
            let digits: String = pattern[at + 1..].chars().take(3).take_while(|d| d.is_digit(8)).collect();
            let is_octal = in_class || escaped == '0' || digits.len() == 3;
            let value = u32::from_str_radix(&digits, 8).ok().filter(|&v| v <= 0o377);
            match (is_octal, value.and_then(char::from_u32)) {
                (true, Some(c)) => {
                    out.push_hex(c, at);
                    return (at + 1 + digits.len(), false);
                }
                _ => {
                    // A backreference or an out-of-range value: regex-syntax
                    // reports it.
                    out.push("\\", at);
                    out.push_char(escaped, at + 1);
                }
            }
        }
        '<' | '>' => out.push_char(escaped, at + 1),
        c if !c.is_ascii() => out.push_char(c, at + 1),
        c => {
            out.push("\\", at);
            out.push_char(c, at + 1);
        }
    }
    (next, false)
}

/// Translates a class starting with the `[` at `at`, following Python's
/// reading of it: a `]` right after `[` or `[^` is literal, `[` inside is
/// literal, and `a-b` is a range unless the `-` comes last.
fn class(pattern: &str, at: usize, out: &mut Translation) -> usize {
    out.push("[", at);
    let mut at = at + 1;
    if pattern[at..].starts_with('^') {
        out.push("^", at);
        at += 1;
    }
    let mut first = true;
    while let Some(c) = pattern.get(at..).and_then(|rest| rest.chars().next()) {
        if c == ']' && !first {
            out.push("]", at);
            return at + 1;
        }
        first = false;
        let item_start = at;
        let (item_end, low_is_set) = class_item(pattern, at, out);
        at = item_end;
        let rest = &pattern[at..];
        if rest.starts_with('-') && !rest.starts_with("-]") && rest.len() > 1 {
            out.push("-", at);
            let (range_end, high_is_set) = class_item(pattern, at + 1, out);
            if (low_is_set || high_is_set) && out.bad_range.is_none() {
                out.bad_range = Some((item_start, range_end));
            }
            at = range_end;
        }
    }
    // Unterminated: regex-syntax reports the open class.
    at
}

/// One member of a class (or an endpoint of a range); returns where the
/// next one starts and whether this one is a set of characters.
fn class_item(pattern: &str, at: usize, out: &mut Translation) -> (usize, bool) {
    let Some(c) = pattern.get(at..).and_then(|rest| rest.chars().next()) else {
        return (at, false);
    };
    match c {
        '\\' => return escape(pattern, at, true, out),
        // Special inside regex-syntax classes (nested classes, set
        // operations, the range operator), literal in Python's.
        '[' | '&' | '~' | '-' | '#' => {
            out.push("\\", at);
            out.push_char(c, at);
        }
        // Python keeps whitespace in a class even in verbose mode.
        c if c.is_whitespace() => out.push_hex(c, at),
        c => out.push_char(c, at),
    }
    (at + c.len_utf8(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(pattern: &str) -> String {
        translate(pattern, false, false).pattern
    }

    fn hir(pattern: &str) -> Hir {
        compile(pattern, 0, RegexFlags::default()).unwrap()
    }

    /// Whether `pattern` matches all of `text`, using the `regex` crate on
    /// the compiled HIR.
    fn full_match(pattern: &str, flags: RegexFlags, text: &str) -> bool {
        let hir = compile(pattern, 0, flags).unwrap();
        let regex = regex::Regex::new(&format!("^(?:{hir})$")).unwrap();
        regex.is_match(text)
    }

    fn matches(pattern: &str, text: &str) -> bool {
        full_match(pattern, RegexFlags::default(), text)
    }

    #[test]
    fn common_patterns_are_unchanged() {
        for pattern in [r"[a-z_][a-z0-9_]*", r"\d+(\.\d+)?", r"[^\n]*", r#""([^"\\]|\\.)*""#, r"a|b\/c"] {
            assert_eq!(translated(pattern), pattern);
        }
    }

    #[test]
    fn python_meanings_are_kept() {
        assert!(matches(r"\w", "²") && !matches(r"\w", "\u{301}")); // No is a word char, Mn is not
        assert!(matches(r"\s", "\x1c") && !matches(r"\S", "\x1f"));
        assert!(matches(r"[\w-]+", "a-²") && matches(r"[\W]", "!") && !matches(r"[\W]", "a"));
        assert!(matches(r"\<\>", "<>"));
        assert!(matches(r"\é", "é"));
        assert!(matches(r"\0", "\0") && matches(r"\101", "A") && matches(r"[\7]", "\x07"));
        assert!(matches(r"[\b]", "\x08"));
        assert!(matches(r"[[]", "[") && matches(r"[a&&b]", "&") && matches(r"[~~]", "~"));
        assert!(matches(r"[]a]", "]") && matches(r"[^]a]", "b") && !matches(r"[^]a]", "]"));
        assert!(matches(r"[%--]", ",") && matches(r"[a-]", "-") && matches(r"[-a]", "-"));
        assert!(matches(r"[a-c-e]", "-") && !matches(r"[a-c-e]", "d"));
        assert!(matches(r"a(?#comment)b", "ab"));
        assert!(matches(r"a{,2}", "aa") && matches(r"a{,2}", ""));
        assert!(matches(r"\/", "/"));
        // `[[:alpha:]]` is not a POSIX class in Python.
        assert!(matches(r"[[:alpha:]]", ":]") && matches(r"[[:alpha:]]", "a]"));
        assert!(!matches(r"[[:alpha:]]", "b]"));
    }

    #[test]
    fn verbose_mode_follows_python() {
        let verbose = RegexFlags { verbose: true, ..RegexFlags::default() };
        assert!(full_match("a b # [comment\n c", verbose, "abc"));
        // Whitespace and `#` inside a class stay literal.
        assert!(full_match("[ #]", verbose, " ") && full_match("[ #]", verbose, "#"));
        // A no-break space is not verbose whitespace in Python.
        assert!(full_match("a\u{a0}b", verbose, "a\u{a0}b"));
        assert!(full_match("(?x) a b", RegexFlags::default(), "ab"));
        assert!(full_match(r"a\ b", verbose, "a b"));
    }

    #[test]
    fn flags_map_to_regex_syntax() {
        let flags = |case_insensitive, dot_matches_new_line| RegexFlags {
            case_insensitive,
            dot_matches_new_line,
            ..RegexFlags::default()
        };
        assert!(full_match("ab", flags(true, false), "aB"));
        assert!(!full_match("ab", flags(false, false), "aB"));
        assert!(full_match("a.b", flags(false, true), "a\nb"));
        assert!(!full_match("a.b", flags(false, false), "a\nb"));
        let multi_line = RegexFlags { multi_line: true, ..RegexFlags::default() };
        assert_ne!(compile("a$", 0, multi_line).unwrap(), hir("a$"));
    }

    #[test]
    fn errors_point_into_the_original_pattern() {
        // The `\w` before the look-ahead grows by 11 bytes when translated.
        let err = compile(r"\w(?=x)", 100, RegexFlags::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Regex);
        assert_eq!(err.span, Some(Span::new(102, 105)));
        assert!(err.message.contains("look-around"), "{}", err.message);
        assert!(err.help.is_some());

        let err = compile(r"(a)\1", 7, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(10, 12)));
        assert!(err.message.contains("backreference"), "{}", err.message);
        assert!(err.help.as_deref().unwrap_or("").contains("non-regular"));

        let err = compile(r"a{", 0, RegexFlags::default()).unwrap_err();
        assert_eq!(err.help.as_deref(), Some(BRACE_HELP));

        let err = compile(r"[+\w-z]", 3, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(5, 9)));

        // Constructs of Python that regex-syntax does not have, by name.
        let err = compile(r"(?P<x>a)(?P=x)", 10, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(18, 24)));
        assert!(err.message.contains("backreferences are not regular"), "{}", err.message);
        let err = compile(r"\w(?>a+)", 0, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(2, 5)), "{err:?}");
        assert!(err.message.contains("atomic groups are not supported"), "{}", err.message);
        let err = compile(r"\wa*+a", 4, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(7, 9)), "{err:?}");
        assert!(err.message.contains("possessive"), "{}", err.message);
        let err = compile(r"a{2}*", 0, RegexFlags::default()).unwrap_err();
        assert!(err.message.contains("multiple repeat"), "{}", err.message);
        assert!(compile(r"a*?b+?", 0, RegexFlags::default()).is_ok());

        // An error found while translating to HIR.
        let err = compile(r"\p{Nope}", 0, RegexFlags::default()).unwrap_err();
        assert_eq!(err.span, Some(Span::new(0, 8)));
    }

    #[test]
    fn ascii_classes_follow_python_re_ascii() {
        let ascii = RegexFlags { ascii_classes: true, ..RegexFlags::default() };
        for (pattern, ascii_yes, unicode_only) in
            [(r"\d", "7", "٣"), (r"\w", "_", "é"), (r"\s", "\x0b", "\u{2003}"), (r"[\w-]", "-", "²")]
        {
            assert!(full_match(pattern, ascii, ascii_yes) && !full_match(pattern, ascii, unicode_only), "{pattern}");
            assert!(matches(pattern, unicode_only), "{pattern} is Unicode by default");
        }
        for (pattern, yes, no) in [(r"\D", "٣", "7"), (r"\W", "é", "a"), (r"\S", "\u{2003}", " "), (r"[\D]", "٣", "7")]
        {
            assert!(full_match(pattern, ascii, yes) && !full_match(pattern, ascii, no), "{pattern}");
        }
        // Verbose mode keeps the space of `\s`; `i` does not fold `\w` into
        // the Kelvin sign.
        let verbose = RegexFlags { verbose: true, ..ascii };
        assert!(full_match(r"a \s b", verbose, "a b"));
        let folded = RegexFlags { case_insensitive: true, ..ascii };
        assert!(!full_match(r"\w", folded, "\u{212a}") && full_match(r"\wx", folded, "KX"));
    }

    #[test]
    fn translation_maps_offsets() {
        let t = translate(r"\w[\b]x", false, false);
        assert_eq!(t.pattern, r"[\p{L}\p{N}_][\x{8}]x");
        let x = t.pattern.find('x').unwrap_or(0);
        // The last `x` is the only unchanged piece after the class.
        assert_eq!(t.origin(t.pattern.len() - 1), 6);
        assert_eq!(t.origin(t.pattern.len()), 7);
        assert_eq!(t.origin(x), 3); // the `x` of `\x{8}` comes from `\b`
    }
}
