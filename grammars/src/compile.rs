//! The pipeline, top to bottom: EBNF → IR → lexer → LR(1) tables →
//! [`CompiledGrammar`].
//!
//! 1. **Lower** the EBNF to BNF over regex terminals ([`crate::lower`]).
//!    When the language comes out empty because every way through the
//!    start rule needs a leaf that matches nothing (`[^\x00-\U0010FFFF]`,
//!    a class of surrogates), the error points at that leaf rather than at
//!    the start rule: the EBNF still has the spans lowering has dropped.
//! 2. **Lex**: compile every terminal into one lexer DFA
//!    ([`crate::lexer`]).
//! 3. **Prune**: a terminal whose regex only matches the empty string, or
//!    nothing once assertions are evaluated, can never be a lexeme; the
//!    lexer knows which, and [`Grammar::retain_terminals`] drops the
//!    productions that use one (terminal ids stay, so the lexer stays valid).
//! 4. **Parse tables**: canonical LR(1), merged ([`crate::lr`]). With
//!    conflicts, the conflicts are explained for `--explain` and the tables
//!    are rebuilt from an ε-free copy of the grammar for the GLR driver.
//! 5. **Assemble** the runtime tables ([`crate::tables`]).

use hashbrown::HashMap;
use regex_syntax::hir::Hir;

use crate::bitset;
use crate::config::Config;
use crate::ebnf::{Ebnf, Expr, ExprKind};
use crate::error::{ErrorKind, GrammarError};
use crate::ir::Grammar;
use crate::lexer::LexerDfa;
use crate::lower::{lower_with, matches_nothing};
use crate::lr;
use crate::span::Span;
use crate::tables::{CompiledGrammar, Driver, Parser, Tables};

impl CompiledGrammar {
    /// Compiles EBNF (what every format parses into).
    pub fn from_ebnf(ebnf: &Ebnf, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let grammar = lower_with(ebnf, &config.lower).map_err(|error| match error.kind {
            // JSON Schema leaves have no span of their own (the compiler
            // names JSON pointers in its errors instead).
            ErrorKind::EmptyLanguage => match dead_leaf(ebnf).filter(|span| span.end > span.start) {
                Some(span) => GrammarError::at(
                    ErrorKind::EmptyLanguage,
                    span,
                    format!(
                        "the grammar accepts no string at all: every way through `{}` needs this, which matches nothing",
                        ebnf.start
                    ),
                )
                .with_help(
                    "a class that excludes every character, or holds only code points that are not characters \
                     (surrogates U+D800..U+DFFF, or above U+10FFFF), matches nothing",
                ),
                None => error,
            },
            _ => error,
        })?;
        CompiledGrammar::from_ir(grammar, config)
    }

    /// Compiles a lowered grammar.
    pub fn from_ir(mut grammar: Grammar, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let hirs: Vec<&Hir> = grammar.terminals.iter().map(|t| &t.hir).collect();
        let lexer = LexerDfa::build(&hirs, &config.lexer).map_err(|error| {
            let terminal = error.terminal.and_then(|index| grammar.terminals.get(index));
            match terminal {
                Some(terminal) => error.about(&terminal.name, terminal.span),
                None => error.error,
            }
        })?;
        let matchable: Vec<bool> =
            (0..grammar.terminals.len()).map(|t| bitset::contains(lexer.reach(LexerDfa::START), t)).collect();
        if matchable.iter().any(|&m| !m) {
            grammar.retain_terminals(&matchable)?;
        }

        let automaton = lr::build_automaton(&grammar, &config.lr)?;
        let canonical_states = automaton.kernels.len();
        let parser = if automaton.has_conflicts() {
            let conflicts = lr::explain_conflicts(&automaton, &grammar, &lexer);
            let (free, start_nullable) = lr::eliminate_epsilon(&grammar);
            let tables = lr::build_tables(&lr::build_automaton(&free, &config.lr)?);
            Parser { tables, driver: Driver::Generalized, start_nullable, conflicts, canonical_states }
        } else {
            let tables = lr::build_tables(&automaton);
            let start_nullable = tables.accepts_eof(0);
            Parser { tables, driver: Driver::Deterministic, start_nullable, conflicts: Vec::new(), canonical_states }
        };
        Ok(CompiledGrammar::from_tables(Tables::new(grammar, lexer, parser, config.matcher)))
    }
}

/// The span of a leaf that every string of the start rule would have to
/// match although it matches nothing, if there is one: then the language is
/// empty because of that leaf, whatever the recursion does.
///
/// A rule is *dead* when its body is, reading a reference to a dead rule
/// (or terminal) as dead and any other reference as matching something:
/// the least fixpoint, found with a worklist over who refers to whom, so
/// that long chains of rules cost no stack. Each rule remembers when it
/// died, so that the walk down to the leaf only follows references to
/// rules that died before, and so ends.
fn dead_leaf(ebnf: &Ebnf) -> Option<Span> {
    let bodies: Vec<&Expr> =
        ebnf.rules.iter().map(|rule| &rule.body).chain(ebnf.terminals.iter().map(|t| &t.body)).collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, name) in
        ebnf.rules.iter().map(|r| r.name.as_str()).chain(ebnf.terminals.iter().map(|t| t.name.as_str())).enumerate()
    {
        index.entry(name).or_insert(i);
    }
    let mut referrers: Vec<Vec<usize>> = vec![Vec::new(); bodies.len()];
    for (i, body) in bodies.iter().enumerate() {
        for_each_reference(body, &mut |name| {
            if let Some(&target) = index.get(name) {
                referrers[target].push(i);
            }
        });
    }
    let mut dead = Dead { index, died: vec![None; bodies.len()] };
    let mut pending: Vec<usize> = (0..bodies.len()).collect();
    let mut deaths = 0;
    while let Some(i) = pending.pop() {
        if dead.died[i].is_none() && dead.is_dead(bodies[i], usize::MAX) {
            dead.died[i] = Some(deaths);
            deaths += 1;
            pending.extend(&referrers[i]);
        }
    }
    let start = *dead.index.get(ebnf.start.as_str())?;
    // When a rule died, its body was dead by the rules dead before it.
    let mut before = dead.died[start]?;
    let mut expr = bodies[start];
    loop {
        expr = match &expr.kind {
            ExprKind::Pattern(_) => return Some(expr.span),
            ExprKind::Seq(items) | ExprKind::Alt(items) => items.iter().find(|item| dead.is_dead(item, before))?,
            ExprKind::Repeat { expr: inner, .. } => inner,
            ExprKind::Ref(name) => {
                let target = *dead.index.get(name.as_str())?;
                before = dead.died[target]?;
                bodies[target]
            }
            ExprKind::Empty | ExprKind::Literal { .. } => return None,
        };
    }
}

/// Rules and terminals by name, and when each died (in order of death).
struct Dead<'e> {
    index: HashMap<&'e str, usize>,
    died: Vec<Option<usize>>,
}

impl Dead<'_> {
    /// Whether `expr` matches nothing, counting only the rules that died
    /// before `before`.
    fn is_dead(&self, expr: &Expr, before: usize) -> bool {
        match &expr.kind {
            ExprKind::Empty | ExprKind::Literal { .. } => false,
            ExprKind::Pattern(hir) => matches_nothing(hir),
            ExprKind::Ref(name) => {
                self.index.get(name.as_str()).and_then(|&i| self.died[i]).is_some_and(|died| died < before)
            }
            ExprKind::Seq(items) => items.iter().any(|item| self.is_dead(item, before)),
            ExprKind::Alt(items) => items.iter().all(|item| self.is_dead(item, before)),
            ExprKind::Repeat { expr, min, .. } => *min > 0 && self.is_dead(expr, before),
        }
    }
}

fn for_each_reference<'e>(expr: &'e Expr, visit: &mut impl FnMut(&'e str)) {
    match &expr.kind {
        ExprKind::Ref(name) => visit(name),
        ExprKind::Seq(items) | ExprKind::Alt(items) => items.iter().for_each(|item| for_each_reference(item, visit)),
        ExprKind::Repeat { expr, .. } => for_each_reference(expr, visit),
        ExprKind::Empty | ExprKind::Literal { .. } | ExprKind::Pattern(_) => {}
    }
}
