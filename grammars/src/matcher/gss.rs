//! A graph-structured stack for the GLR driver (Tomita), used for recognition
//! only: the parser configuration is a *set* of LR stacks, represented as
//! the paths of a DAG from the frontier nodes down to the initial node.
//!
//! Nodes are immutable and shared through `Arc`, so forking a configuration
//! copies the (short) frontier list. Feeding a terminal builds a fresh
//! "level" of nodes: all reductions on the lookahead are applied to a fixed
//! point (nodes of the level are keyed by LR state, so equal states merge
//! and the number of nodes stays bounded by the number of LR states), then
//! every node that can shift the terminal does, producing the next
//! frontier. The tables come from an ε-free grammar (see
//! `lr::eliminate_epsilon`), so every reduction pops at least one edge and
//! edges always point to older nodes: no cycles.

use std::sync::Arc;

use smallvec::SmallVec;

use super::Parser;
use crate::lr::{Action, Cell};
use crate::tables::Tables;

#[derive(Debug)]
pub(crate) struct GssNode {
    state: u32,
    parents: SmallVec<[Arc<GssNode>; 2]>,
}

/// The tops of the set of stacks, one node per LR state.
#[derive(Clone, Debug)]
pub(crate) struct Frontier {
    nodes: SmallVec<[Arc<GssNode>; 2]>,
}

/// A node under construction in the current level.
struct LevelNode {
    state: u32,
    parents: SmallVec<[Arc<GssNode>; 2]>,
    /// The original frontier node, while the parents are unchanged.
    unchanged: Option<Arc<GssNode>>,
}

impl Frontier {
    fn tops(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.nodes.iter().map(|node| node.state)
    }

    fn feed_terminal(&self, tables: &Tables, terminal: u32) -> Option<Frontier> {
        let lr = &tables.lr;
        let mut level: Vec<LevelNode> = self
            .nodes
            .iter()
            .map(|node| LevelNode { state: node.state, parents: node.parents.clone(), unchanged: Some(node.clone()) })
            .collect();
        // Reductions to a fixed point. Every reduction pops ≥ 1 edge, so
        // its targets are older (frozen) nodes and only the level's own
        // parent lists grow.
        let mut reductions: SmallVec<[u32; 4]> = SmallVec::new();
        let mut changed = true;
        while changed {
            changed = false;
            let mut index = 0;
            while index < level.len() {
                reductions.clear();
                match lr.cell(level[index].state, terminal) {
                    Cell::One(Action::Reduce(production)) => reductions.push(production),
                    Cell::Many(actions) => reductions.extend(actions.iter().filter_map(|action| match action {
                        Action::Reduce(production) => Some(*production),
                        _ => None,
                    })),
                    _ => {}
                }
                for &production in &reductions {
                    let shape = lr.production(production);
                    // Nodes reached by popping `len` edges: the level node's
                    // parents after the first pop, then their ancestors.
                    let mut reached: SmallVec<[Arc<GssNode>; 4]> = level[index].parents.iter().cloned().collect();
                    for _ in 1..shape.len {
                        let mut next: SmallVec<[Arc<GssNode>; 4]> = SmallVec::new();
                        for node in &reached {
                            for parent in &node.parents {
                                if !next.iter().any(|n| Arc::ptr_eq(n, parent)) {
                                    next.push(parent.clone());
                                }
                            }
                        }
                        reached = next;
                    }
                    for below in reached {
                        let goto = lr.goto(below.state, shape.lhs);
                        let position = match level.iter().position(|n| n.state == goto) {
                            Some(position) => position,
                            None => {
                                level.push(LevelNode { state: goto, parents: SmallVec::new(), unchanged: None });
                                level.len() - 1
                            }
                        };
                        let node = &mut level[position];
                        if !node.parents.iter().any(|p| Arc::ptr_eq(p, &below)) {
                            node.parents.push(below);
                            node.unchanged = None;
                            changed = true;
                        }
                    }
                }
                index += 1;
            }
        }
        // Shifts.
        let mut next: Vec<LevelNode> = Vec::new();
        for node in level {
            let shifts: SmallVec<[u32; 2]> = match lr.cell(node.state, terminal) {
                Cell::One(Action::Shift(target)) => SmallVec::from_slice(&[target]),
                Cell::Many(actions) => actions
                    .iter()
                    .filter_map(|action| match action {
                        Action::Shift(target) => Some(*target),
                        _ => None,
                    })
                    .collect(),
                _ => SmallVec::new(),
            };
            if shifts.is_empty() {
                continue;
            }
            let frozen = match node.unchanged {
                Some(original) => original,
                None => Arc::new(GssNode { state: node.state, parents: node.parents }),
            };
            for target in shifts {
                match next.iter_mut().find(|n| n.state == target) {
                    Some(existing) => existing.parents.push(frozen.clone()),
                    None => next.push(LevelNode {
                        state: target,
                        parents: SmallVec::from_elem(frozen.clone(), 1),
                        unchanged: None,
                    }),
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        Some(Frontier {
            nodes: next
                .into_iter()
                .map(|node| Arc::new(GssNode { state: node.state, parents: node.parents }))
                .collect(),
        })
    }
}

impl Parser for Frontier {
    fn initial(_tables: &Tables) -> Frontier {
        Frontier { nodes: SmallVec::from_elem(Arc::new(GssNode { state: 0, parents: SmallVec::new() }), 1) }
    }

    fn alive(&self, tables: &Tables, lex: u32) -> bool {
        self.tops().any(|top| tables.lexeme_possible(lex, top))
    }

    fn candidates(&self, tables: &Tables, lex: u32, out: &mut SmallVec<[u32; 4]>) {
        tables.cut_candidates(lex, self.tops(), out);
    }

    fn feed_alive(self, tables: &Tables, terminal: u32, lex: u32) -> Option<Frontier> {
        if !self.tops().any(|top| crate::bitset::contains(tables.lr.acceptable(top), terminal as usize)) {
            return None;
        }
        self.feed_terminal(tables, terminal).filter(|next| next.alive(tables, lex))
    }

    fn feed_alive_in_place(&mut self, tables: &Tables, terminal: u32, lex: u32) -> bool {
        match self.clone().feed_alive(tables, terminal, lex) {
            Some(next) => {
                *self = next;
                true
            }
            None => false,
        }
    }

    fn accepts_eof(&self, tables: &Tables) -> bool {
        self.tops().any(|top| tables.accepts_eof(top))
    }

    fn accepts_eof_after(&self, tables: &Tables, terminal: u32) -> bool {
        self.feed_terminal(tables, terminal).is_some_and(|next| next.accepts_eof(tables))
    }

    fn absorb(&mut self, other: &Frontier) -> bool {
        for node in &other.nodes {
            match self.nodes.iter().position(|n| n.state == node.state) {
                Some(position) => {
                    let existing = &self.nodes[position];
                    if Arc::ptr_eq(existing, node) {
                        continue;
                    }
                    let mut parents = existing.parents.clone();
                    for parent in &node.parents {
                        if !parents.iter().any(|p| Arc::ptr_eq(p, parent)) {
                            parents.push(parent.clone());
                        }
                    }
                    self.nodes[position] = Arc::new(GssNode { state: node.state, parents });
                }
                None => self.nodes.push(node.clone()),
            }
        }
        true
    }
}
