//! Building EBNF expressions from the parser's pieces, with a bound on how
//! deeply they nest.
//!
//! The LR parser keeps its stack on the heap, so deep input cannot overflow
//! it; but the expression tree it builds is walked recursively afterwards
//! (by `Drop`, by lowering), so its depth is bounded here, where each node
//! is made.

use crate::ebnf::{Expr, ExprKind};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// The deepest expression tree a GBNF grammar may build. Each sequence of
/// several items, each alternation and each repetition operator adds a
/// level; parentheses alone add none.
///
/// Hand-written and generated grammars nest a few dozen levels at most. The
/// bound is set by what comes after parsing: lowering walks the tree
/// recursively, and in a debug build on a 2 MiB test thread it ran out of
/// stack between 400 and 450 levels, so 256 leaves a margin.
pub(crate) const MAX_DEPTH: u32 = 256;

/// llama.cpp's `MAX_REPETITION_THRESHOLD`: a larger minimum count is
/// refused, a larger maximum count means "unbounded".
pub(crate) const MAX_REPETITION: u64 = 2000;

/// An expression and the depth of its tree (a leaf is 1).
pub(crate) struct Node {
    pub expr: Expr,
    depth: u32,
}

impl Node {
    pub(crate) fn leaf(kind: ExprKind, span: Span) -> Node {
        Node { expr: Expr::new(kind, span), depth: 1 }
    }

    /// The empty sequence, at byte offset `at`.
    pub(crate) fn empty(at: usize) -> Node {
        Node::leaf(ExprKind::Empty, Span::new(at, at))
    }

    /// `a b c`; a sequence of one item is the item.
    pub(crate) fn seq(items: Vec<Node>, span: Span) -> Result<Node, GrammarError> {
        Node::combine(items, span, ExprKind::Seq)
    }

    /// `a | b | c`; one alternative is just itself.
    pub(crate) fn alt(alternatives: Vec<Node>, span: Span) -> Result<Node, GrammarError> {
        Node::combine(alternatives, span, ExprKind::Alt)
    }

    fn combine(mut parts: Vec<Node>, span: Span, make: fn(Vec<Expr>) -> ExprKind) -> Result<Node, GrammarError> {
        if parts.len() == 1
            && let Some(only) = parts.pop()
        {
            return Ok(only);
        }
        let depth = parts.iter().map(|part| part.depth).max().unwrap_or(0) + 1;
        let exprs = parts.into_iter().map(|part| part.expr).collect();
        Node::checked(make(exprs), span, depth)
    }

    /// `inner*`, `inner+`, `inner?`, `inner{m,n}`.
    pub(crate) fn repeat(inner: Node, counts: Repetition, span: Span) -> Result<Node, GrammarError> {
        let depth = inner.depth + 1;
        let kind = ExprKind::Repeat { expr: Box::new(inner.expr), min: counts.min, max: counts.max };
        Node::checked(kind, span, depth)
    }

    fn checked(kind: ExprKind, span: Span, depth: u32) -> Result<Node, GrammarError> {
        if depth > MAX_DEPTH {
            return Err(GrammarError::at(
                ErrorKind::TooLarge,
                span,
                format!(
                    "this expression nests more than {MAX_DEPTH} levels deep (sequences, alternatives and repetitions inside one another)"
                ),
            )
            .with_help("split it into several rules"));
        }
        Ok(Node { expr: Expr::new(kind, span), depth })
    }
}

/// The counts of a repetition operator, as [`ExprKind::Repeat`] takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Repetition {
    pub min: u32,
    pub max: Option<u32>,
}

impl Repetition {
    pub(crate) const STAR: Repetition = Repetition { min: 0, max: None };
    pub(crate) const PLUS: Repetition = Repetition { min: 1, max: None };
    pub(crate) const OPTIONAL: Repetition = Repetition { min: 0, max: Some(1) };

    /// `{min}` (then `max == Some(min)`), `{min,}` (`None`) or `{min,max}`,
    /// with llama.cpp's limits: a minimum above [`MAX_REPETITION`] is an
    /// error, a maximum above it means no maximum.
    pub(crate) fn counted(min: u64, max: Option<u64>, span: Span) -> Result<Repetition, GrammarError> {
        if min > MAX_REPETITION {
            return Err(GrammarError::at(
                ErrorKind::TooLarge,
                span,
                format!("the minimum count {min} is more than GBNF allows ({MAX_REPETITION})"),
            )
            .with_help("llama.cpp refuses it too; nest repetitions instead, e.g. `(x{100}){30}` for 3000"));
        }
        let max = max.filter(|&max| max <= MAX_REPETITION);
        if let Some(max) = max
            && min > max
        {
            return Err(GrammarError::at(
                ErrorKind::Syntax,
                span,
                format!("the minimum count {min} is more than the maximum count {max}"),
            )
            .with_help(format!("write `{{{max},{min}}}`")));
        }
        // Both are at most MAX_REPETITION, so they fit in a u32.
        let narrow = |count: u64| u32::try_from(count).unwrap_or(u32::MAX);
        Ok(Repetition { min: narrow(min), max: max.map(narrow) })
    }
}
