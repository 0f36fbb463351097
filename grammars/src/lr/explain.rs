//! Conflict reports for `--explain`: which rules collide, on what
//! lookahead, and a short input that gets there.

use std::collections::VecDeque;
use std::fmt;

use super::Action;
use super::build::Automaton;
use crate::bitset;
use crate::ebnf::Lexing;
use crate::ir::{Grammar, Symbol, TerminalId};
use crate::lexer::LexerDfa;

/// An LR(1) conflict: in some parser state, one lookahead allows more than
/// one action. Trellis still accepts such grammars (the GLR driver follows
/// every action), but a conflict often points at an ambiguity the author did
/// not intend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The lookahead terminal's name, or `end of input`.
    pub lookahead: String,
    /// Items that would shift the lookahead, as `A → α • t β`.
    pub shifts: Vec<String>,
    /// Productions that could be reduced, as `A → α •`.
    pub reductions: Vec<String>,
    /// An input (terminal by terminal) that reaches the conflict state.
    pub example: Vec<Vec<u8>>,
    /// An example of the lookahead terminal (empty at end of input).
    pub next: Vec<u8>,
    /// How to join `example` for display: with spaces when a lexer splits
    /// the input, directly otherwise.
    pub spaced: bool,
}

impl Conflict {
    pub fn kind(&self) -> &'static str {
        if self.shifts.is_empty() { "reduce/reduce" } else { "shift/reduce" }
    }

    /// The example input as text (lossy for non-UTF-8 bytes).
    pub fn example_text(&self) -> String {
        let pieces: Vec<String> =
            self.example.iter().map(|piece| String::from_utf8_lossy(piece).into_owned()).collect();
        pieces.join(if self.spaced { " " } else { "" })
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} conflict on {}", self.kind(), self.lookahead)?;
        for shift in &self.shifts {
            writeln!(f, "  shift   {shift}")?;
        }
        for reduction in &self.reductions {
            writeln!(f, "  reduce  {reduction}")?;
        }
        let next = if self.next.is_empty() {
            "the end of input".to_string()
        } else {
            format!("{:?}", String::from_utf8_lossy(&self.next))
        };
        write!(f, "  example: after {:?}, seeing {next}", self.example_text())
    }
}

/// Every conflict of the canonical automaton, one per (state, lookahead).
pub(crate) fn explain_conflicts(automaton: &Automaton, grammar: &Grammar, lexer: &LexerDfa) -> Vec<Conflict> {
    let prepared = &automaton.prepared;
    let shortest = ShortestStrings::new(grammar, lexer);
    let paths = shortest_paths(automaton);
    let mut conflicts = Vec::new();
    for (state, row) in automaton.actions.iter().enumerate() {
        let conflicted: Vec<&(u32, Vec<Action>)> = row.iter().filter(|(_, actions)| actions.len() > 1).collect();
        if conflicted.is_empty() {
            continue;
        }
        let closure = automaton.closure(&automaton.kernels[state]);
        for (column, _) in conflicted {
            let column = *column as usize;
            let mut shifts = Vec::new();
            let mut reductions = Vec::new();
            for (item, lookahead) in &closure {
                let (production, dot) = prepared.split(*item);
                let rhs = &prepared.productions[production as usize].1;
                match rhs.get(dot) {
                    Some(Symbol::Terminal(t)) if t.index() == column => {
                        shifts.push(item_text(grammar, production as usize, dot));
                    }
                    None if bitset::contains(lookahead, column) => {
                        reductions.push(item_text(grammar, production as usize, dot));
                    }
                    _ => {}
                }
            }
            let lookahead = if column == prepared.terminal_count {
                "end of input".to_string()
            } else {
                format!("`{}`", grammar.terminals[column].name)
            };
            let example = paths[state].iter().flat_map(|symbol| shortest.expand(*symbol)).collect();
            let next = if column == prepared.terminal_count {
                Vec::new()
            } else {
                shortest.terminal(TerminalId(column as u32))
            };
            conflicts.push(Conflict {
                lookahead,
                shifts,
                reductions,
                example,
                next,
                spaced: grammar.lexing == Lexing::Greedy,
            });
        }
    }
    conflicts
}

fn item_text(grammar: &Grammar, production: usize, dot: usize) -> String {
    // The augmented production is past the grammar's own.
    let Some(p) = grammar.productions.get(production) else {
        return format!("(start) → {} •", grammar.nonterminal(grammar.start).name);
    };
    let mut text = format!("{} →", grammar.nonterminal(p.lhs).name);
    for (index, symbol) in p.rhs.iter().enumerate() {
        if index == dot {
            text.push_str(" •");
        }
        text.push(' ');
        text.push_str(grammar.symbol_name(*symbol));
    }
    if dot == p.rhs.len() {
        text.push_str(" •");
    }
    text
}

/// Shortest symbol sequence from the initial state to each state.
fn shortest_paths(automaton: &Automaton) -> Vec<Vec<Symbol>> {
    let count = automaton.kernels.len();
    let mut previous: Vec<Option<(u32, Symbol)>> = vec![None; count];
    let mut seen = vec![false; count];
    seen[0] = true;
    let mut queue = VecDeque::from([0u32]);
    while let Some(state) = queue.pop_front() {
        for &(symbol, target) in &automaton.transitions[state as usize] {
            if !seen[target as usize] {
                seen[target as usize] = true;
                previous[target as usize] = Some((state, symbol));
                queue.push_back(target);
            }
        }
    }
    (0..count)
        .map(|state| {
            let mut path = Vec::new();
            let mut at = state;
            while let Some((from, symbol)) = previous[at] {
                path.push(symbol);
                at = from as usize;
            }
            path.reverse();
            path
        })
        .collect()
}

/// The shortest string each nonterminal derives (by total example length,
/// then derivation depth, so that the choice is well founded).
struct ShortestStrings<'g> {
    grammar: &'g Grammar,
    terminal_examples: Vec<Vec<u8>>,
    best: Vec<Option<usize>>,
}

impl<'g> ShortestStrings<'g> {
    fn new(grammar: &'g Grammar, lexer: &LexerDfa) -> ShortestStrings<'g> {
        let mut terminal_examples: Vec<Vec<u8>> = lexer.examples().into_iter().map(Option::unwrap_or_default).collect();
        terminal_examples.resize(grammar.terminals.len(), Vec::new());
        let count = grammar.nonterminals.len();
        let mut cost: Vec<Option<(usize, usize)>> = vec![None; count];
        let mut best: Vec<Option<usize>> = vec![None; count];
        loop {
            let mut changed = false;
            for (index, production) in grammar.productions.iter().enumerate() {
                let mut length = 0usize;
                let mut depth = 0usize;
                let mut ok = true;
                for symbol in &production.rhs {
                    match symbol {
                        Symbol::Terminal(t) => length += terminal_examples[t.index()].len().max(1),
                        Symbol::Nonterminal(n) => match cost[n.index()] {
                            Some((l, d)) => {
                                length += l;
                                depth = depth.max(d);
                            }
                            None => {
                                ok = false;
                                break;
                            }
                        },
                    }
                }
                if !ok {
                    continue;
                }
                let candidate = (length, depth + 1);
                let lhs = production.lhs.index();
                if cost[lhs].is_none_or(|current| candidate < current) {
                    cost[lhs] = Some(candidate);
                    best[lhs] = Some(index);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        ShortestStrings { grammar, terminal_examples, best }
    }

    fn terminal(&self, terminal: TerminalId) -> Vec<u8> {
        self.terminal_examples[terminal.index()].clone()
    }

    /// The terminal examples a symbol expands to.
    fn expand(&self, symbol: Symbol) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![(symbol, 0usize)];
        while let Some((symbol, depth)) = stack.pop() {
            match symbol {
                Symbol::Terminal(t) => out.push(self.terminal_examples[t.index()].clone()),
                Symbol::Nonterminal(n) => {
                    // Depth strictly decreases along the chosen productions;
                    // the bound only guards against inconsistent input.
                    if depth > self.grammar.nonterminals.len() + 1 {
                        continue;
                    }
                    if let Some(production) = self.best[n.index()] {
                        for symbol in self.grammar.productions[production].rhs.iter().rev() {
                            stack.push((*symbol, depth + 1));
                        }
                    }
                }
            }
        }
        out
    }
}
