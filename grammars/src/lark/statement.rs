//! What the parser produces: one [`Statement`] per definition or
//! directive, with the checks that need no other statement.
//!
//! The grammar's actions call the constructors here; checks that look at
//! several statements (duplicates, imports) are done afterwards, in
//! [`super::assemble`].

use lalrpop_util::ParseError;

use super::lexer::Tok;
use crate::ebnf::{Expr, ExprKind, RuleDef, TerminalDef};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Wraps an error of an action for the parser.
pub(super) fn user(error: GrammarError) -> ParseError<usize, Tok, GrammarError> {
    ParseError::User { error }
}

pub(super) enum Statement {
    Rule(RuleDef),
    Terminal(TerminalDef),
    /// `%ignore expansions`
    Ignore(Expr),
    /// `%import common.NAME [-> ALIAS]` or `%import common (NAME, ...)`.
    Import(Vec<ImportRequest>),
}

/// One name imported from the bundled `common` library.
#[derive(Clone, Debug)]
pub(super) struct ImportRequest {
    /// The name in `common`.
    pub name: String,
    pub name_span: Span,
    /// The name in the importing grammar (the alias, if any).
    pub local: String,
    pub local_span: Span,
}

/// A rule or terminal name as written.
#[derive(Clone, Debug)]
pub(super) struct Name {
    pub text: String,
    pub span: Span,
    pub terminal: bool,
}

/// One top-level alternative of a definition, with its alias (`-> name`).
pub(super) struct Alternative {
    pub expr: Expr,
    pub alias: Option<Name>,
}

/// `?` (inline) or `!` (keep tokens) before a rule name.
pub(super) struct Modifier {
    pub symbol: char,
    pub span: Span,
}

/// `name.priority: alternatives` for a rule or a terminal.
///
/// Rule modifiers, rule priorities and aliases shape lark's parse tree or
/// its Earley disambiguation, not the language: they are checked and
/// dropped. A terminal's priority is kept for the lexer.
pub(super) fn definition(
    modifiers: Vec<Modifier>,
    name: Name,
    priority: Option<(i64, Span)>,
    alternatives: Vec<Alternative>,
    body_span: Span,
) -> Result<Statement, GrammarError> {
    let mut aliases = alternatives.iter().filter_map(|alternative| alternative.alias.as_ref());
    if name.terminal {
        if let Some(modifier) = modifiers.first() {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                modifier.span,
                format!("`{}` modifies rules; terminal `{}` cannot take it", modifier.symbol, name.text),
            ));
        }
        if let Some(alias) = aliases.next() {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                alias.span,
                format!("aliases are not allowed in terminals (in terminal `{}`)", name.text),
            )
            .with_help("an alias names a parse-tree node, so only rule alternatives can have one"));
        }
        let priority = match priority {
            None => 0,
            Some((value, span)) => i32::try_from(value).map_err(|_| {
                GrammarError::at(ErrorKind::Syntax, span, format!("the priority {value} is out of range"))
            })?,
        };
        let body = alternation(alternatives, body_span);
        return Ok(Statement::Terminal(TerminalDef { name: name.text, name_span: name.span, priority, body }));
    }
    for (i, modifier) in modifiers.iter().enumerate() {
        if modifiers.iter().take(i).any(|earlier| earlier.symbol == modifier.symbol) {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                modifier.span,
                format!("the rule modifier `{}` is repeated", modifier.symbol),
            ));
        }
    }
    if let Some(alias) = aliases.find(|alias| alias.terminal) {
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            alias.span,
            format!("an alias must be a rule name (lowercase), not `{}`", alias.text),
        ));
    }
    let body = alternation(alternatives, body_span);
    Ok(Statement::Rule(RuleDef { name: name.text, name_span: name.span, body }))
}

fn alternation(alternatives: Vec<Alternative>, span: Span) -> Expr {
    alternatives_expr(alternatives.into_iter().map(|alternative| alternative.expr).collect(), span)
}

/// `a | b | c`; a single alternative is itself.
pub(super) fn alternatives_expr(mut alternatives: Vec<Expr>, span: Span) -> Expr {
    if alternatives.len() == 1
        && let Some(only) = alternatives.pop()
    {
        return only;
    }
    Expr::new(ExprKind::Alt(alternatives), span)
}

/// `a b c`; a single item is itself, none is the empty string.
pub(super) fn sequence(mut items: Vec<Expr>, span: Span) -> Expr {
    match items.len() {
        0 => Expr::new(ExprKind::Empty, span),
        1 => items.pop().unwrap_or_else(|| Expr::new(ExprKind::Empty, span)),
        _ => Expr::new(ExprKind::Seq(items), span),
    }
}

pub(super) fn repeat(expr: Expr, min: u32, max: Option<u32>, span: Span) -> Expr {
    Expr::new(ExprKind::Repeat { expr: Box::new(expr), min, max }, span)
}

/// `item ~ min` or `item ~ min..max`.
pub(super) fn counted(
    expr: Expr,
    min: (i64, Span),
    max: Option<(i64, Span)>,
    span: Span,
) -> Result<Expr, GrammarError> {
    let count = |(value, span): (i64, Span)| {
        u32::try_from(value).map_err(|_| {
            GrammarError::at(
                ErrorKind::Syntax,
                span,
                format!("a repetition count must be between 0 and {}, not {value}", u32::MAX),
            )
        })
    };
    let low = count(min)?;
    let high = match max {
        None => low,
        Some(max) => count(max)?,
    };
    if high < low {
        return Err(GrammarError::at(ErrorKind::Syntax, span, format!("the repetition range {low}..{high} is empty"))
            .with_help("write the smaller count first"));
    }
    Ok(repeat(expr, low, Some(high), span))
}

/// The library and names of an import, as written.
pub(super) struct ImportPath {
    /// The span of a leading `.` (a relative import).
    pub relative: Option<Span>,
    pub names: Vec<Name>,
}

impl ImportPath {
    fn span(&self) -> Span {
        let start = self.relative.or(self.names.first().map(|name| name.span));
        let end = self.names.last().map(|name| name.span);
        match (start, end) {
            (Some(start), Some(end)) => start.to(end),
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => Span::default(),
        }
    }

    /// Checks that `library` names the bundled `common` library.
    fn check_library(&self, library: &[Name]) -> Result<(), GrammarError> {
        let span = self.span();
        if self.relative.is_some() {
            return Err(GrammarError::at(
                ErrorKind::Unsupported,
                span,
                "relative imports (`%import .grammar...`) are not supported",
            )
            .with_help("Trellis reads no other grammar files; it can import only from its bundled `common`"));
        }
        let path: Vec<&str> = library.iter().map(|name| name.text.as_str()).collect();
        if path != ["common"] {
            let span = match (library.first(), library.last()) {
                (Some(first), Some(last)) => first.span.to(last.span),
                _ => span,
            };
            return Err(GrammarError::at(
                ErrorKind::Unsupported,
                span,
                format!("cannot import from `{}`", path.join(".")),
            )
            .with_help("Trellis reads no other grammar files; it can import only from its bundled `common`"));
        }
        Ok(())
    }
}

/// `%import path.NAME` or `%import path.NAME -> ALIAS`.
pub(super) fn import_one(path: ImportPath, alias: Option<Name>) -> Result<Statement, GrammarError> {
    let Some((name, library)) = path.names.split_last() else {
        return Err(GrammarError::at(ErrorKind::Syntax, path.span(), "nothing to import"));
    };
    if library.is_empty() && path.relative.is_none() {
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            path.span(),
            format!("nothing is imported from `{}`", name.text),
        )
        .with_help(format!("write `%import {0}.NAME` or `%import {0} (NAME, ...)`", name.text)));
    }
    path.check_library(library)?;
    let request = request(name, alias.as_ref())?;
    Ok(Statement::Import(vec![request]))
}

/// `%import path (NAME, NAME, ...)`.
pub(super) fn import_many(path: ImportPath, names: Vec<Name>) -> Result<Statement, GrammarError> {
    path.check_library(&path.names)?;
    let requests = names.iter().map(|name| request(name, None)).collect::<Result<_, _>>()?;
    Ok(Statement::Import(requests))
}

fn request(name: &Name, alias: Option<&Name>) -> Result<ImportRequest, GrammarError> {
    let local = alias.unwrap_or(name);
    if local.terminal != name.terminal {
        let (what, case) = if name.terminal { ("a terminal", "uppercase") } else { ("a rule", "lowercase") };
        return Err(GrammarError::at(
            ErrorKind::Syntax,
            local.span,
            format!("`{}` is {what}, so its alias must be {case}, not `{}`", name.text, local.text),
        ));
    }
    Ok(ImportRequest {
        name: name.text.clone(),
        name_span: name.span,
        local: local.text.clone(),
        local_span: local.span,
    })
}
