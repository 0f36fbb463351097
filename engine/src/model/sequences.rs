//! [`SequenceTable`]: the live sequences of one model, addressed by [`SeqId`].

use super::{ModelError, SeqId};

/// A slot map from [`SeqId`] to per-sequence state `S`.
///
/// Ids are `(slot, generation)` pairs: a dropped sequence's slot is reused,
/// with a new generation, so a stale id is reported as
/// [`ModelError::UnknownSequence`] instead of silently reaching another
/// sequence. Every operation is O(1).
#[derive(Debug)]
pub(crate) struct SequenceTable<S> {
    slots: Vec<Slot<S>>,
    /// Slots whose state is `None`, reused last-in first-out.
    free: Vec<u32>,
    live: usize,
}

#[derive(Debug)]
struct Slot<S> {
    generation: u32,
    state: Option<S>,
}

impl<S> Default for SequenceTable<S> {
    fn default() -> Self {
        SequenceTable { slots: Vec::new(), free: Vec::new(), live: 0 }
    }
}

impl<S> SequenceTable<S> {
    pub(crate) fn insert(&mut self, state: S) -> SeqId {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            let entry = &mut self.slots[slot as usize];
            entry.generation = entry.generation.wrapping_add(1);
            entry.state = Some(state);
            return SeqId { slot, generation: entry.generation };
        }
        let slot = u32::try_from(self.slots.len()).expect("more than 2^32 live sequences");
        self.slots.push(Slot { generation: 0, state: Some(state) });
        SeqId { slot, generation: 0 }
    }

    pub(crate) fn get(&self, seq: SeqId) -> Result<&S, ModelError> {
        self.slots
            .get(seq.slot as usize)
            .filter(|entry| entry.generation == seq.generation)
            .and_then(|entry| entry.state.as_ref())
            .ok_or(ModelError::UnknownSequence { seq })
    }

    pub(crate) fn get_mut(&mut self, seq: SeqId) -> Result<&mut S, ModelError> {
        self.slots
            .get_mut(seq.slot as usize)
            .filter(|entry| entry.generation == seq.generation)
            .and_then(|entry| entry.state.as_mut())
            .ok_or(ModelError::UnknownSequence { seq })
    }

    pub(crate) fn remove(&mut self, seq: SeqId) -> Result<S, ModelError> {
        let state = self
            .slots
            .get_mut(seq.slot as usize)
            .filter(|entry| entry.generation == seq.generation)
            .and_then(|entry| entry.state.take())
            .ok_or(ModelError::UnknownSequence { seq })?;
        self.free.push(seq.slot);
        self.live -= 1;
        Ok(state)
    }

    /// Calls `f` on every live sequence's state.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&S)) {
        for state in self.slots.iter().filter_map(|entry| entry.state.as_ref()) {
            f(state);
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Checks that `seqs` are live and pairwise distinct (one batched step
    /// extends each sequence once).
    pub(crate) fn check_batch(&self, seqs: impl Iterator<Item = SeqId>) -> Result<(), ModelError> {
        let mut seen = vec![false; self.slots.len()];
        for seq in seqs {
            self.get(seq)?;
            let mark = &mut seen[seq.slot as usize];
            if *mark {
                return Err(ModelError::DuplicateSequence { seq });
            }
            *mark = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_are_rejected_after_slot_reuse() {
        let mut table = SequenceTable::default();
        let a = table.insert("a");
        table.remove(a).unwrap();
        let b = table.insert("b");
        assert_eq!(a.slot, b.slot);
        assert!(matches!(table.get(a), Err(ModelError::UnknownSequence { .. })));
        assert_eq!(*table.get(b).unwrap(), "b");
        assert_eq!(table.live(), 1);
    }

    #[test]
    fn batches_must_not_repeat_a_sequence() {
        let mut table = SequenceTable::default();
        let a = table.insert(1);
        let b = table.insert(2);
        table.check_batch([a, b].into_iter()).unwrap();
        assert!(matches!(
            table.check_batch([a, b, a].into_iter()),
            Err(ModelError::DuplicateSequence { seq }) if seq == a
        ));
    }
}
