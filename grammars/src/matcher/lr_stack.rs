//! A persistent LR stack for the deterministic driver.
//!
//! The newest states live in a small inline array; older ones are spilled,
//! a few at a time, into immutable chunks shared through `Arc`. Cloning a
//! stack (a fork) copies at most [`TOP`] integers and bumps one reference
//! count, whatever the depth; pushes and pops touch only the inline part,
//! except for one allocation every [`SPILL`] pushes and one chunk copy when
//! pops run out of inline states.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use smallvec::SmallVec;

use super::{Parser, Work};
use crate::lr::{Action, Cell};
use crate::tables::Tables;

/// Inline capacity.
const TOP: usize = 16;
/// States moved to a shared chunk when the inline part is full.
const SPILL: usize = 8;

#[derive(Debug)]
struct Chunk {
    /// Oldest first.
    states: Box<[u32]>,
    below: Option<Arc<Chunk>>,
    /// Set on the chunks of a [`LrStack::probed`] stack: reading this
    /// chunk raises the probe to the chunk's level.
    probe: Option<(Arc<AtomicU8>, u8)>,
}

impl Chunk {
    /// Notes on the probe, if any, that this chunk's states were read.
    #[inline]
    fn read(&self) {
        if let Some((probe, level)) = &self.probe {
            probe.fetch_max(*level, Ordering::Relaxed);
        }
    }
}

/// How many top states a [`LrStack::probed`] stack keeps apart: reading
/// below `PROBE_DEPTHS[i]` states from the top raises the probe to level
/// `i + 1` (past the last, to "the whole stack").
pub(crate) const PROBE_DEPTHS: [usize; 3] = [4, 8, 16];

#[derive(Debug)]
pub(crate) struct LrStack {
    /// Newest last; never empty for a live stack.
    top: SmallVec<[u32; TOP]>,
    below: Option<Arc<Chunk>>,
}

impl Clone for LrStack {
    /// A copy of the inline states (SmallVec's derived clone goes through an
    /// iterator; stacks are cloned at every lexeme cut of a mask walk).
    fn clone(&self) -> LrStack {
        LrStack { top: SmallVec::from_slice(&self.top), below: self.below.clone() }
    }

    fn clone_from(&mut self, source: &LrStack) {
        self.top.clear();
        self.top.extend_from_slice(&source.top);
        self.below.clone_from(&source.below);
    }
}

impl LrStack {
    fn bottom() -> LrStack {
        let mut top = SmallVec::new();
        top.push(0);
        LrStack { top, below: None }
    }

    #[inline]
    pub(crate) fn top_state(&self) -> u32 {
        // The inline part is refilled whenever it empties.
        self.top.last().copied().unwrap_or(0)
    }

    /// Appends every state, top first.
    pub(crate) fn extend_states(&self, out: &mut SmallVec<[u32; 24]>) {
        out.extend(self.top.iter().rev().copied());
        let mut chunk = self.below.as_deref();
        while let Some(c) = chunk {
            out.extend(c.states.iter().rev().copied());
            chunk = c.below.as_deref();
        }
    }

    /// The same stack laid out so that a probe records how deep anything
    /// done with it (or with stacks derived from it: forks, pushes, pops)
    /// reads: the top [`PROBE_DEPTHS`]`[0]` states inline, the rest in one
    /// chunk per further depth, each of which raises the probe when read.
    /// The probe's level `i` means the top `PROBE_DEPTHS[i]` states were
    /// all that was read ([`PROBE_DEPTHS`]`.len()`: deeper). `None` when
    /// the stack is no deeper than the first depth (then it is all read).
    pub(crate) fn probed(&self) -> Option<(LrStack, Arc<AtomicU8>)> {
        let mut states: SmallVec<[u32; 24]> = SmallVec::new();
        self.extend_states(&mut states);
        if states.len() <= PROBE_DEPTHS[0] {
            return None;
        }
        // `states` is top first; chunks hold oldest first.
        let probe = Arc::new(AtomicU8::new(0));
        let bounds: SmallVec<[usize; 5]> = PROBE_DEPTHS.iter().copied().chain([usize::MAX]).collect();
        let mut below: Option<Arc<Chunk>> = None;
        for level in (1..bounds.len()).rev() {
            let (from, to) = (bounds[level - 1], bounds[level].min(states.len()));
            if from >= to {
                continue;
            }
            let chunk_states: Box<[u32]> = states[from..to].iter().rev().copied().collect();
            below = Some(Arc::new(Chunk { states: chunk_states, below, probe: Some((probe.clone(), level as u8)) }));
        }
        let top = states[..PROBE_DEPTHS[0]].iter().rev().copied().collect();
        Some((LrStack { top, below }, probe))
    }

    /// The state `depth` entries below the top (0 is the top).
    fn state_at(&self, depth: usize) -> Option<u32> {
        if depth < self.top.len() {
            return Some(self.top[self.top.len() - 1 - depth]);
        }
        let mut depth = depth - self.top.len();
        let mut chunk = self.below.as_deref();
        while let Some(c) = chunk {
            c.read();
            if depth < c.states.len() {
                return Some(c.states[c.states.len() - 1 - depth]);
            }
            depth -= c.states.len();
            chunk = c.below.as_deref();
        }
        None
    }

    #[inline]
    fn push(&mut self, state: u32) {
        if self.top.len() == TOP {
            let spilled: Box<[u32]> = self.top[..SPILL].into();
            self.below = Some(Arc::new(Chunk { states: spilled, below: self.below.take(), probe: None }));
            self.top.drain(..SPILL);
        }
        self.top.push(state);
    }

    fn pop(&mut self, mut count: usize) {
        loop {
            if count < self.top.len() {
                let keep = self.top.len() - count;
                self.top.truncate(keep);
                return;
            }
            count -= self.top.len();
            self.top.clear();
            let Some(chunk) = self.below.take() else { return };
            chunk.read();
            self.top.extend_from_slice(&chunk.states);
            self.below = chunk.below.clone();
            if count == 0 {
                return;
            }
        }
    }

    /// Feeds one terminal: reductions, then the shift. Returns false on a
    /// syntax error (the stack is then unspecified and must be dropped).
    fn feed_in_place(&mut self, tables: &Tables, terminal: u32) -> bool {
        let lr = &tables.lr;
        loop {
            match lr.cell(self.top_state(), terminal) {
                Cell::One(Action::Shift(next)) => {
                    self.push(next);
                    return true;
                }
                Cell::One(Action::Reduce(production)) => {
                    let shape = lr.production(production);
                    self.pop(shape.len as usize);
                    let next = lr.goto(self.top_state(), shape.lhs);
                    self.push(next);
                }
                // Accept only appears on end of input; conflicted cells only
                // in tables driven by the GLR driver.
                Cell::One(Action::Accept) | Cell::Many(_) | Cell::Error => return false,
            }
        }
    }

    /// The top state after feeding `terminal`, without building the new
    /// stack: reductions are simulated over a small overlay.
    fn peek_after(&self, tables: &Tables, terminal: u32) -> Option<u32> {
        let lr = &tables.lr;
        let mut overlay: SmallVec<[u32; 8]> = SmallVec::new();
        let mut popped = 0usize;
        loop {
            let top = match overlay.last() {
                Some(&state) => state,
                None => self.state_at(popped)?,
            };
            match lr.cell(top, terminal) {
                Cell::One(Action::Shift(next)) => return Some(next),
                Cell::One(Action::Reduce(production)) => {
                    let shape = lr.production(production);
                    let mut remaining = shape.len as usize;
                    let from_overlay = remaining.min(overlay.len());
                    overlay.truncate(overlay.len() - from_overlay);
                    remaining -= from_overlay;
                    popped += remaining;
                    let below = match overlay.last() {
                        Some(&state) => state,
                        None => self.state_at(popped)?,
                    };
                    overlay.push(lr.goto(below, shape.lhs));
                }
                Cell::One(Action::Accept) | Cell::Many(_) | Cell::Error => return None,
            }
        }
    }
}

impl Parser for LrStack {
    fn initial(_tables: &Tables) -> LrStack {
        LrStack::bottom()
    }

    #[inline]
    fn alive(&self, tables: &Tables, lex: u32) -> bool {
        tables.lexeme_possible(lex, self.top_state())
    }

    fn candidates(&self, tables: &Tables, lex: u32, out: &mut SmallVec<[u32; 4]>) {
        tables.cut_candidates(lex, std::iter::once(self.top_state()), out);
    }

    // Deterministic reductions are amortized O(1) per terminal: no work is
    // counted.
    fn feed_alive(mut self, tables: &Tables, terminal: u32, lex: u32, _work: &mut Work) -> Option<LrStack> {
        (self.feed_in_place(tables, terminal) && self.alive(tables, lex)).then_some(self)
    }

    #[inline]
    fn feed_alive_in_place(&mut self, tables: &Tables, terminal: u32, lex: u32, _work: &mut Work) -> bool {
        self.feed_in_place(tables, terminal) && self.alive(tables, lex)
    }

    fn accepts_eof(&self, tables: &Tables) -> bool {
        tables.accepts_eof(self.top_state())
    }

    fn accepts_eof_after(&self, tables: &Tables, terminal: u32) -> bool {
        self.peek_after(tables, terminal).is_some_and(|top| tables.accepts_eof(top))
    }

    fn absorb(&mut self, other: &LrStack) -> bool {
        let same_below = match (&self.below, &other.below) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_below && self.top == other.top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(stack: &LrStack) -> Vec<u32> {
        (0..).map_while(|depth| stack.state_at(depth)).collect()
    }

    #[test]
    fn push_pop_across_chunks() {
        let mut stack = LrStack::bottom();
        for state in 1..=100 {
            stack.push(state);
        }
        assert_eq!(stack.top_state(), 100);
        assert_eq!(states(&stack).len(), 101);
        let fork = stack.clone();
        stack.pop(60);
        assert_eq!(stack.top_state(), 40);
        assert_eq!(states(&stack), (0..=40).rev().collect::<Vec<_>>());
        // The fork is untouched.
        assert_eq!(fork.top_state(), 100);
        assert_eq!(states(&fork).len(), 101);
        stack.pop(40);
        assert_eq!(states(&stack), vec![0]);
        stack.push(7);
        assert_eq!(states(&stack), vec![7, 0]);
    }

    #[test]
    fn probes_report_how_deep_the_stack_was_read() {
        let mut stack = LrStack::bottom();
        for state in 1..=40 {
            stack.push(state);
        }
        let (probed, probe) = stack.probed().expect("deep enough");
        // Pops, each with the top and the probe's level after it.
        let check = |stack: &mut LrStack, pops: &[(usize, u32, u8)]| {
            for &(count, top, level) in pops {
                stack.pop(count);
                assert_eq!((stack.top_state(), probe.load(Ordering::Relaxed)), (top, level), "after pop({count})");
            }
        };
        // The top four states are free to read; popping the fourth exposes
        // the fifth: the top eight were read; then the top sixteen.
        check(&mut probed.clone(), &[(3, 37, 0), (1, 36, 1), (4, 32, 2)]);
        // Pushes that spill and the pops that take them back read nothing
        // below the top four; forks share the probe; past the top sixteen
        // is the whole stack.
        let mut other = probed.clone();
        probe.store(0, Ordering::Relaxed);
        for state in 100..120 {
            other.push(state);
        }
        check(&mut other, &[(20, 40, 0), (12, 28, 2), (3, 25, 2), (1, 24, 3)]);
        // The layout keeps the states.
        assert_eq!(states(&probed), states(&stack));
        // Too short to probe: the whole stack is the top.
        let mut short = LrStack::bottom();
        (1..=3).for_each(|state| short.push(state));
        assert!(short.probed().is_none());
    }
}
