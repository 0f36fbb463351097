//! Fixed-width bitsets over terminal ids, stored as rows of one flat array.
//!
//! The lexer and the LR tables each keep one set per state (terminals a DFA
//! state can still reach, terminals an LR state can accept); the matcher's
//! inner loop intersects two rows. Rows are plain `&[u64]` slices of the
//! same width, so that intersection is a few word ANDs without allocation.

/// A matrix of bits: `rows` sets, each `words` 64-bit words wide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BitMatrix {
    words: usize,
    data: Vec<u64>,
}

impl BitMatrix {
    /// `rows` empty sets able to hold ids `0..bits`.
    pub(crate) fn new(rows: usize, bits: usize) -> BitMatrix {
        let words = words_for(bits);
        BitMatrix { words, data: vec![0; rows * words] }
    }

    pub(crate) fn words(&self) -> usize {
        self.words
    }

    pub(crate) fn rows(&self) -> usize {
        self.data.len().checked_div(self.words).unwrap_or(0)
    }

    #[inline]
    pub(crate) fn row(&self, row: usize) -> &[u64] {
        &self.data[row * self.words..(row + 1) * self.words]
    }

    #[inline]
    pub(crate) fn row_mut(&mut self, row: usize) -> &mut [u64] {
        &mut self.data[row * self.words..(row + 1) * self.words]
    }

    pub(crate) fn insert(&mut self, row: usize, bit: usize) {
        self.row_mut(row)[bit / 64] |= 1 << (bit % 64);
    }

    /// ORs row `from` into row `into`; returns whether `into` changed.
    pub(crate) fn union_rows(&mut self, into: usize, from: usize) -> bool {
        let mut changed = false;
        for word in 0..self.words {
            let value = self.data[from * self.words + word];
            let target = &mut self.data[into * self.words + word];
            let merged = *target | value;
            changed |= merged != *target;
            *target = merged;
        }
        changed
    }
}

impl BitMatrix {
    /// ORs row `from` of `other` (same width) into row `into`; returns
    /// whether it changed.
    pub(crate) fn union_rows_from(&mut self, into: usize, other: &BitMatrix, from: usize) -> bool {
        let mut changed = false;
        for (target, value) in self.row_mut(into).iter_mut().zip(other.row(from)) {
            let merged = *target | value;
            changed |= merged != *target;
            *target = merged;
        }
        changed
    }
}

pub(crate) fn words_for(bits: usize) -> usize {
    bits.div_ceil(64).max(1)
}

#[inline]
pub(crate) fn contains(set: &[u64], bit: usize) -> bool {
    set.get(bit / 64).is_some_and(|word| word & (1 << (bit % 64)) != 0)
}

#[inline]
pub(crate) fn intersects(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

#[inline]
pub(crate) fn is_empty(set: &[u64]) -> bool {
    set.iter().all(|&word| word == 0)
}

/// The ids of the set bits, in increasing order.
pub(crate) fn ones(set: &[u64]) -> impl Iterator<Item = usize> + '_ {
    set.iter().enumerate().flat_map(|(index, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            if word == 0 {
                return None;
            }
            let bit = word.trailing_zeros() as usize;
            word &= word - 1;
            Some(index * 64 + bit)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_independent_sets() {
        let mut matrix = BitMatrix::new(3, 130);
        assert_eq!(matrix.words(), 3);
        matrix.insert(0, 1);
        matrix.insert(0, 129);
        matrix.insert(2, 64);
        assert!(contains(matrix.row(0), 129));
        assert!(!contains(matrix.row(1), 129));
        assert_eq!(ones(matrix.row(0)).collect::<Vec<_>>(), vec![1, 129]);
        assert!(!intersects(matrix.row(0), matrix.row(2)));
        assert!(matrix.union_rows(1, 0));
        assert!(!matrix.union_rows(1, 0));
        assert!(intersects(matrix.row(0), matrix.row(1)));
        assert!(!is_empty(matrix.row(2)));
    }
}
