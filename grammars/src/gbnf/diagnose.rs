//! Turning the LR parser's errors into messages people understand.
//!
//! lalrpop reports the token it could not use and the terminals it would
//! have accepted. From that set we can tell where in a rule the parser was
//! (at a rule's start, after its name, in its body, inside `{...}`), which
//! says what to ask for; the found token and the text around it suggest the
//! usual fixes.

use lalrpop_util::ParseError;

use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

use super::lexer::{Tok, is_name_char};

/// What the parser would have accepted, by the terminal names of
/// `grammar.lalrpop`.
struct Expected {
    name: bool,
    define: bool,
    item: bool,
    pipe: bool,
    close_paren: bool,
    newline: bool,
    count: bool,
    comma: bool,
    close_brace: bool,
}

impl Expected {
    fn new(terminals: &[String]) -> Expected {
        let has = |terminal: &str| terminals.iter().any(|t| t == terminal);
        Expected {
            name: has("Name"),
            define: has("\"::=\""),
            item: has("Leaf") || has("\"(\""),
            pipe: has("\"|\""),
            close_paren: has("\")\""),
            newline: has("Newline"),
            count: has("Int"),
            comma: has("\",\""),
            close_brace: has("\"}\""),
        }
    }

    /// The accepted terminals in words, e.g. "`,` or `}`".
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.item {
            parts.push("an expression");
        } else if self.name {
            parts.push("a rule name");
        }
        if self.define {
            parts.push("`::=`");
        }
        if self.count {
            parts.push("a number");
        }
        if self.comma {
            parts.push("`,`");
        }
        if self.close_brace {
            parts.push("`}`");
        }
        if self.pipe {
            parts.push("`|`");
        }
        if self.close_paren {
            parts.push("`)`");
        }
        if self.newline {
            parts.push("a newline");
            parts.push("the end of the input");
        }
        match parts.split_last() {
            None => "nothing more".to_owned(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }
}

/// The token the parser could not use.
struct Found<'input> {
    /// `None` at the end of the input.
    token: Option<Tok<'input>>,
    span: Span,
}

impl Found<'_> {
    fn describe(&self, text: &str) -> String {
        match &self.token {
            None => "the end of the input".to_owned(),
            Some(Tok::Newline) => "a newline".to_owned(),
            Some(Tok::Other(c)) => format!("`{}`", c.escape_debug()),
            Some(_) => {
                let source = text.get(self.span.start..self.span.end).unwrap_or("");
                let first_line = source.lines().next().unwrap_or("");
                let shown: String = first_line.chars().take(32).collect();
                if shown.len() < source.len() { format!("`{shown}…`") } else { format!("`{shown}`") }
            }
        }
    }

    fn is_repetition(&self) -> bool {
        matches!(self.token, Some(Tok::Star | Tok::Plus | Tok::Question | Tok::LBrace))
    }
}

/// Maps an error of the generated parser to a [`GrammarError`].
pub(super) fn parse_error(text: &str, error: ParseError<usize, Tok<'_>, GrammarError>) -> GrammarError {
    let (found, expected) = match error {
        ParseError::User { error } => return error,
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => {
            (Found { token: Some(token), span: Span::new(start, end) }, expected)
        }
        ParseError::UnrecognizedEof { location, expected } => {
            (Found { token: None, span: Span::new(location, location) }, expected)
        }
        ParseError::ExtraToken { token: (start, token, end) } => {
            (Found { token: Some(token), span: Span::new(start, end) }, Vec::new())
        }
        // The lexer is ours and reports its own errors as `User`.
        ParseError::InvalidToken { location } => {
            (Found { token: None, span: Span::new(location, location) }, Vec::new())
        }
    };
    unexpected(text, &found, &Expected::new(&expected))
}

fn unexpected(text: &str, found: &Found<'_>, expected: &Expected) -> GrammarError {
    let found_text = found.describe(text);
    let at = |message: String| GrammarError::at(ErrorKind::Syntax, found.span, message);
    let error = if expected.define {
        let error = at(format!("expected `::=` after the rule name, found {found_text}"));
        match found.token {
            Some(Tok::Newline) => error.with_help("`::=` must be on the same line as the rule name"),
            Some(Tok::Other(':' | '=')) => error.with_help("GBNF defines a rule with `::=`: `name ::= ...`"),
            _ => error,
        }
    } else if expected.name && !expected.item {
        let error = at(format!("expected a rule name, found {found_text}"));
        match found.token {
            Some(Tok::Pipe) => error.with_help(
                "a line cannot start with `|`: a rule continues onto the next line only after a `|` at the end of a line, or inside parentheses",
            ),
            _ => error,
        }
    } else if expected.count {
        let error = at(format!("expected {}, found {found_text}", expected.describe()));
        match found.token {
            Some(Tok::Comma) => error.with_help("a repetition needs its minimum count: write `{0,n}` for at most n"),
            _ => error,
        }
    } else if expected.comma || expected.close_brace {
        let error = at(format!("expected {}, found {found_text}", expected.describe()));
        match found.token {
            Some(Tok::Newline) => error.with_help(
                "a newline ends the rule here: write the repetition on one line, or put the item and its repetition inside parentheses",
            ),
            _ => error,
        }
    } else if expected.item && found.is_repetition() {
        at(format!("expected an expression before {found_text}, found nothing to repeat")).with_help(
            "`*`, `+`, `?` and `{m,n}` repeat the item right before them; write `\"*\"` to match the character",
        )
    } else if expected.newline {
        let error = at(format!("expected a newline or the end of the input after the rule, found {found_text}"));
        match found.token {
            Some(Tok::Define) => error.with_help(
                "each rule must start on a line of its own, and a newline right after `::=` or `|` does not end a rule: write an empty body or alternative as `\"\"`",
            ),
            _ => error,
        }
    } else {
        at(format!("expected {}, found {found_text}", expected.describe()))
    };
    add_general_help(text, found, expected, error)
}

/// Help that depends less on the context, for errors that have none yet:
/// a `_` in a name, or a rule's line that seems meant to continue the one
/// above.
fn add_general_help(text: &str, found: &Found<'_>, expected: &Expected, error: GrammarError) -> GrammarError {
    if error.help.is_some() {
        return error;
    }
    if let Some(Tok::Other('_')) = found.token {
        let word_char = |c: char| is_name_char(c) || c == '_';
        let start = text[..found.span.start].trim_end_matches(word_char).len();
        let end = text[found.span.start..].find(|c| !word_char(c)).map_or(text.len(), |i| found.span.start + i);
        let word = &text[start..end];
        return error.with_help(format!(
            "GBNF rule names may use letters, digits and '-', not '_': write `{}` instead of `{word}`",
            word.replace('_', "-"),
        ));
    }
    let at_rule_start = expected.define || (expected.name && !expected.item);
    if at_rule_start && line_is_indented(text, found.span.start) && !matches!(found.token, Some(Tok::Newline) | None) {
        return error.with_help(
            "a rule ends at the end of its line, unless the line ends with `|` or a `(` is still open: wrap a sequence that spans several lines in parentheses",
        );
    }
    error
}

/// Whether the line holding byte `offset` starts with a space or a tab: a
/// hint that it was meant to continue the rule above.
fn line_is_indented(text: &str, offset: usize) -> bool {
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind(['\r', '\n']).map_or(0, |i| i + 1);
    text[line_start..].starts_with([' ', '\t'])
}
