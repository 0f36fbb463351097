//! `%import common...`: terminals from Trellis's bundled `common` library
//! (`common.lark`, read by this front-end itself).
//!
//! As in lark, all the imports of a grammar are gathered first; then each
//! imported terminal is defined under its local name (the alias, if any),
//! together with every terminal it uses. Those dependencies are named as
//! lark names them, `common__NAME` (`_common__NAME` for `_NAME`), unless the
//! grammar imports them itself, in which case references use its local
//! name. A dependency name cannot clash with the grammar's own names: it
//! mixes cases, which no rule or terminal name may.

use std::collections::{HashSet, VecDeque};
use std::sync::OnceLock;

use super::statement::{ImportRequest, Statement};
use crate::ebnf::{Expr, ExprKind, TerminalDef};
use crate::error::{ErrorKind, GrammarError};
use crate::span::{Span, line_column};

const COMMON: &str = include_str!("common.lark");

/// Lark's `common` helpers that rely on lazy matching and look-behind, and
/// so have no context-free equivalent here.
const LAZY_HELPERS: &[&str] = &["_STRING_INNER", "_STRING_ESC_INNER"];

struct Library {
    terminals: Vec<TerminalDef>,
}

impl Library {
    fn get(&self, name: &str) -> Option<&TerminalDef> {
        self.terminals.iter().find(|terminal| terminal.name == name)
    }
}

fn library() -> Result<&'static Library, GrammarError> {
    static LIBRARY: OnceLock<Result<Library, GrammarError>> = OnceLock::new();
    LIBRARY.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Library, GrammarError> {
    let broken = |message: String| {
        GrammarError::new(ErrorKind::Syntax, format!("the bundled `common` library is broken: {message}"))
    };
    let statements = super::parse_statements(COMMON, false).map_err(|err| broken(err.message))?;
    let mut terminals = Vec::new();
    for statement in statements {
        match statement {
            Statement::Terminal(terminal) => terminals.push(terminal),
            _ => return Err(broken("it may only define terminals".to_string())),
        }
    }
    Ok(Library { terminals })
}

/// The imports of one grammar.
#[derive(Default)]
pub(super) struct Imports {
    requests: Vec<ImportRequest>,
}

impl Imports {
    /// Records one import. Returns whether it defines a new local name:
    /// importing the same name under the same local name again changes
    /// nothing. `text` is the grammar, for line numbers in messages.
    pub(super) fn add(&mut self, request: ImportRequest, text: &str) -> Result<bool, GrammarError> {
        let library = library()?;
        if library.get(&request.name).is_none() {
            return Err(not_in_library(library, &request));
        }
        if let Some(earlier) = self.requests.iter().find(|earlier| earlier.name == request.name) {
            if earlier.local == request.local {
                return Ok(false);
            }
            let line = line_column(text, earlier.local_span.start).line;
            return Err(GrammarError::at(
                ErrorKind::Duplicate,
                request.local_span,
                format!("`common.{}` is already imported as `{}` on line {line}", request.name, earlier.local),
            )
            .with_help("import it under one name"));
        }
        self.requests.push(request);
        Ok(true)
    }

    /// The terminal definitions the imports bring in: each imported
    /// terminal, then the terminals they use. Their spans all point at the
    /// import that brought them in, since their own text is not in the
    /// grammar.
    pub(super) fn definitions(self) -> Result<Vec<TerminalDef>, GrammarError> {
        if self.requests.is_empty() {
            return Ok(Vec::new());
        }
        let library = library()?;
        let local_name = |name: &str| match self.requests.iter().find(|request| request.name == name) {
            Some(request) => request.local.clone(),
            None => mangle(name),
        };
        let mut queue: VecDeque<(String, Span)> =
            self.requests.iter().map(|request| (request.name.clone(), request.name_span)).collect();
        let mut seen = HashSet::new();
        let mut definitions = Vec::new();
        while let Some((name, span)) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            // Every reference in `common.lark` is defined there (a unit
            // test checks it), so a miss cannot happen; skipping keeps the
            // function total, and lowering would report the reference.
            let Some(original) = library.get(&name) else {
                continue;
            };
            let mut body = original.body.clone();
            let mut uses = Vec::new();
            rewrite(&mut body, span, &local_name, &mut uses);
            queue.extend(uses.into_iter().map(|used| (used, span)));
            definitions.push(TerminalDef {
                name: local_name(&name),
                name_span: span,
                priority: original.priority,
                body,
            });
        }
        Ok(definitions)
    }
}

/// Lark's name for a terminal of `common` that the grammar did not import
/// itself.
fn mangle(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(rest) => format!("_common__{rest}"),
        None => format!("common__{name}"),
    }
}

/// Renames the references in an imported body to their local names
/// (collecting the original names in `uses`) and moves all spans to `span`.
fn rewrite(expr: &mut Expr, span: Span, local_name: &dyn Fn(&str) -> String, uses: &mut Vec<String>) {
    expr.span = span;
    match &mut expr.kind {
        ExprKind::Ref(name) => {
            uses.push(name.clone());
            *name = local_name(name);
        }
        ExprKind::Seq(items) | ExprKind::Alt(items) => {
            for item in items {
                rewrite(item, span, local_name, uses);
            }
        }
        ExprKind::Repeat { expr, .. } => rewrite(expr, span, local_name, uses),
        ExprKind::Empty | ExprKind::Literal { .. } | ExprKind::Pattern(_) => {}
    }
}

fn not_in_library(library: &Library, request: &ImportRequest) -> GrammarError {
    let err = GrammarError::at(
        ErrorKind::Undefined,
        request.name_span,
        format!("the `common` library has no `{}`", request.name),
    );
    if LAZY_HELPERS.contains(&request.name.as_str()) {
        return err.with_help(format!(
            r"lark's `{}` relies on lazy matching and look-behind; write the whole string as one regex instead, e.g. /'([^'\\\n]|\\[^\n])*'/",
            request.name
        ));
    }
    let available: Vec<&str> =
        library.terminals.iter().map(|terminal| terminal.name.as_str()).filter(|name| !name.starts_with('_')).collect();
    err.with_help(format!("it defines {}", available.join(", ")))
}
