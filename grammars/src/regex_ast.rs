//! Passes over regex-syntax's AST shared by the two regex dialects that
//! regex-syntax parses for Trellis: regex constraints
//! ([`crate::regex_constraint`]) and Lark's Python-style regexes
//! (`lark/python_re.rs`).
//!
//! regex-syntax refuses what it cannot represent, but in words written for
//! its own users: a Python or PCRE construct it has never heard of comes
//! back as "unrecognized flag", and a Unicode word boundary parses fine
//! and fails only when the DFA is built, far from the pattern, with advice
//! meant for callers of regex-automata. These passes find such constructs
//! with their span while the pattern is still at hand, and name them:
//!
//! * [`named_refusal`] reads a parse error and says what the construct at
//!   its span really is (a backreference `(?P=name)`, an atomic group
//!   `(?>...)`, a possessive `a*+`, ...);
//! * [`unicode_word_boundary`] finds the first `\b`, `\B`, `\<`, `\b{start}`
//!   ... that the flags in force make a Unicode word boundary, which no DFA
//!   over bytes can check;
//! * [`make_classes_ascii`] turns `\d`, `\w`, `\s` and their negations into
//!   their ASCII classes ([`SourceOptions::ascii_classes`]).
//!
//! [`SourceOptions::ascii_classes`]: crate::SourceOptions::ascii_classes

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassAscii, ClassAsciiKind, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem, Flag, FlagsItemKind, GroupKind,
};

/// A construct refused with its name: where it is in the pattern (a byte
/// range), what it is, and how to do without it.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub help: &'static str,
}

const BACKREFERENCE_HELP: &str = "a backreference makes the language non-regular, so no DFA can match it; \
     if the group can match only a few strings, write each one with its repetition as alternatives";

/// Names the construct behind a regex-syntax parse error of `pattern`, for
/// the constructs other dialects have and regex-syntax does not: `None`
/// when the error is a plain one, whose own message says it well.
pub(crate) fn named_refusal(pattern: &str, error: &ast::Error) -> Option<Refusal> {
    let at = error.span().start.offset.min(pattern.len());
    match error.kind() {
        ast::ErrorKind::UnsupportedBackreference => Some(Refusal {
            start: at,
            end: error.span().end.offset.clamp(at, pattern.len()),
            message: "backreferences are not regular".to_owned(),
            help: BACKREFERENCE_HELP,
        }),
        // regex-syntax reads `(?` followed by anything but `:`, `<`, `P<`
        // or look-around as flags.
        ast::ErrorKind::FlagUnrecognized | ast::ErrorKind::FlagUnexpectedEof | ast::ErrorKind::FlagDanglingNegation => {
            let open = pattern[..at].trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '-');
            let open = open.strip_suffix("(?")?.len();
            group_construct(pattern, open)
        }
        _ => None,
    }
}

/// The construct of the group opening `(?` at `open`, if it is one Trellis
/// knows by name.
fn group_construct(pattern: &str, open: usize) -> Option<Refusal> {
    let after = &pattern[open + 2..];
    // Up to the group's first `)`, or its opening alone if there is none.
    let through_close = |fallback: usize| after.find(')').map_or(open + 2 + fallback, |close| open + 2 + close + 1);
    let (end, message, help) = if after.starts_with("P=") {
        (through_close(2), "backreferences are not regular", BACKREFERENCE_HELP)
    } else if after.starts_with('>') {
        (
            open + 3,
            "atomic groups are not supported",
            "an atomic group never gives back what it matched; write a plain group `(?:...)` \
             (the language may then grow), or make what follows exclude what the group matches",
        )
    } else if after.starts_with("P>")
        || after.starts_with(['&', '+'])
        || after.starts_with(|c: char| c.is_ascii_digit())
    {
        (
            through_close(1),
            "recursive patterns and subroutine calls are not regular",
            "write the recursion as a grammar rule (GBNF or Lark) instead of a regex",
        )
    } else if after.starts_with('(') {
        (
            open + 3,
            "conditional groups are not supported",
            "a condition on what a group matched is not regular; write both cases as alternatives `(?:a|b)`",
        )
    } else {
        return None;
    };
    Some(Refusal { start: open, end: end.min(pattern.len()), message: message.to_owned(), help })
}

/// A repetition operator applied straight to another one, as in `a*+`:
/// the bytes from the inner operator to the outer one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StackedRepetition {
    pub start: usize,
    pub end: usize,
    /// Whether the outer operator is `+`: Python (3.11) and PCRE read
    /// `a*+` as a *possessive* `a*`, where regex-syntax reads `(a*)+`.
    pub possessive: bool,
}

/// The first repetition of a repetition in `ast` (`a*+`, `a{2}*`, `a??`),
/// which regex-syntax accepts as nested repetitions but other dialects
/// read as something else or refuse. A lazy repetition such as `a*?` is
/// one repetition, not two.
pub(crate) fn stacked_repetition(ast: &Ast) -> Option<StackedRepetition> {
    match ast {
        Ast::Repetition(outer) => match &*outer.ast {
            Ast::Repetition(inner) => Some(StackedRepetition {
                start: inner.op.span.start.offset,
                end: outer.op.span.end.offset,
                possessive: outer.op.kind == ast::RepetitionKind::OneOrMore,
            }),
            other => stacked_repetition(other),
        },
        Ast::Group(group) => stacked_repetition(&group.ast),
        Ast::Alternation(alternation) => alternation.asts.iter().find_map(stacked_repetition),
        Ast::Concat(concat) => concat.asts.iter().find_map(stacked_repetition),
        Ast::Empty(_)
        | Ast::Flags(_)
        | Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::Assertion(_)
        | Ast::ClassUnicode(_)
        | Ast::ClassPerl(_)
        | Ast::ClassBracketed(_) => None,
    }
}

/// The span of the first assertion in `ast` that is a Unicode word
/// boundary under the flags in force there, starting from Unicode mode
/// (regex-syntax's default, and both dialects').
///
/// Flags follow regex-syntax's translator: `(?flags:...)` sets them inside
/// its group, and `(?flags)` for the rest of the enclosing group, across
/// `|` too.
pub(crate) fn unicode_word_boundary(ast: &Ast) -> Option<ast::Span> {
    let mut unicode = true;
    find_word_boundary(ast, &mut unicode)
}

fn find_word_boundary(ast: &Ast, unicode: &mut bool) -> Option<ast::Span> {
    match ast {
        Ast::Flags(set) => {
            apply_unicode_flag(&set.flags, unicode);
            None
        }
        Ast::Assertion(assertion) => {
            let word = !matches!(
                assertion.kind,
                AssertionKind::StartLine | AssertionKind::EndLine | AssertionKind::StartText | AssertionKind::EndText
            );
            (word && *unicode).then_some(assertion.span)
        }
        Ast::Repetition(repetition) => find_word_boundary(&repetition.ast, unicode),
        Ast::Group(group) => {
            let mut inner = *unicode;
            if let GroupKind::NonCapturing(flags) = &group.kind {
                apply_unicode_flag(flags, &mut inner);
            }
            find_word_boundary(&group.ast, &mut inner)
        }
        Ast::Alternation(alternation) => alternation.asts.iter().find_map(|ast| find_word_boundary(ast, unicode)),
        Ast::Concat(concat) => concat.asts.iter().find_map(|ast| find_word_boundary(ast, unicode)),
        Ast::Empty(_)
        | Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::ClassUnicode(_)
        | Ast::ClassPerl(_)
        | Ast::ClassBracketed(_) => None,
    }
}

/// Applies the `u` of a flag list (`-u` turns it off, as does any flag
/// after a `-`).
fn apply_unicode_flag(flags: &ast::Flags, unicode: &mut bool) {
    let mut negated = false;
    for item in &flags.items {
        match item.kind {
            FlagsItemKind::Negation => negated = true,
            FlagsItemKind::Flag(Flag::Unicode) => *unicode = !negated,
            FlagsItemKind::Flag(_) => {}
        }
    }
}

/// Rewrites every `\d`, `\w`, `\s`, `\D`, `\W`, `\S` of `ast` into the
/// ASCII class of the same name (`[0-9]`, `[0-9A-Za-z_]`,
/// `[\t\n\x0B\x0C\r ]` and their complements over all characters).
///
/// The rewrite uses POSIX classes (`[[:digit:]]`, `[[:word:]]`,
/// `[[:space:]]`), which are ASCII whatever the Unicode flag and are still
/// complemented over Unicode characters, so the pattern keeps matching
/// valid UTF-8 only (regex-syntax's `(?-u:\D)` would match any byte). A
/// class written alone is also put in a `(?-i:...)` group, because
/// case-insensitive matching folds a POSIX class as it does any class, and
/// Unicode folds `k` and `s` with U+212A KELVIN SIGN and U+017F LATIN SMALL
/// LETTER LONG S. Inside brackets there is no such group to take: under
/// `(?i)`, `[\w]` is folded with the rest of its class and so also matches
/// those two letters.
pub(crate) fn make_classes_ascii(ast: &mut Ast) {
    match ast {
        Ast::ClassPerl(perl) => {
            let span = perl.span;
            let class =
                ClassBracketed { span, negated: false, kind: ClassSet::Item(ClassSetItem::Ascii(ascii_class(perl))) };
            let group = ast::Group {
                span,
                kind: GroupKind::NonCapturing(ast::Flags {
                    span,
                    items: vec![
                        ast::FlagsItem { span, kind: FlagsItemKind::Negation },
                        ast::FlagsItem { span, kind: FlagsItemKind::Flag(Flag::CaseInsensitive) },
                    ],
                }),
                ast: Box::new(Ast::class_bracketed(class)),
            };
            *ast = Ast::group(group);
        }
        Ast::ClassBracketed(class) => make_set_ascii(&mut class.kind),
        Ast::Repetition(repetition) => make_classes_ascii(&mut repetition.ast),
        Ast::Group(group) => make_classes_ascii(&mut group.ast),
        Ast::Alternation(alternation) => alternation.asts.iter_mut().for_each(make_classes_ascii),
        Ast::Concat(concat) => concat.asts.iter_mut().for_each(make_classes_ascii),
        Ast::Empty(_) | Ast::Flags(_) | Ast::Literal(_) | Ast::Dot(_) | Ast::Assertion(_) | Ast::ClassUnicode(_) => {}
    }
}

fn make_set_ascii(set: &mut ClassSet) {
    match set {
        ClassSet::Item(item) => make_item_ascii(item),
        ClassSet::BinaryOp(operation) => {
            make_set_ascii(&mut operation.lhs);
            make_set_ascii(&mut operation.rhs);
        }
    }
}

fn make_item_ascii(item: &mut ClassSetItem) {
    match item {
        ClassSetItem::Perl(perl) => *item = ClassSetItem::Ascii(ascii_class(perl)),
        ClassSetItem::Bracketed(class) => make_set_ascii(&mut class.kind),
        ClassSetItem::Union(union) => union.items.iter_mut().for_each(make_item_ascii),
        ClassSetItem::Empty(_)
        | ClassSetItem::Literal(_)
        | ClassSetItem::Range(_)
        | ClassSetItem::Ascii(_)
        | ClassSetItem::Unicode(_) => {}
    }
}

/// The POSIX class that is the ASCII version of a Perl class: regex-syntax
/// documents `[[:space:]]` as `[\t\n\v\f\r ]` and `[[:word:]]` as
/// `[0-9A-Za-z_]`, exactly `(?-u:\s)` and `(?-u:\w)`.
fn ascii_class(perl: &ClassPerl) -> ClassAscii {
    let kind = match perl.kind {
        ClassPerlKind::Digit => ClassAsciiKind::Digit,
        ClassPerlKind::Space => ClassAsciiKind::Space,
        ClassPerlKind::Word => ClassAsciiKind::Word,
    };
    ClassAscii { span: perl.span, kind, negated: perl.negated }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::ast::parse::Parser;
    use regex_syntax::hir::translate::Translator;

    fn refusal(pattern: &str) -> Option<Refusal> {
        let error = Parser::new().parse(pattern).expect_err("regex-syntax refuses it");
        named_refusal(pattern, &error)
    }

    #[test]
    fn constructs_of_other_dialects_are_named_where_they_are() {
        let cases = [
            ("(?P<x>a)(?P=x)", 8, 14, "backreferences are not regular"),
            ("(a)\\1", 3, 5, "backreferences are not regular"),
            ("b(?>a+)", 1, 4, "atomic groups are not supported"),
            ("(?(1)a|b)", 0, 3, "conditional groups"),
            ("a(?1)?", 1, 5, "recursive patterns"),
            ("(?P>x)", 0, 6, "recursive patterns"),
        ];
        for (pattern, start, end, message) in cases {
            let found = refusal(pattern).unwrap_or_else(|| panic!("{pattern}: not named"));
            assert_eq!((found.start, found.end), (start, end), "{pattern}");
            assert!(found.message.contains(message), "{pattern}: {}", found.message);
        }
        // Plain errors keep regex-syntax's own words.
        assert!(refusal("(?z)").is_none());
        assert!(refusal("a)").is_none());
        assert!(refusal("*").is_none());
    }

    #[test]
    fn stacked_repetitions_are_found() {
        let stacked = |pattern: &str| stacked_repetition(&Parser::new().parse(pattern).expect("parses"));
        let at = |start, end, possessive| Some(StackedRepetition { start, end, possessive });
        assert_eq!(stacked("ba*+"), at(2, 4, true));
        assert_eq!(stacked("(x|a{2}+)"), at(4, 8, true));
        assert_eq!(stacked("a**"), at(1, 3, false));
        assert_eq!(stacked("a*?"), None);
        assert_eq!(stacked("(?:a*)+"), None);
    }

    fn boundary(pattern: &str) -> Option<(usize, usize)> {
        let ast = Parser::new().parse(pattern).expect("parses");
        unicode_word_boundary(&ast).map(|span| (span.start.offset, span.end.offset))
    }

    #[test]
    fn word_boundaries_follow_the_unicode_flag() {
        assert_eq!(boundary(r"\bfoo\b"), Some((0, 2)));
        assert_eq!(boundary(r"x\B"), Some((1, 3)));
        assert_eq!(boundary(r"a\b{start}"), Some((1, 10)));
        assert_eq!(boundary(r"(?-u:\b)foo\b"), Some((11, 13)));
        assert_eq!(boundary(r"(?-u)\bfoo\b"), None);
        assert_eq!(boundary(r"(?:(?-u)\b)\b"), Some((11, 13)));
        assert_eq!(boundary(r"(?-u)a|\b"), None);
        assert_eq!(boundary(r"(?-u)(?u:\b)"), Some((9, 11)));
        assert_eq!(boundary(r"^a$\A\z"), None);
    }

    fn ascii(pattern: &str) -> regex::Regex {
        let mut ast = Parser::new().parse(pattern).expect("parses");
        make_classes_ascii(&mut ast);
        let hir = Translator::new().translate(pattern, &ast).expect("translates");
        regex::Regex::new(&format!("^(?:{hir})$")).expect("compiles")
    }

    #[test]
    fn ascii_classes_are_ascii_and_their_complements_are_unicode() {
        for (pattern, ascii_yes, unicode_only, complement) in
            [(r"\d", "7", "٣", r"\D"), (r"\w", "_", "é", r"\W"), (r"\s", "\x0b", "\u{2003}", r"\S")]
        {
            let (class, negated) = (ascii(pattern), ascii(complement));
            assert!(class.is_match(ascii_yes) && !class.is_match(unicode_only), "{pattern}");
            assert!(!negated.is_match(ascii_yes) && negated.is_match(unicode_only), "{complement}");
            let (bracketed, negated_bracket) = (ascii(&format!("[{pattern}]")), ascii(&format!("[^{pattern}]")));
            assert!(bracketed.is_match(ascii_yes) && !bracketed.is_match(unicode_only), "[{pattern}]");
            assert!(!negated_bracket.is_match(ascii_yes) && negated_bracket.is_match(unicode_only), "[^{pattern}]");
        }
        assert!(ascii(r"[a[\d]&&\w]").is_match("3") && !ascii(r"[a[\d]&&\w]").is_match("٣"));
        // Alone, a class is not case-folded into non-ASCII letters.
        assert!(!ascii(r"(?i)\w").is_match("\u{212a}") && ascii(r"(?i)\W").is_match("\u{212a}"));
        assert!(ascii(r"(?i)\wb").is_match("aB"));
    }
}
