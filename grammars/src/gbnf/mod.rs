//! GBNF, the grammar format of llama.cpp, parsed into [`Ebnf`].
//!
//! A GBNF grammar is a context-free grammar over characters: a list of rules
//! `name ::= body`, one per line, where a body is alternatives (`|`) of
//! sequences of string literals (`"..."`), character classes (`[a-z]`,
//! `[^"\\]`), `.` (any character), references to other rules and
//! parenthesised groups, each optionally repeated with `*`, `+`, `?` or
//! `{m,n}`. There is no lexer: text matches a rule when some split of it
//! follows the rules ([`Lexing::AnySplit`]), and whitespace is only ever
//! matched where the grammar says so. The start rule is `root`.
//!
//! ```
//! use trellis_grammars::ebnf::ExprKind;
//!
//! let ebnf = trellis_grammars::gbnf::parse(
//!     r#"
//! ## A list of small integers, like `[1, 22, 333]`.
//! root    ::= "[" ws ( integer ( "," ws integer )* )? "]"
//! integer ::= [1-9] [0-9]{0,2} | "0"
//! ws      ::= | " " ws
//! "#,
//! )?;
//! assert_eq!(ebnf.start, "root");
//! let names: Vec<&str> = ebnf.rules.iter().map(|rule| rule.name.as_str()).collect();
//! assert_eq!(names, ["root", "integer", "ws"]);
//! assert!(matches!(ebnf.rules[1].body.kind, ExprKind::Alt(_)));
//!
//! // Errors say where, what, and when they can, how to fix it.
//! let error = trellis_grammars::gbnf::parse("root ::= my_rule\n").unwrap_err();
//! assert_eq!(error.span.map(|span| span.start), Some(11));
//! assert!(error.help.unwrap().contains("write `my-rule` instead of `my_rule`"));
//! # Ok::<(), trellis_grammars::GrammarError>(())
//! ```
//!
//! # The syntax, as llama.cpp defines it
//!
//! * **Rules.** `name ::= body`. Names are `[a-zA-Z0-9-]+` (no `_`). Rule
//!   order does not matter; `root` is the start. That `root` exists and that
//!   every referenced rule is defined is checked later, when the EBNF is
//!   lowered to the grammar IR ([`crate::ir`]), not here.
//! * **Whitespace and newlines.** Spaces, tabs and `#` comments (to the end
//!   of the line) separate anything. A newline (`\n`, `\r\n` or `\r`) *ends
//!   the rule*, except right after `::=`, right after `|` and anywhere inside
//!   parentheses, where it is whitespace (as are blank lines between rules).
//!   So a rule spans several lines only through a trailing `|` or
//!   parentheses; a line that starts with `|` is an error.
//! * **Alternatives and sequences.** `a | b`, `a b`, grouping `( ... )`.
//!   An alternative may be empty (`ws ::= | " " ws`), and so may a body
//!   (`nothing ::=`), meaning the empty string.
//! * **Repetition.** Postfix `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` (spaces
//!   allowed inside the braces; `{,n}` is an error — write `{0,n}`), applying
//!   to the item just before them; they may be stacked (`x{2}?`). As in
//!   llama.cpp, a minimum count above 2000 is an error and a maximum count
//!   above 2000 means *unbounded* (`x{0,5000}` is `x*`).
//! * **Literals** `"..."` match their characters; **classes** `[...]` match
//!   one character from a list of characters and ranges `a-z`, and `[^...]`
//!   one character not in it, the complement over all Unicode scalar values
//!   (a `-` first or right before the `]` is a literal `-`); `.` matches any
//!   character, newline included.
//! * **Escapes**, in literals and classes: `\xHH`, `\uHHHH`, `\UHHHHHHHH`
//!   (exactly that many hex digits), `\t`, `\r`, `\n`, `\\`, `\"`, `\[`,
//!   `\]`, `\-`. Any other escape is an error. An escape is a *code point*,
//!   not a byte: `\xFF` is `ÿ` (U+00FF), two bytes in UTF-8. Raw newlines are
//!   allowed inside literals and classes.
//!
//! # Differences from llama.cpp
//!
//! Trellis accepts every grammar llama.cpp accepts and gives it the same
//! language, except for the following, which are deliberate:
//!
//! * **Token references are not supported.** `<think>`, `<[1234]>` and
//!   `!<...>` match model tokens by id; Trellis grammars constrain the bytes
//!   of the output, so these are an [`ErrorKind::Unsupported`] error.
//! * **A rule defined twice is an error** ([`ErrorKind::Duplicate`]);
//!   llama.cpp silently keeps the last definition.
//! * **An empty class `[]` or `[^]` is an error**; llama.cpp silently reads
//!   it as the empty string. A range written backwards (`[z-a]`) is an error
//!   too; llama.cpp reads it as matching nothing.
//! * **`{m,n}` with `m > n` is an error**; llama.cpp does not check it (its
//!   expansion then runs away).
//! * **Left recursion is allowed** (`list ::= list "," item | item`):
//!   Trellis's LR parser handles it; llama.cpp rejects it.
//! * **Repetition size.** Only llama.cpp's limits on the counts themselves
//!   are kept (above). llama.cpp also refuses a repetition whose expansion
//!   into helper rules reaches 2000 rules, counting nested repetitions
//!   multiplicatively (so it refuses `x{2000}` and `(x{50}){40}`); Trellis
//!   does not expand repetitions here and leaves size limits to compilation.
//!   llama.cpp also refuses a repetition operator that follows an item that
//!   left nothing behind (`""*`, `x{0}?`); Trellis repeats the empty string,
//!   which changes nothing. A count too large for 64 bits makes llama.cpp's
//!   integer parsing fail; Trellis treats such a maximum like any maximum
//!   above 2000 (unbounded) and such a minimum like any minimum above 2000
//!   (an error).
//! * **Nesting depth.** Sequences, alternatives and repetitions may nest at
//!   most 256 levels deep ([`ErrorKind::TooLarge`]), because later stages
//!   walk the tree recursively; llama.cpp recurses without a limit and can
//!   overflow its stack. Parentheses around a single item do not count.
//! * **Valid UTF-8 only.** Trellis constrains output to valid UTF-8 and
//!   matches characters as Unicode scalar values. llama.cpp's decoder is
//!   lenient and can let overlong encodings or encoded surrogates through a
//!   negated class or `.`; Trellis never does. An escape that is not a scalar
//!   value (a surrogate `\uD800`, or above `\U0010FFFF`) can therefore never
//!   match: in a class it adds nothing (and in a negated class it excludes
//!   nothing), and a literal containing one matches nothing at all. So
//!   `[^\x00-\uFFFF]` is exactly the characters from U+10000 on, and
//!   `[^\x00-\U0010FFFF]` or `[\uD800-\uDFFF]` match nothing; when every
//!   string of `root` needs such a class, the grammar is refused as
//!   [`ErrorKind::EmptyLanguage`] with the span of the class.
//! * **A byte-order mark** (U+FEFF) at the start of the text is skipped;
//!   llama.cpp reads it as the start of a rule name and fails. Spans stay
//!   byte offsets in the text as given.
//! * **NUL is an ordinary character.** llama.cpp reads the grammar as a C
//!   string and ignores everything after a NUL byte; Trellis reads all of
//!   it (a NUL outside a literal or class is a syntax error).
//!
//! # The result
//!
//! [`parse`] returns an [`Ebnf`] with `start = "root"`, one [`RuleDef`] per
//! rule in source order, [`Lexing::AnySplit`], and no terminals or ignore
//! list. Literals become [`ExprKind::Literal`] (`""` becomes
//! [`ExprKind::Empty`]), classes and `.` become [`ExprKind::Pattern`]s over
//! Unicode scalar values, repetition operators become [`ExprKind::Repeat`];
//! parentheses leave no node of their own. Every node carries the byte
//! [`Span`] of its source text. Errors carry a span and,
//! where there is an obvious fix, a help line.
//!
//! [`ExprKind::Literal`]: crate::ebnf::ExprKind::Literal
//! [`ExprKind::Empty`]: crate::ebnf::ExprKind::Empty
//! [`ExprKind::Pattern`]: crate::ebnf::ExprKind::Pattern
//! [`ExprKind::Repeat`]: crate::ebnf::ExprKind::Repeat
//! [`RuleDef`]: crate::ebnf::RuleDef
//! [`ErrorKind::Unsupported`]: crate::error::ErrorKind::Unsupported
//! [`ErrorKind::Duplicate`]: crate::error::ErrorKind::Duplicate
//! [`ErrorKind::TooLarge`]: crate::error::ErrorKind::TooLarge
//! [`ErrorKind::EmptyLanguage`]: crate::error::ErrorKind::EmptyLanguage

use std::collections::HashMap;

use crate::ebnf::{Ebnf, Lexing, RuleDef};
use crate::error::{ErrorKind, GrammarError};
use crate::span::{Span, line_column};

mod diagnose;
mod leaf;
mod lexer;
#[cfg(test)]
mod tests;
mod tree;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    grammar,
    "/gbnf/grammar.rs"
);

/// Parses GBNF text into EBNF; see the [module documentation](self) for
/// the syntax and how it differs from llama.cpp's.
///
/// # Errors
///
/// A [`GrammarError`] with the span of the first problem: a syntax error
/// ([`ErrorKind::Syntax`]), a token reference ([`ErrorKind::Unsupported`]),
/// a rule defined twice ([`ErrorKind::Duplicate`]), or a minimum count above
/// 2000 or nesting deeper than 256 levels ([`ErrorKind::TooLarge`]).
pub fn parse(text: &str) -> Result<Ebnf, GrammarError> {
    let rules = grammar::RulesParser::new()
        .parse(lexer::Lexer::new(text))
        .map_err(|error| diagnose::parse_error(text, error))?;
    check_unique_names(text, &rules)?;
    Ok(Ebnf { lexing: Lexing::AnySplit, rules, terminals: Vec::new(), ignore: Vec::new(), start: "root".to_owned() })
}

/// Refuses a rule defined twice, pointing at the second definition.
fn check_unique_names(text: &str, rules: &[RuleDef]) -> Result<(), GrammarError> {
    let mut first_definition: HashMap<&str, Span> = HashMap::with_capacity(rules.len());
    for rule in rules {
        if let Some(first) = first_definition.insert(&rule.name, rule.name_span) {
            let line = line_column(text, first.start).line;
            return Err(GrammarError::at(
                ErrorKind::Duplicate,
                rule.name_span,
                format!("rule `{}` is already defined on line {line}", rule.name),
            )
            .with_help(
                "join the two bodies into one rule with `|`, or rename one of them (llama.cpp would silently keep only the last)",
            ));
        }
    }
    Ok(())
}
