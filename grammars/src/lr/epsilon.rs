//! Removing empty productions, for the GLR driver.
//!
//! The GLR driver keeps a graph-structured stack in which every edge points
//! from a newer node to an older one. An empty reduction would add an edge
//! between two nodes of the same position — and grammars like
//! `S → A S | x; A → ε` would turn that into a cycle of shared pointers. So
//! tables for the GLR driver are built from an equivalent grammar without
//! empty productions (the classic construction: every production is copied
//! with each subset of its nullable nonterminals left out), and whether the
//! empty input is in the language is recorded apart.

use hashbrown::HashSet;

use crate::ir::{Grammar, Nonterminal, NonterminalId, Production, Symbol};

/// Productions with more nullable symbols than this are first split into a
/// chain of two-symbol helpers, so that the copies stay few.
const MAX_NULLABLE_PER_PRODUCTION: usize = 8;

/// Returns an ε-free grammar with the same language minus the empty string,
/// and whether the original language contains the empty string. Terminal
/// and nonterminal ids are kept (helpers are appended).
pub(crate) fn eliminate_epsilon(grammar: &Grammar) -> (Grammar, bool) {
    let mut nonterminals = grammar.nonterminals.clone();
    let mut productions: Vec<Production> = Vec::new();
    let nullable = nullable_set(grammar.nonterminals.len(), &grammar.productions);
    for production in &grammar.productions {
        let nullable_count =
            production.rhs.iter().filter(|s| matches!(s, Symbol::Nonterminal(n) if nullable[n.index()])).count();
        if nullable_count > MAX_NULLABLE_PER_PRODUCTION {
            binarize(production, &mut nonterminals, &mut productions);
        } else {
            productions.push(production.clone());
        }
    }
    let nullable = nullable_set(nonterminals.len(), &productions);

    let mut seen: HashSet<Production> = HashSet::new();
    let mut out: Vec<Production> = Vec::new();
    for production in &productions {
        let positions: Vec<usize> = production
            .rhs
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Symbol::Nonterminal(n) if nullable[n.index()]))
            .map(|(i, _)| i)
            .collect();
        for omit in 0u32..(1 << positions.len()) {
            let rhs: Vec<Symbol> = production
                .rhs
                .iter()
                .enumerate()
                .filter(|(i, _)| positions.iter().position(|p| p == i).is_none_or(|bit| omit & (1 << bit) == 0))
                .map(|(_, s)| *s)
                .collect();
            if rhs.is_empty() || rhs == [Symbol::Nonterminal(production.lhs)] {
                continue;
            }
            let variant = Production { lhs: production.lhs, rhs };
            if seen.insert(variant.clone()) {
                out.push(variant);
            }
        }
    }
    // Nonterminals that only derived the empty string have no productions
    // left; drop the productions that mention them.
    loop {
        let mut has_production = vec![false; nonterminals.len()];
        for production in &out {
            has_production[production.lhs.index()] = true;
        }
        let before = out.len();
        out.retain(|p| {
            p.rhs.iter().all(|s| match s {
                Symbol::Terminal(_) => true,
                Symbol::Nonterminal(n) => has_production[n.index()],
            })
        });
        if out.len() == before {
            break;
        }
    }
    let start_nullable = nullable[grammar.start.index()];
    let free = Grammar {
        lexing: grammar.lexing,
        terminals: grammar.terminals.clone(),
        nonterminals,
        productions: out,
        start: grammar.start,
        ignore: grammar.ignore.clone(),
    };
    (free, start_nullable)
}

fn nullable_set(count: usize, productions: &[Production]) -> Vec<bool> {
    let mut nullable = vec![false; count];
    loop {
        let mut changed = false;
        for production in productions {
            if !nullable[production.lhs.index()]
                && production.rhs.iter().all(|s| matches!(s, Symbol::Nonterminal(n) if nullable[n.index()]))
            {
                nullable[production.lhs.index()] = true;
                changed = true;
            }
        }
        if !changed {
            return nullable;
        }
    }
}

/// `A → X₁ X₂ … Xₙ` becomes `A → X₁ H₁`, `H₁ → X₂ H₂`, …, `Hₙ₋₂ → Xₙ₋₁ Xₙ`.
fn binarize(production: &Production, nonterminals: &mut Vec<Nonterminal>, out: &mut Vec<Production>) {
    let rhs = &production.rhs;
    let mut lhs = production.lhs;
    for (index, symbol) in rhs.iter().enumerate().take(rhs.len().saturating_sub(2)) {
        let helper = NonterminalId(nonterminals.len() as u32);
        nonterminals.push(Nonterminal {
            name: format!("{}#tail{}", nonterminals[production.lhs.index()].name, index + 1),
            span: None,
        });
        out.push(Production { lhs, rhs: vec![*symbol, Symbol::Nonterminal(helper)] });
        lhs = helper;
    }
    out.push(Production { lhs, rhs: rhs[rhs.len().saturating_sub(2)..].to_vec() });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebnf::Lexing;
    use crate::ir::{Terminal, TerminalId};
    use regex_syntax::hir::Hir;

    fn nt(i: u32) -> Symbol {
        Symbol::Nonterminal(NonterminalId(i))
    }
    fn t(i: u32) -> Symbol {
        Symbol::Terminal(TerminalId(i))
    }

    fn grammar(productions: Vec<(u32, Vec<Symbol>)>, nonterminals: usize) -> Grammar {
        Grammar {
            lexing: Lexing::AnySplit,
            terminals: (0..3)
                .map(|i| Terminal {
                    name: format!("t{i}"),
                    hir: Hir::literal(vec![b'a' + i as u8]),
                    priority: 0,
                    literal: true,
                    span: None,
                })
                .collect(),
            nonterminals: (0..nonterminals).map(|i| Nonterminal { name: format!("N{i}"), span: None }).collect(),
            productions: productions
                .into_iter()
                .map(|(lhs, rhs)| Production { lhs: NonterminalId(lhs), rhs })
                .collect(),
            start: NonterminalId(0),
            ignore: vec![],
        }
    }

    #[test]
    fn optional_symbols_become_variants() {
        // S → a O b ; O → c | ε
        let g = grammar(vec![(0, vec![t(0), nt(1), t(1)]), (1, vec![t(2)]), (1, vec![])], 2);
        let (free, start_nullable) = eliminate_epsilon(&g);
        assert!(!start_nullable);
        assert!(free.productions.iter().all(|p| !p.rhs.is_empty()));
        assert!(free.productions.contains(&Production { lhs: NonterminalId(0), rhs: vec![t(0), t(1)] }));
        assert!(free.productions.contains(&Production { lhs: NonterminalId(0), rhs: vec![t(0), nt(1), t(1)] }));
    }

    #[test]
    fn cyclic_empty_derivations_disappear() {
        // S → A S | a ; A → ε   (infinitely ambiguous)
        let g = grammar(vec![(0, vec![nt(1), nt(0)]), (0, vec![t(0)]), (1, vec![])], 2);
        let (free, start_nullable) = eliminate_epsilon(&g);
        assert!(!start_nullable);
        assert_eq!(free.productions, vec![Production { lhs: NonterminalId(0), rhs: vec![t(0)] }]);
    }

    #[test]
    fn nullable_start_is_reported() {
        let g = grammar(vec![(0, vec![t(0), nt(0)]), (0, vec![])], 1);
        let (free, start_nullable) = eliminate_epsilon(&g);
        assert!(start_nullable);
        assert!(free.productions.contains(&Production { lhs: NonterminalId(0), rhs: vec![t(0)] }));
    }

    #[test]
    fn long_nullable_productions_are_binarized_first() {
        let rhs: Vec<Symbol> = (0..12).map(|_| nt(1)).collect();
        let g = grammar(vec![(0, rhs), (1, vec![t(0)]), (1, vec![])], 2);
        let (free, _) = eliminate_epsilon(&g);
        assert!(free.productions.len() < 200, "{}", free.productions.len());
        assert!(free.productions.iter().all(|p| !p.rhs.is_empty()));
    }
}
