//! Canonical LR(1) construction and behaviour-preserving state merging.

use hashbrown::HashMap;

use super::sets::nullable_and_first;
use super::{Action, LrLimits, LrTables, NO_STATE, ProductionShape, TAG_MULTI, encode};
use crate::bitset::{self, BitMatrix};
use crate::error::{ErrorKind, GrammarError};
use crate::ir::{Grammar, Symbol};

/// A grammar prepared for item-set construction: the productions plus the
/// augmented start production `S' → S` (last), with items numbered densely
/// (`item_base[p] + dot`).
pub(crate) struct Prepared {
    pub terminal_count: usize,
    /// Terminals plus end of input.
    pub columns: usize,
    /// Grammar nonterminals plus the augmented start `S'` (last).
    pub nonterminal_count: usize,
    pub productions: Vec<(u32, Vec<Symbol>)>,
    pub augmented: u32,
    item_base: Vec<u32>,
    item_production: Vec<u32>,
    productions_of: Vec<Vec<u32>>,
    /// FIRST of the symbols after the one at the dot, per item.
    first_after: BitMatrix,
    /// Whether the symbols after the one at the dot can all be empty.
    nullable_after: Vec<bool>,
}

impl Prepared {
    pub(crate) fn new(grammar: &Grammar) -> Prepared {
        let terminal_count = grammar.terminals.len();
        let columns = terminal_count + 1;
        let user_nonterminals = grammar.nonterminals.len();
        let nonterminal_count = user_nonterminals + 1;
        let mut productions: Vec<(u32, Vec<Symbol>)> =
            grammar.productions.iter().map(|p| (p.lhs.0, p.rhs.clone())).collect();
        let augmented = productions.len() as u32;
        productions.push((user_nonterminals as u32, vec![Symbol::Nonterminal(grammar.start)]));

        let mut productions_of = vec![Vec::new(); nonterminal_count];
        for (index, (lhs, _)) in productions.iter().enumerate() {
            productions_of[*lhs as usize].push(index as u32);
        }

        let (nullable, first) = nullable_and_first(
            nonterminal_count,
            columns,
            productions.iter().map(|(lhs, rhs)| (*lhs as usize, rhs.as_slice())),
        );

        let mut item_base = Vec::with_capacity(productions.len());
        let mut item_production = Vec::new();
        for (index, (_, rhs)) in productions.iter().enumerate() {
            item_base.push(item_production.len() as u32);
            for _ in 0..=rhs.len() {
                item_production.push(index as u32);
            }
        }
        let item_count = item_production.len();
        let mut first_after = BitMatrix::new(item_count, columns);
        let mut nullable_after = vec![false; item_count];
        for (index, (_, rhs)) in productions.iter().enumerate() {
            let base = item_base[index] as usize;
            // Walk the suffixes from the right, so that when item `dot`'s
            // row is written the accumulator holds FIRST(rhs[dot+1..]).
            let mut suffix_nullable = true;
            let mut suffix_first = vec![0u64; first.words()];
            nullable_after[base + rhs.len()] = true;
            for dot in (0..rhs.len()).rev() {
                first_after.row_mut(base + dot).copy_from_slice(&suffix_first);
                nullable_after[base + dot] = suffix_nullable;
                match rhs[dot] {
                    Symbol::Terminal(t) => {
                        suffix_first.iter_mut().for_each(|w| *w = 0);
                        suffix_first[t.index() / 64] |= 1 << (t.index() % 64);
                        suffix_nullable = false;
                    }
                    Symbol::Nonterminal(n) => {
                        if !nullable[n.index()] {
                            suffix_first.iter_mut().for_each(|w| *w = 0);
                            suffix_nullable = false;
                        }
                        for (word, value) in suffix_first.iter_mut().zip(first.row(n.index())) {
                            *word |= value;
                        }
                    }
                }
            }
        }
        Prepared {
            terminal_count,
            columns,
            nonterminal_count,
            productions,
            augmented,
            item_base,
            item_production,
            productions_of,
            first_after,
            nullable_after,
        }
    }

    pub(crate) fn item(&self, production: u32, dot: usize) -> u32 {
        self.item_base[production as usize] + dot as u32
    }

    /// (production, dot) of an item.
    pub(crate) fn split(&self, item: u32) -> (u32, usize) {
        let production = self.item_production[item as usize];
        (production, (item - self.item_base[production as usize]) as usize)
    }

    /// The symbol after the dot, if any.
    pub(crate) fn next_symbol(&self, item: u32) -> Option<Symbol> {
        let (production, dot) = self.split(item);
        self.productions[production as usize].1.get(dot).copied()
    }

    fn words(&self) -> usize {
        self.first_after.words()
    }
}

/// A kernel or closure item with its lookahead set.
pub(crate) type LookaheadItem = (u32, Vec<u64>);

/// The canonical LR(1) automaton, before merging.
pub(crate) struct Automaton {
    pub prepared: Prepared,
    pub kernels: Vec<Vec<LookaheadItem>>,
    /// Per state, transitions on symbols.
    pub transitions: Vec<Vec<(Symbol, u32)>>,
    /// Per state, actions per column (sorted, deduplicated).
    pub actions: Vec<Vec<(u32, Vec<Action>)>>,
}

impl Automaton {
    pub(crate) fn closure(&self, kernel: &[LookaheadItem]) -> Vec<LookaheadItem> {
        let mut slots = vec![u32::MAX; self.prepared.item_production.len()];
        closure(&self.prepared, kernel, &mut slots)
    }

    pub(crate) fn has_conflicts(&self) -> bool {
        self.actions.iter().any(|row| row.iter().any(|(_, actions)| actions.len() > 1))
    }
}

/// Builds the canonical LR(1) automaton of `grammar`.
pub(crate) fn build_automaton(grammar: &Grammar, limits: &LrLimits) -> Result<Automaton, GrammarError> {
    let prepared = Prepared::new(grammar);
    let words = prepared.words();
    let mut eof_only = vec![0u64; words];
    eof_only[prepared.terminal_count / 64] |= 1 << (prepared.terminal_count % 64);
    let initial = vec![(prepared.item(prepared.augmented, 0), eof_only)];

    let mut kernels: Vec<Vec<LookaheadItem>> = vec![initial.clone()];
    let mut index: HashMap<Vec<u64>, u32> = HashMap::new();
    index.insert(kernel_key(&initial), 0);
    let mut transitions: Vec<Vec<(Symbol, u32)>> = Vec::new();
    let mut actions: Vec<Vec<(u32, Vec<Action>)>> = Vec::new();
    let mut slots = vec![u32::MAX; prepared.item_production.len()];

    let mut state = 0;
    while state < kernels.len() {
        let items = closure(&prepared, &kernels[state], &mut slots);
        // Group the items by the symbol after the dot.
        let mut successors: Vec<(Symbol, Vec<LookaheadItem>)> = Vec::new();
        let mut row: Vec<(u32, Action)> = Vec::new();
        for (item, lookahead) in &items {
            match prepared.next_symbol(*item) {
                Some(symbol) => {
                    let advanced = (*item + 1, lookahead.clone());
                    match successors.iter_mut().find(|(s, _)| *s == symbol) {
                        Some((_, kernel)) => kernel.push(advanced),
                        None => successors.push((symbol, vec![advanced])),
                    }
                }
                None => {
                    let (production, _) = prepared.split(*item);
                    for column in bitset::ones(lookahead) {
                        let action =
                            if production == prepared.augmented { Action::Accept } else { Action::Reduce(production) };
                        row.push((column as u32, action));
                    }
                }
            }
        }
        successors.sort_by_key(|(symbol, _)| *symbol);
        let mut state_transitions = Vec::with_capacity(successors.len());
        for (symbol, mut kernel) in successors {
            kernel.sort_by_key(|(item, _)| *item);
            let key = kernel_key(&kernel);
            let target = match index.get(&key) {
                Some(&target) => target,
                None => {
                    let target = kernels.len() as u32;
                    if kernels.len() >= limits.max_states {
                        return Err(GrammarError::new(
                            ErrorKind::TooLarge,
                            format!("the grammar needs more than {} canonical LR(1) states", limits.max_states),
                        )
                        .with_help("move regular parts of the grammar into terminals, or raise the LR state limit"));
                    }
                    index.insert(key, target);
                    kernels.push(kernel);
                    target
                }
            };
            if let Symbol::Terminal(t) = symbol {
                row.push((t.0, Action::Shift(target)));
            }
            state_transitions.push((symbol, target));
        }
        row.sort();
        row.dedup();
        let mut grouped: Vec<(u32, Vec<Action>)> = Vec::new();
        for (column, action) in row {
            match grouped.last_mut() {
                Some((last, actions)) if *last == column => actions.push(action),
                _ => grouped.push((column, vec![action])),
            }
        }
        transitions.push(state_transitions);
        actions.push(grouped);
        state += 1;
    }
    Ok(Automaton { prepared, kernels, transitions, actions })
}

fn kernel_key(kernel: &[LookaheadItem]) -> Vec<u64> {
    let mut key = Vec::with_capacity(kernel.len() * (1 + kernel.first().map_or(0, |k| k.1.len())));
    for (item, lookahead) in kernel {
        key.push(u64::from(*item));
        key.extend_from_slice(lookahead);
    }
    key
}

/// The LR(1) closure of a kernel. `slots` maps item → position in the
/// output and is left all-`u32::MAX` again on return.
fn closure(prepared: &Prepared, kernel: &[LookaheadItem], slots: &mut [u32]) -> Vec<LookaheadItem> {
    let mut items: Vec<LookaheadItem> = Vec::with_capacity(kernel.len() * 4);
    for (item, lookahead) in kernel {
        slots[*item as usize] = items.len() as u32;
        items.push((*item, lookahead.clone()));
    }
    let mut work: Vec<u32> = (0..items.len() as u32).collect();
    let mut incoming = vec![0u64; prepared.words()];
    while let Some(position) = work.pop() {
        let (item, ref lookahead) = items[position as usize];
        let Some(Symbol::Nonterminal(nonterminal)) = prepared.next_symbol(item) else {
            continue;
        };
        // Lookahead for the nonterminal's items: FIRST(β) ∪ (L if β ⇒* ε).
        incoming.copy_from_slice(prepared.first_after.row(item as usize));
        if prepared.nullable_after[item as usize] {
            for (word, value) in incoming.iter_mut().zip(lookahead) {
                *word |= value;
            }
        }
        for &production in &prepared.productions_of[nonterminal.index()] {
            let new_item = prepared.item(production, 0);
            let slot = slots[new_item as usize];
            if slot == u32::MAX {
                slots[new_item as usize] = items.len() as u32;
                items.push((new_item, incoming.clone()));
                work.push(items.len() as u32 - 1);
            } else {
                let existing = &mut items[slot as usize].1;
                let mut changed = false;
                for (word, value) in existing.iter_mut().zip(&incoming) {
                    let merged = *word | value;
                    changed |= merged != *word;
                    *word = merged;
                }
                if changed {
                    work.push(slot);
                }
            }
        }
    }
    for (item, _) in &items {
        slots[*item as usize] = u32::MAX;
    }
    items
}

/// Merges states with identical behaviour (partition refinement: same
/// actions up to shift targets, then same blocks of successors) and packs
/// the result into tables. State 0 stays the initial state.
pub(crate) fn build_tables(automaton: &Automaton) -> LrTables {
    let prepared = &automaton.prepared;
    let state_count = automaton.kernels.len();
    let columns = prepared.columns;

    // Initial blocks: by the action rows with shift targets erased and by
    // which symbols have transitions.
    let mut block = vec![0u32; state_count];
    {
        let mut ids: HashMap<Vec<u64>, u32> = HashMap::new();
        for (state, row) in automaton.actions.iter().enumerate().take(state_count) {
            let mut signature = Vec::new();
            for (column, actions) in row {
                signature.push(u64::from(*column));
                for action in actions {
                    signature.push(match action {
                        Action::Shift(_) => 1 << 40,
                        Action::Reduce(production) => (2 << 40) | u64::from(*production),
                        Action::Accept => 3 << 40,
                    });
                }
            }
            signature.push(u64::MAX);
            for (symbol, _) in &automaton.transitions[state] {
                signature.push(symbol_code(*symbol));
            }
            let next = ids.len() as u32;
            block[state] = *ids.entry(signature).or_insert(next);
        }
    }
    loop {
        let mut ids: HashMap<Vec<u64>, u32> = HashMap::new();
        let mut refined = vec![0u32; state_count];
        for state in 0..state_count {
            let mut signature = vec![u64::from(block[state])];
            for (symbol, target) in &automaton.transitions[state] {
                signature.push(symbol_code(*symbol));
                signature.push(u64::from(block[*target as usize]));
            }
            let next = ids.len() as u32;
            refined[state] = *ids.entry(signature).or_insert(next);
        }
        let before = block.iter().max().map_or(0, |&m| m + 1);
        let after = ids.len() as u32;
        block = refined;
        if after == before {
            break;
        }
    }
    // Renumber blocks so that the initial state's block is 0, in order of
    // first appearance.
    let mut renumber = vec![u32::MAX; state_count];
    let mut representative = Vec::new();
    for (state, &b) in block.iter().enumerate() {
        let b = b as usize;
        if renumber[b] == u32::MAX {
            renumber[b] = representative.len() as u32;
            representative.push(state);
        }
    }
    let merged_count = representative.len();
    let merged = |state: u32| renumber[block[state as usize] as usize];

    let mut actions = vec![0u32; merged_count * columns];
    let mut multi: Vec<Vec<Action>> = Vec::new();
    let mut gotos = vec![NO_STATE; merged_count * prepared.nonterminal_count];
    let mut acceptable = BitMatrix::new(merged_count, prepared.terminal_count);
    for (new_state, &state) in representative.iter().enumerate() {
        for (column, cell) in &automaton.actions[state] {
            let mut cell: Vec<Action> = cell
                .iter()
                .map(|action| match action {
                    Action::Shift(target) => Action::Shift(merged(*target)),
                    other => *other,
                })
                .collect();
            cell.sort();
            cell.dedup();
            let packed = if cell.len() == 1 {
                encode(cell[0])
            } else {
                multi.push(cell);
                TAG_MULTI | (multi.len() as u32 - 1)
            };
            actions[new_state * columns + *column as usize] = packed;
            if (*column as usize) < prepared.terminal_count {
                acceptable.insert(new_state, *column as usize);
            }
        }
        for (symbol, target) in &automaton.transitions[state] {
            if let Symbol::Nonterminal(n) = symbol {
                gotos[new_state * prepared.nonterminal_count + n.index()] = merged(*target);
            }
        }
    }
    let productions =
        prepared.productions.iter().map(|(lhs, rhs)| ProductionShape { lhs: *lhs, len: rhs.len() as u32 }).collect();
    LrTables {
        terminal_count: prepared.terminal_count,
        columns,
        nonterminal_count: prepared.nonterminal_count,
        state_count: merged_count,
        actions,
        multi,
        gotos,
        productions,
        acceptable,
    }
}

fn symbol_code(symbol: Symbol) -> u64 {
    match symbol {
        Symbol::Terminal(t) => u64::from(t.0),
        Symbol::Nonterminal(n) => (1 << 32) | u64::from(n.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebnf::Lexing;
    use crate::ir::{Nonterminal, NonterminalId, Production, Terminal, TerminalId};
    use regex_syntax::hir::Hir;

    /// A grammar from productions written as (lhs, [symbols]) where
    /// uppercase letters are nonterminals and other characters terminals.
    fn grammar(rules: &[(&str, &str)]) -> Grammar {
        let mut terminals: Vec<char> = Vec::new();
        let mut nonterminals: Vec<char> = Vec::new();
        let mut symbol = |c: char| -> Symbol {
            if c.is_ascii_uppercase() {
                let index = nonterminals.iter().position(|&n| n == c).unwrap_or_else(|| {
                    nonterminals.push(c);
                    nonterminals.len() - 1
                });
                Symbol::Nonterminal(NonterminalId(index as u32))
            } else {
                let index = terminals.iter().position(|&t| t == c).unwrap_or_else(|| {
                    terminals.push(c);
                    terminals.len() - 1
                });
                Symbol::Terminal(TerminalId(index as u32))
            }
        };
        let mut productions = Vec::new();
        for (lhs, rhs) in rules {
            let Symbol::Nonterminal(lhs) = symbol(lhs.chars().next().unwrap()) else { panic!() };
            let rhs = rhs.chars().map(&mut symbol).collect();
            productions.push(Production { lhs, rhs });
        }
        Grammar {
            lexing: Lexing::AnySplit,
            terminals: terminals
                .iter()
                .map(|&c| Terminal {
                    name: c.to_string(),
                    hir: Hir::literal(c.to_string().into_bytes()),
                    priority: 0,
                    literal: true,
                    span: None,
                })
                .collect(),
            nonterminals: nonterminals.iter().map(|&c| Nonterminal { name: c.to_string(), span: None }).collect(),
            productions,
            start: NonterminalId(0),
            ignore: vec![],
        }
    }

    /// Runs the tables deterministically over a string of terminal chars.
    fn accepts(grammar: &Grammar, tables: &LrTables, input: &str) -> bool {
        let column = |c: char| grammar.terminals.iter().position(|t| t.name == c.to_string()).map(|i| i as u32);
        let mut stack = vec![0u32];
        let mut input: Vec<u32> = match input.chars().map(column).collect::<Option<Vec<_>>>() {
            Some(columns) => columns,
            None => return false,
        };
        input.push(tables.eof());
        let mut position = 0;
        loop {
            let top = *stack.last().unwrap();
            match tables.actions(top, input[position]).as_slice() {
                [Action::Shift(next)] => {
                    stack.push(*next);
                    position += 1;
                }
                [Action::Reduce(production)] => {
                    let shape = tables.production(*production);
                    stack.truncate(stack.len() - shape.len as usize);
                    let goto = tables.goto(*stack.last().unwrap(), shape.lhs);
                    stack.push(goto);
                }
                [Action::Accept] => return true,
                [] => return false,
                many => panic!("conflict {many:?}"),
            }
        }
    }

    #[test]
    fn expression_grammar_is_lr1_and_parses() {
        let g = grammar(&[("E", "E+T"), ("E", "T"), ("T", "T*F"), ("T", "F"), ("F", "(E)"), ("F", "n")]);
        let automaton = build_automaton(&g, &LrLimits::default()).unwrap();
        assert!(!automaton.has_conflicts());
        let tables = build_tables(&automaton);
        assert!(tables.state_count() <= automaton.kernels.len());
        for good in ["n", "n+n*n", "(n+n)*n", "((n))"] {
            assert!(accepts(&g, &tables, good), "{good}");
        }
        for bad in ["", "n+", "(n", "n)", "nn", "+n"] {
            assert!(!accepts(&g, &tables, bad), "{bad}");
        }
    }

    #[test]
    fn canonical_rows_are_exact() {
        // S → a A d | b A e | a B e | b B d ; A → c ; B → c
        // LALR merges the two states after `c` and reduces spuriously;
        // canonical LR(1) keeps them apart so every non-error entry is
        // really acceptable.
        let g = grammar(&[("S", "aAd"), ("S", "bAe"), ("S", "aBe"), ("S", "bBd"), ("A", "c"), ("B", "c")]);
        let automaton = build_automaton(&g, &LrLimits::default()).unwrap();
        assert!(!automaton.has_conflicts());
        let tables = build_tables(&automaton);
        for good in ["acd", "bce", "ace", "bcd"] {
            assert!(accepts(&g, &tables, good), "{good}");
        }
        for bad in ["acc", "bc", "ac"] {
            assert!(!accepts(&g, &tables, bad), "{bad}");
        }
    }

    #[test]
    fn ambiguous_grammar_keeps_both_actions() {
        let g = grammar(&[("E", "E+E"), ("E", "n")]);
        let automaton = build_automaton(&g, &LrLimits::default()).unwrap();
        assert!(automaton.has_conflicts());
        let tables = build_tables(&automaton);
        assert!(tables.has_conflicts());
    }

    #[test]
    fn nullable_rules_and_left_recursion() {
        // L → L x | ε  (a star helper)
        let g = grammar(&[("S", "aLb"), ("L", "Lx"), ("L", "")]);
        let automaton = build_automaton(&g, &LrLimits::default()).unwrap();
        assert!(!automaton.has_conflicts());
        let tables = build_tables(&automaton);
        for good in ["ab", "axb", "axxxb"] {
            assert!(accepts(&g, &tables, good), "{good}");
        }
        assert!(!accepts(&g, &tables, "axa"));
    }

    #[test]
    fn state_limit_is_an_error() {
        let g = grammar(&[("E", "E+T"), ("E", "T"), ("T", "(E)"), ("T", "n")]);
        let error = build_automaton(&g, &LrLimits { max_states: 3 }).err().unwrap();
        assert_eq!(error.kind, ErrorKind::TooLarge);
    }
}
