//! LR(1) parse tables over the grammar's terminals.
//!
//! Trellis builds **canonical LR(1)** tables (Knuth's construction), then
//! merges states whose behaviour is identical (a bisimulation: same actions
//! on every lookahead, successors merged alike). The result behaves exactly
//! like the canonical automaton, which has a property the matcher relies on:
//! a canonical LR(1) parser never reduces on a lookahead it cannot
//! eventually shift. So the terminals a stack can accept next are exactly
//! the non-error entries of its top state's row — an O(1) lookup, where
//! LALR or Pager-merged tables would need a simulation per terminal. The
//! price is more states than LALR on some grammars; the limit
//! [`LrLimits::max_states`] keeps that bounded with a clear error.
//!
//! Conflicts do not stop compilation: the cell keeps every action, and the
//! matcher drives such tables with a GLR driver. [`Conflict`]s are kept
//! with the items involved for `--explain`.

mod build;
mod epsilon;
mod explain;
mod sets;

pub(crate) use build::{build_automaton, build_tables};
pub(crate) use epsilon::eliminate_epsilon;
pub use explain::Conflict;
pub(crate) use explain::explain_conflicts;
pub(crate) use sets::follow_sets;

use crate::bitset::BitMatrix;

/// Size limits for LR table construction.
#[derive(Clone, Copy, Debug)]
pub struct LrLimits {
    /// Maximum number of canonical LR(1) states before merging.
    pub max_states: usize,
}

impl Default for LrLimits {
    fn default() -> LrLimits {
        LrLimits { max_states: 100_000 }
    }
}

/// One parser action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Shift(u32),
    Reduce(u32),
    Accept,
}

const TAG_MASK: u32 = 0xC000_0000;
const TAG_SHIFT: u32 = 0x4000_0000;
const TAG_REDUCE: u32 = 0x8000_0000;
const TAG_MULTI: u32 = 0xC000_0000;
const ERROR: u32 = 0;
const ACCEPT: u32 = 1;
/// Marks "no goto" in the goto table.
pub(crate) const NO_STATE: u32 = u32::MAX;

/// A production as the driver needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProductionShape {
    pub lhs: u32,
    pub len: u32,
}

/// Action and goto tables. Terminal `t` is column `t`; end of input is
/// column `terminal_count`.
#[derive(Clone, Debug)]
pub struct LrTables {
    terminal_count: usize,
    columns: usize,
    nonterminal_count: usize,
    state_count: usize,
    /// Packed actions, `actions[state * columns + column]`.
    actions: Vec<u32>,
    /// Action lists of conflicted cells.
    multi: Vec<Vec<Action>>,
    gotos: Vec<u32>,
    productions: Vec<ProductionShape>,
    /// Per state: the terminals (not end of input) with a non-error action.
    acceptable: BitMatrix,
}

impl LrTables {
    pub fn state_count(&self) -> usize {
        self.state_count
    }

    /// The end-of-input column.
    pub fn eof(&self) -> u32 {
        self.terminal_count as u32
    }

    #[cfg(test)]
    pub fn has_conflicts(&self) -> bool {
        !self.multi.is_empty()
    }

    #[inline]
    pub(crate) fn packed(&self, state: u32, column: u32) -> u32 {
        self.actions[state as usize * self.columns + column as usize]
    }

    /// Every action of a cell (empty for an error), for tests; the drivers
    /// use the allocation-free `cell`.
    #[cfg(test)]
    pub fn actions(&self, state: u32, column: u32) -> Vec<Action> {
        match self.cell(state, column) {
            Cell::Error => Vec::new(),
            Cell::One(action) => vec![action],
            Cell::Many(actions) => actions.to_vec(),
        }
    }

    #[inline]
    pub(crate) fn cell(&self, state: u32, column: u32) -> Cell<'_> {
        match decode(self.packed(state, column)) {
            Decoded::Error => Cell::Error,
            Decoded::One(action) => Cell::One(action),
            Decoded::Multi(index) => Cell::Many(&self.multi[index as usize]),
        }
    }

    #[inline]
    pub(crate) fn goto(&self, state: u32, nonterminal: u32) -> u32 {
        self.gotos[state as usize * self.nonterminal_count + nonterminal as usize]
    }

    #[inline]
    pub(crate) fn production(&self, index: u32) -> ProductionShape {
        self.productions[index as usize]
    }

    /// Terminals with a non-error action in `state`.
    #[inline]
    pub(crate) fn acceptable(&self, state: u32) -> &[u64] {
        self.acceptable.row(state as usize)
    }

    /// Whether end of input has a non-error action (so, with exact tables,
    /// the stack can finish).
    #[inline]
    pub(crate) fn accepts_eof(&self, state: u32) -> bool {
        self.packed(state, self.eof()) != ERROR
    }

    pub fn memory_usage(&self) -> usize {
        self.actions.len() * 4
            + self.gotos.len() * 4
            + self.multi.iter().map(|m| m.len() * 8 + 24).sum::<usize>()
            + self.acceptable.rows() * self.acceptable.words() * 8
    }
}

/// A decoded table cell.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'t> {
    Error,
    One(Action),
    Many(&'t [Action]),
}

enum Decoded {
    Error,
    One(Action),
    Multi(u32),
}

#[inline]
fn decode(packed: u32) -> Decoded {
    match packed & TAG_MASK {
        TAG_SHIFT => Decoded::One(Action::Shift(packed & !TAG_MASK)),
        TAG_REDUCE => Decoded::One(Action::Reduce(packed & !TAG_MASK)),
        TAG_MULTI => Decoded::Multi(packed & !TAG_MASK),
        _ if packed == ACCEPT => Decoded::One(Action::Accept),
        _ => Decoded::Error,
    }
}

fn encode(action: Action) -> u32 {
    match action {
        Action::Shift(state) => TAG_SHIFT | state,
        Action::Reduce(production) => TAG_REDUCE | production,
        Action::Accept => ACCEPT,
    }
}
