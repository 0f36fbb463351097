//! Errors for grammars that cannot be compiled: what went wrong, where, and
//! when possible how to fix it.

use std::fmt;

use crate::span::{Span, excerpt, line_column};

/// What kind of problem a [`GrammarError`] reports. Callers match on this;
/// the message is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The grammar text does not follow its format's syntax.
    Syntax,
    /// A rule or terminal is used but never defined.
    Undefined,
    /// A rule or terminal is defined twice.
    Duplicate,
    /// A regular expression (a terminal, a character class, a regex
    /// constraint) is malformed or uses a feature Trellis cannot compile.
    Regex,
    /// The grammar is well-formed but uses a construct Trellis does not
    /// support.
    Unsupported,
    /// The constraint's language is empty, or a rule can never produce a
    /// finite string.
    EmptyLanguage,
    /// Compiling would exceed a configured size limit.
    TooLarge,
    /// An I/O problem while reading a grammar.
    Io,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Undefined => "undefined name",
            ErrorKind::Duplicate => "duplicate definition",
            ErrorKind::Regex => "invalid regular expression",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::EmptyLanguage => "empty language",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Io => "i/o error",
        }
    }
}

/// An error in a grammar, with the span of source text it is about.
///
/// `Display` gives a one-line message; [`GrammarError::render`] gives the
/// full report with `line:column`, the source line and a caret under the
/// span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarError {
    pub kind: ErrorKind,
    pub message: String,
    pub span: Option<Span>,
    /// A hint on how to fix it, when there is one.
    pub help: Option<String>,
}

impl GrammarError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> GrammarError {
        GrammarError { kind, message: message.into(), span: None, help: None }
    }

    pub fn at(kind: ErrorKind, span: Span, message: impl Into<String>) -> GrammarError {
        GrammarError { kind, message: message.into(), span: Some(span), help: None }
    }

    pub fn with_span(mut self, span: Span) -> GrammarError {
        self.span = Some(span);
        self
    }

    /// Sets the span only if the error has none yet (inner errors know
    /// better where they are than the caller that wraps them).
    pub fn or_span(mut self, span: Span) -> GrammarError {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> GrammarError {
        self.help = Some(help.into());
        self
    }

    /// The full report for people: `origin:line:column: kind: message`, then
    /// the excerpt with a caret and the help line, if any. `origin` is a file
    /// name or something like `<grammar-text>`; `source` is the grammar text
    /// the span refers to.
    pub fn render(&self, origin: &str, source: &str) -> String {
        let mut out = String::new();
        match self.span {
            Some(span) => {
                let at = line_column(source, span.start);
                out.push_str(&format!(
                    "{origin}:{at}: {}: {}\n{}",
                    self.kind.label(),
                    self.message,
                    excerpt(source, span)
                ));
            }
            None => out.push_str(&format!("{origin}: {}: {}", self.kind.label(), self.message)),
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("\n  = help: {help}"));
        }
        out
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

impl std::error::Error for GrammarError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_points_at_the_span() {
        let source = "root ::= x\n";
        let err = GrammarError::at(ErrorKind::Undefined, Span::new(9, 10), "rule `x` is not defined")
            .with_help("define it with `x ::= ...`");
        assert_eq!(
            err.render("g.gbnf", source),
            "g.gbnf:1:10: undefined name: rule `x` is not defined\n  |\n1 | root ::= x\n  |          ^\n  = help: define it with `x ::= ...`"
        );
    }

    #[test]
    fn render_of_a_long_line_stays_short_and_exact() {
        let source = format!("{}é{}", "(".repeat(99_998), ")".repeat(2));
        let at = source.len() - 1;
        let err = GrammarError::at(ErrorKind::Regex, Span::new(at, at + 1), "unopened group");
        let report = err.render("r.regex", &source);
        // The column counts characters of the whole line, not of the excerpt.
        assert!(report.starts_with("r.regex:1:100001: invalid regular expression: unopened group\n"), "{report}");
        assert!(report.len() < 400, "{} bytes: {report}", report.len());
        assert!(report.contains("1 | …(((((") && report.contains("(é))\n"), "{report}");
        assert!(report.ends_with(" ^"), "{report}");
    }
}
