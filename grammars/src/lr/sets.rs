//! The sets every LR construction starts from: which nonterminals derive
//! the empty string, FIRST of each nonterminal, and FOLLOW of each
//! terminal. One fixpoint computes nullable and FIRST for both the table
//! builder and the follow sets the matcher's cut table is made of.

use crate::bitset::{self, BitMatrix};
use crate::ir::{Grammar, Symbol};

/// Which nonterminals derive the empty string, and the FIRST set of each
/// (terminals, in rows `width` bits wide), computed to a fixpoint over
/// `productions` given as `(lhs, rhs)`.
pub(crate) fn nullable_and_first<'a, I>(nonterminals: usize, width: usize, productions: I) -> (Vec<bool>, BitMatrix)
where
    I: Iterator<Item = (usize, &'a [Symbol])> + Clone,
{
    let mut nullable = vec![false; nonterminals];
    let mut first = BitMatrix::new(nonterminals, width);
    loop {
        let mut changed = false;
        for (lhs, rhs) in productions.clone() {
            let mut all_nullable = true;
            for symbol in rhs {
                match *symbol {
                    Symbol::Terminal(t) => {
                        if !bitset::contains(first.row(lhs), t.index()) {
                            first.insert(lhs, t.index());
                            changed = true;
                        }
                        all_nullable = false;
                    }
                    Symbol::Nonterminal(n) => {
                        if n.index() != lhs {
                            changed |= first.union_rows(lhs, n.index());
                        }
                        if !nullable[n.index()] {
                            all_nullable = false;
                        }
                    }
                }
                if !all_nullable {
                    break;
                }
            }
            if all_nullable && !nullable[lhs] {
                nullable[lhs] = true;
                changed = true;
            }
        }
        if !changed {
            return (nullable, first);
        }
    }
}

/// For each terminal, the terminals that can come right after it in some
/// string of the language (ignored terminals can come after anything, and
/// anything after them).
///
/// The matcher uses it to skip a cut cheaply: a lexeme may end as terminal
/// `t` before a byte only if that byte can start a terminal in `follow(t)`.
/// That is a necessary condition, so the check never changes an answer.
pub(crate) fn follow_sets(grammar: &Grammar) -> BitMatrix {
    let terminals = grammar.terminals.len();
    let nonterminals = grammar.nonterminals.len();
    let (nullable, first) = nullable_and_first(
        nonterminals,
        terminals,
        grammar.productions.iter().map(|production| (production.lhs.index(), production.rhs.as_slice())),
    );
    // Rows 0..nonterminals: FOLLOW of nonterminals; then one row per
    // terminal. Both fill from the same walk over production suffixes.
    let mut follow = BitMatrix::new(nonterminals + terminals, terminals);
    let row_of = |symbol: Symbol| match symbol {
        Symbol::Nonterminal(n) => n.index(),
        Symbol::Terminal(t) => nonterminals + t.index(),
    };
    let mut changed = true;
    while changed {
        changed = false;
        for production in &grammar.productions {
            // Walk right to left, keeping FIRST of the suffix and whether it
            // is nullable.
            let mut suffix = vec![0u64; bitset::words_for(terminals)];
            let mut suffix_nullable = true;
            for &symbol in production.rhs.iter().rev() {
                let row = row_of(symbol);
                for (target, value) in follow.row_mut(row).iter_mut().zip(&suffix) {
                    let merged = *target | value;
                    changed |= merged != *target;
                    *target = merged;
                }
                if suffix_nullable && row != production.lhs.index() {
                    changed |= follow.union_rows(row, production.lhs.index());
                }
                match symbol {
                    Symbol::Terminal(t) => {
                        suffix.iter_mut().for_each(|word| *word = 0);
                        suffix[t.index() / 64] |= 1 << (t.index() % 64);
                        suffix_nullable = false;
                    }
                    Symbol::Nonterminal(n) => {
                        if !nullable[n.index()] {
                            suffix.iter_mut().for_each(|word| *word = 0);
                            suffix_nullable = false;
                        }
                        for (word, value) in suffix.iter_mut().zip(first.row(n.index())) {
                            *word |= value;
                        }
                    }
                }
            }
        }
    }
    let mut result = BitMatrix::new(terminals, terminals);
    for terminal in 0..terminals {
        result.union_rows_from(terminal, &follow, nonterminals + terminal);
        for ignored in &grammar.ignore {
            result.insert(terminal, ignored.index());
        }
    }
    for ignored in &grammar.ignore {
        for terminal in 0..terminals {
            result.insert(ignored.index(), terminal);
        }
    }
    result
}
