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
use crate::error::{ErrorKind, GrammarError};
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

#[derive(Debug)]
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
    /// Where errors about the terminal point: a Lark terminal's definition
    /// or literal; for a terminal made of regular parts (GBNF, regex, JSON
    /// Schema), its counted repetition with the most copies if it has one
    /// (what makes its lexer large), else the rule it comes from.
    pub span: Option<Span>,
}

/// A terminal's regex may be as deep as a chain of inlined rules, and
/// `Hir`'s derived `Clone` recurses (see `hir_walk`).
impl Clone for Terminal {
    fn clone(&self) -> Terminal {
        Terminal {
            name: self.name.clone(),
            hir: crate::hir_walk::deep_clone(&self.hir),
            priority: self.priority,
            literal: self.literal,
            span: self.span,
        }
    }
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

    /// Keeps only the productions whose terminals are all `matchable`
    /// (terminal `t` can be a lexeme iff `matchable[t]`: the lexer knows,
    /// once assertions are taken into account), then only what the start
    /// rule can still use. Terminal ids are kept, so a lexer built for the
    /// terminals stays valid; nonterminals are renumbered. An error if the
    /// language becomes empty.
    pub fn retain_terminals(&mut self, matchable: &[bool]) -> Result<(), GrammarError> {
        let nt_count = self.nonterminals.len();
        let Usefulness { productive, reachable, .. } =
            usefulness(nt_count, &self.productions, self.start, matchable, &self.nonterminals)?;
        let mut map = vec![None; nt_count];
        let mut nonterminals = Vec::new();
        for (index, nonterminal) in self.nonterminals.iter().enumerate() {
            if reachable[index] && productive[index] {
                map[index] = Some(NonterminalId(nonterminals.len() as u32));
                nonterminals.push(nonterminal.clone());
            }
        }
        let mut productions = Vec::new();
        for production in &self.productions {
            let Some(lhs) = map[production.lhs.index()] else { continue };
            let rhs: Option<Vec<Symbol>> = production
                .rhs
                .iter()
                .map(|symbol| match symbol {
                    Symbol::Terminal(t) => matchable[t.index()].then_some(*symbol),
                    Symbol::Nonterminal(n) => map[n.index()].map(Symbol::Nonterminal),
                })
                .collect();
            if let Some(rhs) = rhs {
                productions.push(Production { lhs, rhs });
            }
        }
        self.start = map[self.start.index()].unwrap_or(NonterminalId(0));
        self.nonterminals = nonterminals;
        self.productions = productions;
        Ok(())
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

/// Which nonterminals derive some terminal string (productive), which the
/// start reaches through productive productions, and which terminals those
/// productions use.
pub(crate) struct Usefulness {
    pub productive: Vec<bool>,
    pub reachable: Vec<bool>,
    pub terminal_used: Vec<bool>,
}

pub(crate) fn usefulness(
    nt_count: usize,
    productions: &[Production],
    start: NonterminalId,
    terminal_ok: &[bool],
    nonterminals: &[Nonterminal],
) -> Result<Usefulness, GrammarError> {
    let mut productive = vec![false; nt_count];
    loop {
        let mut changed = false;
        for production in productions {
            if productive[production.lhs.index()] {
                continue;
            }
            let ok = production.rhs.iter().all(|symbol| match symbol {
                Symbol::Terminal(t) => terminal_ok[t.index()],
                Symbol::Nonterminal(n) => productive[n.index()],
            });
            if ok {
                productive[production.lhs.index()] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if !productive[start.index()] {
        let start_nt = &nonterminals[start.index()];
        let mut error = GrammarError::new(
            ErrorKind::EmptyLanguage,
            format!("the grammar accepts no string at all: rule `{}` can never finish", start_nt.name),
        )
        .with_help("every derivation runs forever (e.g. `root ::= root \"a\"` with no other alternative) or uses a pattern that matches nothing");
        if let Some(span) = start_nt.span {
            error = error.with_span(span);
        }
        return Err(error);
    }
    let useful = |production: &Production| {
        productive[production.lhs.index()]
            && production.rhs.iter().all(|symbol| match symbol {
                Symbol::Terminal(t) => terminal_ok[t.index()],
                Symbol::Nonterminal(n) => productive[n.index()],
            })
    };
    let mut by_lhs: Vec<Vec<usize>> = vec![Vec::new(); nt_count];
    for (index, production) in productions.iter().enumerate() {
        by_lhs[production.lhs.index()].push(index);
    }
    let mut reachable = vec![false; nt_count];
    let mut terminal_used = vec![false; terminal_ok.len()];
    reachable[start.index()] = true;
    let mut stack = vec![start];
    while let Some(nt) = stack.pop() {
        for &index in &by_lhs[nt.index()] {
            let production = &productions[index];
            if !useful(production) {
                continue;
            }
            for symbol in &production.rhs {
                match symbol {
                    Symbol::Terminal(t) => terminal_used[t.index()] = true,
                    Symbol::Nonterminal(n) => {
                        if !reachable[n.index()] {
                            reachable[n.index()] = true;
                            stack.push(*n);
                        }
                    }
                }
            }
        }
    }
    Ok(Usefulness { productive, reachable, terminal_used })
}
