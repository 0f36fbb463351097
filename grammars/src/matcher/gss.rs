//! A graph-structured stack for the GLR driver (Tomita), used for recognition
//! only: the parser configuration is a *set* of LR stacks, represented as
//! the paths of a DAG from the frontier nodes down to the initial node.
//!
//! Nodes are immutable and shared through `Arc`, so forking a configuration
//! copies the (short) frontier list. Feeding a terminal builds a fresh
//! *level* of nodes: every reduction on the lookahead is applied, then
//! every level node that can shift the terminal does, producing the next
//! frontier. The tables come from an ε-free grammar (see
//! `lr::eliminate_epsilon`), so every reduction pops at least one edge:
//! a level node's parents are always older, frozen nodes, edges point to
//! older nodes, and there are no cycles.
//!
//! # Reductions edge by edge
//!
//! A level holds one node per LR state (equal states merge, as in Tomita's
//! and Farshi's algorithms), and an edge from a level node to an older node
//! is added at most once. Each edge is put on a worklist when it appears;
//! taking it, the reductions of its node are applied along the paths that
//! *start with that edge* only. Older nodes never change, so every path
//! from a level node is walked exactly once, and the work per byte is
//! bounded by the level's edges times the paths below them — the distinct
//! stack nodes, not the parses.
//!
//! The first version applied every reduction of every level node again
//! until nothing changed, and deduplicated parents by scanning lists. On
//! the most ambiguous grammar there is, `x ::= x x | "a"` (Catalan-many
//! parses), 400 bytes took 4.8 s and 1,000 bytes 157 s (≈ n^3.7). Edge by
//! edge it is cubic, as for any general context-free recognizer: the level
//! at byte `i` has `O(i)` edges, each with `O(i)` paths below it; 400
//! bytes take 0.49 s and 800 bytes 3.4 s (release build, `cargo run
//! --release -p trellis-grammars --example scaling catalan-unbounded`).
//! Cubic is still too slow for long inputs of such grammars, so the work
//! is counted ([`Work`]) and a byte that needs more than
//! [`MatcherLimits::max_glr_steps`](crate::MatcherLimits::max_glr_steps)
//! steps makes the matcher give up.

use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

use super::{Parser, Work};
use crate::lr::{Action, Cell};
use crate::tables::Tables;

#[derive(Debug)]
pub(crate) struct GssNode {
    state: u32,
    parents: SmallVec<[Arc<GssNode>; 2]>,
}

/// A node's identity while it is alive (nodes are shared, so equal states
/// at the same level may still be distinct nodes: merging goes by pointer).
fn identity(node: &Arc<GssNode>) -> usize {
    Arc::as_ptr(node) as usize
}

/// Lists up to this long are searched by scanning; longer ones get a hash
/// set (the pathological grammars above make parent lists as long as the
/// input).
const SCAN: usize = 8;

/// The tops of the set of stacks, one node per LR state.
#[derive(Clone, Debug)]
pub(crate) struct Frontier {
    nodes: SmallVec<[Arc<GssNode>; 2]>,
}

/// A node under construction in the current level.
struct LevelNode {
    state: u32,
    parents: SmallVec<[Arc<GssNode>; 2]>,
    /// `parents` by identity, once there are more than [`SCAN`].
    parent_set: Option<HashSet<usize>>,
    /// The original frontier node, while the parents are unchanged.
    unchanged: Option<Arc<GssNode>>,
}

impl LevelNode {
    /// Adds the edge to `parent` unless it is there; returns whether it was
    /// new.
    fn add_parent(&mut self, parent: &Arc<GssNode>) -> bool {
        let fresh = match &mut self.parent_set {
            Some(set) => set.insert(identity(parent)),
            None => {
                let fresh = !self.parents.iter().any(|p| Arc::ptr_eq(p, parent));
                if fresh && self.parents.len() >= SCAN {
                    self.parent_set = Some(self.parents.iter().chain([parent]).map(identity).collect());
                }
                fresh
            }
        };
        if fresh {
            self.parents.push(parent.clone());
            self.unchanged = None;
        }
        fresh
    }
}

/// The level being built: its nodes, found by LR state.
#[derive(Default)]
struct Level {
    nodes: Vec<LevelNode>,
    /// State → index in `nodes`, once there are more than [`SCAN`] nodes.
    by_state: Option<HashMap<u32, usize>>,
}

impl Level {
    fn find(&self, state: u32) -> Option<usize> {
        match &self.by_state {
            Some(map) => map.get(&state).copied(),
            None => self.nodes.iter().position(|node| node.state == state),
        }
    }

    fn push(&mut self, node: LevelNode) -> usize {
        let index = self.nodes.len();
        let state = node.state;
        self.nodes.push(node);
        match &mut self.by_state {
            Some(map) => {
                map.insert(state, index);
            }
            None if self.nodes.len() > SCAN => {
                self.by_state = Some(self.nodes.iter().enumerate().map(|(index, node)| (node.state, index)).collect());
            }
            None => {}
        }
        index
    }

    fn find_or_add(&mut self, state: u32) -> usize {
        match self.find(state) {
            Some(index) => index,
            None => self.push(LevelNode { state, parents: SmallVec::new(), parent_set: None, unchanged: None }),
        }
    }
}

/// Scratch space of a reduction's path search, reused across a level.
#[derive(Default)]
struct PathSearch {
    /// The nodes reached so far, each once.
    reached: Vec<Arc<GssNode>>,
    next: Vec<Arc<GssNode>>,
    seen: HashSet<usize>,
}

impl PathSearch {
    /// Finds the nodes `depth` edges below `first`, each once, in
    /// `self.reached`; false when the work budget runs out on the way.
    fn below(&mut self, first: &Arc<GssNode>, depth: u32, work: &mut Work) -> bool {
        self.reached.clear();
        self.reached.push(first.clone());
        for _ in 0..depth {
            self.next.clear();
            self.seen.clear();
            let single = self.reached.len() == 1;
            for node in &self.reached {
                if !work.spend(node.parents.len()) {
                    return false;
                }
                for parent in &node.parents {
                    // One node's parents are distinct; several nodes may
                    // share one.
                    if single || self.seen.insert(identity(parent)) {
                        self.next.push(parent.clone());
                    }
                }
            }
            std::mem::swap(&mut self.reached, &mut self.next);
        }
        true
    }
}

impl Frontier {
    fn tops(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.nodes.iter().map(|node| node.state)
    }

    /// The frontier after `terminal`; `None` when no stack can shift it,
    /// or when `work` runs out (the caller tells which).
    fn feed_terminal(&self, tables: &Tables, terminal: u32, work: &mut Work) -> Option<Frontier> {
        let lr = &tables.lr;
        let mut level = Level::default();
        // Edges whose reductions are still to apply: (level node, parent).
        let mut pending: Vec<(usize, Arc<GssNode>)> = Vec::new();
        for node in &self.nodes {
            let index = level.push(LevelNode {
                state: node.state,
                parents: node.parents.clone(),
                parent_set: None,
                unchanged: Some(node.clone()),
            });
            pending.extend(node.parents.iter().map(|parent| (index, parent.clone())));
        }
        let mut reductions: SmallVec<[u32; 4]> = SmallVec::new();
        let mut search = PathSearch::default();
        while let Some((index, first)) = pending.pop() {
            reductions.clear();
            match lr.cell(level.nodes[index].state, terminal) {
                Cell::One(Action::Reduce(production)) => reductions.push(production),
                Cell::Many(actions) => reductions.extend(actions.iter().filter_map(|action| match action {
                    Action::Reduce(production) => Some(*production),
                    _ => None,
                })),
                _ => continue,
            }
            for &production in &reductions {
                let shape = lr.production(production);
                debug_assert!(shape.len > 0, "the GLR tables come from an ε-free grammar");
                // The path starts with the edge to `first`: `len - 1` more.
                if !search.below(&first, shape.len.saturating_sub(1), work) || !work.spend(search.reached.len()) {
                    return None;
                }
                for node in &search.reached {
                    let target = level.find_or_add(lr.goto(node.state, shape.lhs));
                    if level.nodes[target].add_parent(node) {
                        pending.push((target, node.clone()));
                    }
                }
            }
        }
        // Shifts.
        if !work.spend(level.nodes.len()) {
            return None;
        }
        let mut next: Vec<LevelNode> = Vec::new();
        for node in level.nodes {
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
            // Each level node shifts into a target once, so these parents
            // are distinct.
            for target in shifts {
                match next.iter_mut().find(|n| n.state == target) {
                    Some(existing) => existing.parents.push(frozen.clone()),
                    None => next.push(LevelNode {
                        state: target,
                        parents: SmallVec::from_elem(frozen.clone(), 1),
                        parent_set: None,
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

    fn feed_alive(self, tables: &Tables, terminal: u32, lex: u32, work: &mut Work) -> Option<Frontier> {
        if !self.tops().any(|top| crate::bitset::contains(tables.lr.acceptable(top), terminal as usize)) {
            return None;
        }
        self.feed_terminal(tables, terminal, work).filter(|next| next.alive(tables, lex))
    }

    fn feed_alive_in_place(&mut self, tables: &Tables, terminal: u32, lex: u32, work: &mut Work) -> bool {
        match self.clone().feed_alive(tables, terminal, lex, work) {
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
        // Asked once per question, not per byte: not counted.
        self.feed_terminal(tables, terminal, &mut Work::unlimited()).is_some_and(|next| next.accepts_eof(tables))
    }

    fn absorb(&mut self, other: &Frontier) -> bool {
        for node in &other.nodes {
            match self.nodes.iter().position(|n| n.state == node.state) {
                Some(position) => {
                    let existing = &self.nodes[position];
                    if Arc::ptr_eq(existing, node) {
                        continue;
                    }
                    let mut merged = LevelNode {
                        state: node.state,
                        parents: existing.parents.clone(),
                        parent_set: None,
                        unchanged: None,
                    };
                    if merged.parents.len() > SCAN {
                        merged.parent_set = Some(merged.parents.iter().map(identity).collect());
                    }
                    for parent in &node.parents {
                        merged.add_parent(parent);
                    }
                    self.nodes[position] = Arc::new(GssNode { state: node.state, parents: merged.parents });
                }
                None => self.nodes.push(node.clone()),
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::{CompiledGrammar, Config, Format, MatcherLimits, Verdict};

    /// `x ::= x x | "a"`: every split of `a^n` into a binary tree is a parse
    /// (Catalan-many), the worst case for a GLR recognizer.
    const CATALAN: &str = "root ::= x\nx ::= x x | \"a\"";

    /// Long inputs of the most ambiguous grammar give up (or finish) after a
    /// bounded amount of work, instead of running for minutes. The steps
    /// per byte grow as the square of the position, so at the default
    /// limit the matcher gives up a few hundred bytes in; the verdict says
    /// where, and inputs of 1,000 and 3,000 bytes give up at the same byte:
    /// the work done before giving up does not depend on the input length.
    #[test]
    fn the_most_ambiguous_grammar_gives_up_after_bounded_work() {
        let grammar = CompiledGrammar::new(CATALAN, Format::Gbnf).expect("compiles");
        assert!(grammar.stats().generalized);
        let short = grammar.check(&[b'a'; 1000]);
        let Verdict::GaveUp { offset } = short else { panic!("1,000 bytes: {short:?}") };
        assert!((10..1000).contains(&offset), "gave up at {offset}");
        assert_eq!(grammar.check(&[b'a'; 3000]), Verdict::GaveUp { offset });
        // Below that point the matcher is exact.
        assert_eq!(grammar.check(&vec![b'a'; offset.min(40)]), Verdict::Complete);
        assert_eq!(grammar.check(b"aab"), Verdict::Rejected { offset: 2 });
    }

    /// With a larger budget the same grammar gets further: the limit is
    /// what stops it.
    #[test]
    fn the_glr_budget_is_configurable() {
        let config = |max_glr_steps| Config {
            matcher: MatcherLimits { max_glr_steps, ..MatcherLimits::default() },
            ..Config::default()
        };
        let offset = |max_glr_steps| {
            let grammar =
                CompiledGrammar::with_config(CATALAN, Format::Gbnf, &config(max_glr_steps)).expect("compiles");
            grammar.check(&[b'a'; 1000]).error_offset().expect("gives up")
        };
        assert!(offset(10_000) < offset(40_000));
        let generous = CompiledGrammar::with_config(CATALAN, Format::Gbnf, &config(usize::MAX)).expect("compiles");
        assert_eq!(generous.check(&[b'a'; 150]), Verdict::Complete);
    }
}
