//! The pipeline, top to bottom: EBNF → IR → lexer → LR(1) tables →
//! [`CompiledGrammar`].
//!
//! 1. **Lower** the EBNF to BNF over regex terminals ([`crate::lower`]).
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

use regex_syntax::hir::Hir;

use crate::bitset;
use crate::config::Config;
use crate::ebnf::Ebnf;
use crate::error::GrammarError;
use crate::ir::Grammar;
use crate::lexer::LexerDfa;
use crate::lower::lower_with;
use crate::lr;
use crate::tables::{CompiledGrammar, Driver, Parser, Tables};

impl CompiledGrammar {
    /// Compiles EBNF (what every format parses into).
    pub fn from_ebnf(ebnf: &Ebnf, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        let grammar = lower_with(ebnf, &config.lower)?;
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
