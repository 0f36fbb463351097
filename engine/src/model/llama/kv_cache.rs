//! A paged key/value cache whose forks share memory copy-on-write.
//!
//! # Why paged
//!
//! SMC forks particles hundreds of times per step (design.md §4), and a
//! SmolLM2 sequence holds 46 KB of keys and values per token (30 layers × 2
//! × 3 KV heads × 64 dims × 4 bytes): a 500-token sequence is 23 MB, so a
//! deep copy per fork would cost more than the decode step itself. Instead a
//! sequence's cache is a list of fixed-size blocks of
//! [`BLOCK_LEN`] positions, each behind an `Arc`:
//!
//! - **fork** clones the block list: one reference-count increment per block,
//!   no key/value data copied;
//! - **append** writes into the last block if this sequence owns it alone;
//!   if the block is shared (a fork's partial tail), it is first copied
//!   (`Arc::make_mut`), and only its filled positions are copied. Full blocks
//!   are never written again, so they stay shared forever;
//! - **drop** releases the references; a block is freed when its last
//!   sequence goes.
//!
//! So the cost of a fork is O(len / BLOCK_LEN) pointer copies at fork time
//! plus at most one partial-block copy (< `BLOCK_LEN` positions) the first
//! time each sharer appends. The partial-block copy is what a smaller block
//! would save; the per-block overhead in attention is what it would cost.
//!
//! # Layout
//!
//! A block is `[layer][key|value][kv_head][position][head_dim]` as `f32`:
//! the keys one query head reads in one layer are `BLOCK_LEN · head_dim`
//! consecutive floats (4 KB for SmolLM2), read front to back. The first
//! layout, position-major (`[position][layer][key|value]…`), put
//! consecutive positions of one layer 46 KB apart, one page each, so
//! attention stalled on the cache and TLB misses. The price of this one
//! is that a block's filled part is no longer a prefix of its buffer: a
//! block is allocated whole (untouched pages cost no memory), and the
//! copy-on-write copy copies the filled positions of each of its
//! `layers · 2 · kv_heads` runs.

use std::sync::Arc;

/// Positions per block.
pub(crate) const BLOCK_LEN: usize = 16;

/// The dimensions of one model's cache entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KvShape {
    pub(crate) layers: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

impl KvShape {
    /// Floats stored per position (all layers, keys and values).
    pub(crate) fn per_position(&self) -> usize {
        self.layers * 2 * self.kv_heads * self.head_dim
    }

    /// Floats of one block.
    fn block_floats(&self) -> usize {
        BLOCK_LEN * self.per_position()
    }

    /// Where, in a block, the run of `BLOCK_LEN` keys (`value` false) or
    /// values of `layer` and `kv_head` starts; position `p` of the block is
    /// `head_dim` floats at `run + p · head_dim`.
    pub(crate) fn run(&self, layer: usize, value: bool, kv_head: usize) -> usize {
        ((layer * 2 + usize::from(value)) * self.kv_heads + kv_head) * BLOCK_LEN * self.head_dim
    }
}

/// `BLOCK_LEN` positions of keys and values, of which the first `filled`
/// are written.
#[derive(Debug)]
struct KvBlock {
    data: Vec<f32>,
    filled: usize,
    head_dim: usize,
}

impl Clone for KvBlock {
    /// The copy-on-write copy: only the filled positions of each run are
    /// copied, into a zeroed buffer (whose pages the allocator maps lazily).
    fn clone(&self) -> Self {
        let mut data = vec![0.0f32; self.data.len()];
        let run = BLOCK_LEN * self.head_dim;
        let filled = self.filled * self.head_dim;
        for (to, from) in data.chunks_exact_mut(run).zip(self.data.chunks_exact(run)) {
            to[..filled].copy_from_slice(&from[..filled]);
        }
        KvBlock { data, filled: self.filled, head_dim: self.head_dim }
    }
}

/// One sequence's keys and values, in shared blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct KvCache {
    blocks: Vec<Arc<KvBlock>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `count` more positions (zeroed until written). A
    /// shared tail block is copied first, so other sequences never see
    /// these positions.
    pub(crate) fn grow(&mut self, shape: &KvShape, count: usize) {
        let mut remaining = count;
        while remaining > 0 {
            let room = BLOCK_LEN - self.len % BLOCK_LEN;
            if room == BLOCK_LEN {
                let data = vec![0.0f32; shape.block_floats()];
                self.blocks.push(Arc::new(KvBlock { data, filled: 0, head_dim: shape.head_dim }));
            }
            let take = room.min(remaining);
            if let Some(block) = self.blocks.last_mut() {
                Arc::make_mut(block).filled += take;
            }
            self.len += take;
            remaining -= take;
        }
    }

    /// Drops positions `len..`, keeping the first `len`. Positions dropped
    /// from a block this sequence still holds are zeroed, so that the
    /// block reads as if they had never been there.
    pub(crate) fn truncate(&mut self, shape: &KvShape, len: usize) {
        if len >= self.len {
            return;
        }
        let blocks = len.div_ceil(BLOCK_LEN);
        self.blocks.truncate(blocks);
        if let Some(last) = self.blocks.last_mut() {
            let keep = len - (blocks - 1) * BLOCK_LEN;
            if last.filled > keep {
                let block = Arc::make_mut(last);
                let run = BLOCK_LEN * shape.head_dim;
                for chunk in block.data.chunks_exact_mut(run) {
                    chunk[keep * shape.head_dim..block.filled * shape.head_dim].fill(0.0);
                }
                block.filled = keep;
            }
        }
        self.len = len;
    }

    /// Writes one position's key and value (each `kv_heads × head_dim`) of
    /// `layer`. `position` must be below `len()`.
    pub(crate) fn write(&mut self, shape: &KvShape, layer: usize, position: usize, key: &[f32], value: &[f32]) {
        debug_assert!(position < self.len);
        let head_dim = shape.head_dim;
        let at = (position % BLOCK_LEN) * head_dim;
        let block = Arc::make_mut(&mut self.blocks[position / BLOCK_LEN]);
        for (kv_head, (key, value)) in key.chunks_exact(head_dim).zip(value.chunks_exact(head_dim)).enumerate() {
            let run = shape.run(layer, false, kv_head) + at;
            block.data[run..run + head_dim].copy_from_slice(key);
            let run = shape.run(layer, true, kv_head) + at;
            block.data[run..run + head_dim].copy_from_slice(value);
        }
    }

    /// The blocks in order, each with its filled positions: block `i`
    /// holds positions `i · BLOCK_LEN ..`, laid out as [`KvShape::run`]
    /// says.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = (&[f32], usize)> {
        self.blocks.iter().map(|block| (block.data.as_slice(), block.filled))
    }

    /// Calls `f(block identity, bytes)` for each block, for memory
    /// accounting that counts shared blocks once.
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(*const (), usize)) {
        for block in &self.blocks {
            let bytes = block.data.len() * std::mem::size_of::<f32>();
            f(Arc::as_ptr(block).cast(), bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: KvShape = KvShape { layers: 2, kv_heads: 1, head_dim: 2 };

    fn filled(len: usize) -> KvCache {
        let mut cache = KvCache::default();
        cache.grow(&SHAPE, len);
        for position in 0..len {
            for layer in 0..SHAPE.layers {
                let x = (position * 10 + layer) as f32;
                cache.write(&SHAPE, layer, position, &[x, x], &[-x, -x]);
            }
        }
        cache
    }

    /// Every filled position's floats, position by position, in the
    /// order `[layer][key|value][kv_head][head_dim]`.
    fn contents(cache: &KvCache) -> Vec<f32> {
        let mut out = Vec::new();
        for (block, filled) in cache.blocks() {
            for p in 0..filled {
                for layer in 0..SHAPE.layers {
                    for value in [false, true] {
                        for kv_head in 0..SHAPE.kv_heads {
                            let at = SHAPE.run(layer, value, kv_head) + p * SHAPE.head_dim;
                            out.extend_from_slice(&block[at..at + SHAPE.head_dim]);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn positions_span_blocks() {
        let cache = filled(BLOCK_LEN + 3);
        assert_eq!(cache.len(), BLOCK_LEN + 3);
        let sizes: Vec<usize> = cache.blocks().map(|(_, filled)| filled).collect();
        assert_eq!(sizes, [BLOCK_LEN, 3]);
        let (block, _) = cache.blocks().nth(1).expect("two blocks");
        let position = BLOCK_LEN + 1;
        let at = SHAPE.run(1, true, 0) + (position % BLOCK_LEN) * SHAPE.head_dim;
        assert_eq!(block[at], -((position * 10 + 1) as f32));
        let data = contents(&cache);
        let at = position * SHAPE.per_position() + 3 * SHAPE.head_dim;
        assert_eq!(data[at], -((position * 10 + 1) as f32));
    }

    #[test]
    fn fork_shares_blocks_and_copies_only_on_write() {
        let original = filled(BLOCK_LEN + 3);
        let mut fork = original.clone();
        assert!(Arc::ptr_eq(&original.blocks[1], &fork.blocks[1]));
        fork.grow(&SHAPE, 1);
        // The full block stays shared, the partial tail was copied.
        assert!(Arc::ptr_eq(&original.blocks[0], &fork.blocks[0]));
        assert!(!Arc::ptr_eq(&original.blocks[1], &fork.blocks[1]));
        fork.write(&SHAPE, 0, BLOCK_LEN + 3, &[7.0, 7.0], &[7.0, 7.0]);
        assert_eq!(original.len(), BLOCK_LEN + 3);
        assert_eq!(contents(&original), contents(&filled(BLOCK_LEN + 3)));
        assert_eq!(&contents(&fork)[..contents(&original).len()], &contents(&original)[..]);
    }

    #[test]
    fn truncate_undoes_grow() {
        let mut cache = filled(BLOCK_LEN - 1);
        let before = contents(&cache);
        cache.grow(&SHAPE, 3);
        let grown: Vec<Vec<f32>> = cache.blocks().map(|(block, _)| block.to_vec()).collect();
        cache.truncate(&SHAPE, BLOCK_LEN - 1);
        assert_eq!(cache.len(), BLOCK_LEN - 1);
        assert_eq!(contents(&cache), before);
        assert_eq!(cache.blocks().map(|(block, _)| block.to_vec()).collect::<Vec<_>>()[0], grown[0][..]);
        let mut written = filled(BLOCK_LEN);
        written.truncate(&SHAPE, 2);
        let (block, _) = written.blocks().next().expect("a block");
        assert_eq!(block, filled(2).blocks().next().expect("a block").0, "dropped positions read as zeros");
        cache.truncate(&SHAPE, 0);
        assert_eq!(cache.blocks().count(), 0);
    }

    #[test]
    fn dropping_a_fork_releases_its_references() {
        let original = filled(BLOCK_LEN * 2);
        let fork = original.clone();
        assert_eq!(Arc::strong_count(&original.blocks[0]), 2);
        drop(fork);
        assert_eq!(Arc::strong_count(&original.blocks[0]), 1);
    }
}
