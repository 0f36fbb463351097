//! The intermediate representation every format lowers into: a BNF grammar
//! whose terminals are byte-level regular expressions.
//!
//! * Terminals are [`Hir`]s (regex-syntax's high-level IR), compiled together
//!   into one multi-pattern DFA. A terminal matches the **non-empty** strings
//!   of its regex's language: lexemes are never empty. Where a format allows
//!   an empty match, lowering adds an empty alternative in the productions.
//! * Productions are plain BNF: a left-hand nonterminal and a sequence of
//!   symbols (possibly empty). EBNF operators have been expanded.
//! * `ignore` lists terminals the lexer may match between any two lexemes
//!   and drops (Lark's `%ignore`).
//!
//! The IR knows nothing about tokens or models.

use std::fmt;

use regex_syntax::hir::Hir;

use crate::ebnf::Lexing;
use crate::span::Span;

/// Index of a terminal in [`Grammar::terminals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalId(pub u32);

/// Index of a nonterminal in [`Grammar::nonterminals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonterminalId(pub u32);

impl TerminalId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NonterminalId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    Terminal(TerminalId),
    Nonterminal(NonterminalId),
}

/// A lowered grammar, ready to compile.
#[derive(Clone, Debug)]
pub struct Grammar {
    pub lexing: Lexing,
    pub terminals: Vec<Terminal>,
    pub nonterminals: Vec<Nonterminal>,
    pub productions: Vec<Production>,
    pub start: NonterminalId,
    pub ignore: Vec<TerminalId>,
}

#[derive(Clone, Debug)]
pub struct Terminal {
    /// A name for people: the source name (`NUMBER`), the literal (`"{"`),
    /// or for terminals made from the regular parts of a GBNF rule, the
    /// rule's name and a counter (`object#2`).
    pub name: String,
    /// The terminal's language (minus the empty string, see the module
    /// docs).
    pub hir: Hir,
    /// Lexing priority; higher wins a tie between terminals matching the
    /// same lexeme.
    pub priority: i32,
    /// Whether the terminal is a literal string (Lark prefers literals over
    /// patterns when both match the same lexeme).
    pub literal: bool,
    pub span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct Nonterminal {
    pub name: String,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Production {
    pub lhs: NonterminalId,
    pub rhs: Vec<Symbol>,
}

impl Grammar {
    pub fn terminal(&self, id: TerminalId) -> &Terminal {
        &self.terminals[id.index()]
    }

    pub fn nonterminal(&self, id: NonterminalId) -> &Nonterminal {
        &self.nonterminals[id.index()]
    }

    /// The name of a symbol, for people.
    pub fn symbol_name(&self, symbol: Symbol) -> &str {
        match symbol {
            Symbol::Terminal(t) => &self.terminal(t).name,
            Symbol::Nonterminal(n) => &self.nonterminal(n).name,
        }
    }

    /// A production written out, e.g. `object → "{" members "}"`.
    pub fn production_text(&self, index: usize) -> String {
        let production = &self.productions[index];
        let mut out = format!("{} →", self.nonterminal(production.lhs).name);
        if production.rhs.is_empty() {
            out.push_str(" ε");
        }
        for &symbol in &production.rhs {
            out.push(' ');
            out.push_str(self.symbol_name(symbol));
        }
        out
    }
}

impl fmt::Display for Grammar {
    /// Writes the grammar in a BNF-like notation, terminals first. Meant for
    /// `--explain` and debugging, not for parsing back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for terminal in &self.terminals {
            writeln!(f, "{} = /{}/", terminal.name, terminal.hir)?;
        }
        for &ignored in &self.ignore {
            writeln!(f, "%ignore {}", self.terminal(ignored).name)?;
        }
        for index in 0..self.productions.len() {
            writeln!(f, "{}", self.production_text(index))?;
        }
        Ok(())
    }
}
