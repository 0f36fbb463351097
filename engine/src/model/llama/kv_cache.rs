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
//! Within a block, positions are contiguous and each position holds
//! `[layer][key|value][kv_head][head_dim]` as `f32`. Position-major order
//! makes a block's filled part a prefix of its buffer, so copy-on-write
//! copies exactly the filled positions, and appending needs no zeroing of
//! positions that are not yet there.

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

    /// Offset of layer `layer`'s keys (all KV heads) within a position.
    pub(crate) fn key_offset(&self, layer: usize) -> usize {
        layer * 2 * self.kv_heads * self.head_dim
    }

    /// Offset of layer `layer`'s values (all KV heads) within a position.
    pub(crate) fn value_offset(&self, layer: usize) -> usize {
        self.key_offset(layer) + self.kv_heads * self.head_dim
    }
}

/// `BLOCK_LEN` positions of keys and values; `data.len()` is the filled part.
#[derive(Debug)]
struct KvBlock {
    data: Vec<f32>,
}

impl Clone for KvBlock {
    /// The copy-on-write copy: only the filled positions are copied, into a
    /// buffer with room for the whole block so appends do not reallocate.
    fn clone(&self) -> Self {
        let mut data = Vec::with_capacity(self.data.capacity());
        data.extend_from_slice(&self.data);
        KvBlock { data }
    }
}

/// One sequence's cache: its blocks and its length in positions.
///
/// Invariant: every block but the last holds exactly `BLOCK_LEN` positions,
/// the last holds `len - BLOCK_LEN * (blocks - 1)` (at least one), and a
/// block is only mutated while this cache is its sole owner. Two caches that
/// share a block therefore agree on its contents.
#[derive(Clone, Debug, Default)]
pub(crate) struct KvCache {
    blocks: Vec<Arc<KvBlock>>,
    len: usize,
}

impl KvCache {
    /// Positions stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `count` positions (zeroed; the forward pass fills them layer
    /// by layer through [`write`](Self::write)). Copies the last block first
    /// if it is shared.
    pub(crate) fn grow(&mut self, shape: &KvShape, count: usize) {
        let per_position = shape.per_position();
        let mut remaining = count;
        while remaining > 0 {
            let room = BLOCK_LEN - self.len % BLOCK_LEN;
            if room == BLOCK_LEN {
                self.blocks.push(Arc::new(KvBlock { data: Vec::with_capacity(BLOCK_LEN * per_position) }));
            }
            let take = room.min(remaining);
            let block = self.blocks.last_mut().map(Arc::make_mut);
            if let Some(block) = block {
                let filled = block.data.len();
                block.data.resize(filled + take * per_position, 0.0);
            }
            self.len += take;
            remaining -= take;
        }
    }

    /// Shortens the cache to `len` positions (undoing a failed
    /// [`grow`](Self::grow)).
    pub(crate) fn truncate(&mut self, shape: &KvShape, len: usize) {
        if len >= self.len {
            return;
        }
        let blocks = len.div_ceil(BLOCK_LEN);
        self.blocks.truncate(blocks);
        if let Some(last) = self.blocks.last_mut() {
            let keep = (len - (blocks - 1) * BLOCK_LEN) * shape.per_position();
            if last.data.len() > keep {
                Arc::make_mut(last).data.truncate(keep);
            }
        }
        self.len = len;
    }

    /// Stores one position's keys and values for `layer` (`kv_heads ×
    /// head_dim` floats each). The position must have been added by
    /// [`grow`](Self::grow).
    pub(crate) fn write(&mut self, shape: &KvShape, layer: usize, position: usize, key: &[f32], value: &[f32]) {
        debug_assert!(position < self.len);
        let per_position = shape.per_position();
        let start = (position % BLOCK_LEN) * per_position;
        // `grow` made this block unique; `make_mut` only checks that.
        let block = Arc::make_mut(&mut self.blocks[position / BLOCK_LEN]);
        let at_key = start + shape.key_offset(layer);
        block.data[at_key..at_key + key.len()].copy_from_slice(key);
        let at_value = start + shape.value_offset(layer);
        block.data[at_value..at_value + value.len()].copy_from_slice(value);
    }

    /// The stored positions, block by block: each slice holds whole
    /// positions of [`KvShape::per_position`] floats.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &[f32]> {
        self.blocks.iter().map(|block| block.data.as_slice())
    }

    /// Calls `f` with the address and allocated bytes of each block, so
    /// that a caller can count shared blocks once.
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(*const (), usize)) {
        for block in &self.blocks {
            let bytes = block.data.capacity() * std::mem::size_of::<f32>();
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

    fn contents(cache: &KvCache) -> Vec<f32> {
        cache.blocks().flatten().copied().collect()
    }

    #[test]
    fn positions_span_blocks() {
        let cache = filled(BLOCK_LEN + 3);
        assert_eq!(cache.len(), BLOCK_LEN + 3);
        let sizes: Vec<usize> = cache.blocks().map(|b| b.len() / SHAPE.per_position()).collect();
        assert_eq!(sizes, [BLOCK_LEN, 3]);
        let data = contents(&cache);
        let position = BLOCK_LEN + 1;
        let at = position * SHAPE.per_position() + SHAPE.value_offset(1);
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
        cache.truncate(&SHAPE, BLOCK_LEN - 1);
        assert_eq!(cache.len(), BLOCK_LEN - 1);
        assert_eq!(contents(&cache), before);
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
