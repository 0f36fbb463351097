//! The surface-neutral EBNF that every grammar format parses into.
//!
//! A front-end (GBNF, Lark) turns text into an [`Ebnf`]: named rules whose
//! bodies are expressions over rule references, terminal references and
//! *leaves* (literal strings and regular-expression leaves such as character
//! classes), plus — for formats with a lexer — named terminal definitions and
//! an ignore list. Names are resolved and checked later, by
//! lowering, which turns an `Ebnf` into the BNF [`crate::ir`].
//!
//! Every node carries the [`Span`] of the source text it came from, so that
//! errors found after parsing still point at the right place.

use regex_syntax::hir::Hir;

use crate::span::Span;

/// A grammar as written, before names are resolved.
#[derive(Clone, Debug)]
pub struct Ebnf {
    /// How the text is split into lexemes; fixed by the format.
    pub lexing: Lexing,
    /// Parser rules, in source order.
    pub rules: Vec<RuleDef>,
    /// Named terminal definitions, in source order (Lark's `NAME: ...`;
    /// empty for GBNF).
    pub terminals: Vec<TerminalDef>,
    /// Terminals skipped between lexemes (Lark's `%ignore`): each is an
    /// expression, usually a single [`ExprKind::Ref`] to a terminal.
    pub ignore: Vec<Expr>,
    /// The start rule's name (`root` for GBNF, `start` for Lark).
    pub start: String,
}

/// How input text is divided into lexemes before the parser sees terminals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lexing {
    /// No lexer: the grammar is a context-free grammar over characters, and
    /// terminals are just regular pieces of it. Any split of the text into
    /// terminal matches that the rules allow is accepted (GBNF, regex).
    AnySplit,
    /// A contextual, greedy lexer (Lark): a lexeme ends exactly where the
    /// next byte cannot continue any terminal the parser could accept there
    /// (or an ignored one), so each lexeme is a longest match. See the
    /// crate documentation for the exact rule.
    Greedy,
}

/// `name: body` — a parser rule (a nonterminal).
#[derive(Clone, Debug)]
pub struct RuleDef {
    pub name: String,
    /// Span of the name at its definition.
    pub name_span: Span,
    pub body: Expr,
}

/// `NAME.priority: body` — a named terminal. Its body must be regular:
/// leaves, references to other terminals, and the regular operators.
#[derive(Clone, Debug)]
pub struct TerminalDef {
    pub name: String,
    pub name_span: Span,
    /// Lexing priority: on a tie between terminals matching the same
    /// lexeme, the higher priority wins. Lark's default is 0.
    pub priority: i32,
    pub body: Expr,
}

/// An expression with the span of its source text.
#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// The empty string.
    Empty,
    /// A reference to a rule or a terminal, by name.
    Ref(String),
    /// A literal string, matched as its UTF-8 bytes.
    Literal { value: String, case_insensitive: bool },
    /// A regular-expression leaf: a character class, `.`, a Lark `/regex/`
    /// or `"a".."z"` range. It may match the empty string; lowering takes
    /// care of that.
    Pattern(Hir),
    /// `a b c`
    Seq(Vec<Expr>),
    /// `a | b | c`
    Alt(Vec<Expr>),
    /// `e*` is `{0, None}`, `e+` is `{1, None}`, `e?` is `{0, Some(1)}`,
    /// `e{m,n}` is `{m, Some(n)}`.
    Repeat { expr: Box<Expr>, min: u32, max: Option<u32> },
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}
