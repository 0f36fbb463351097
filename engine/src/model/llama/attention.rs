//! Grouped-query attention of query rows over their sequences' paged caches.
//!
//! This is the one part of the forward pass not written with candle ops.
//! Every other operation works on all rows of a batch at once; attention is
//! per sequence, over a cache split into shared blocks
//! ([`KvCache`]). With candle, each (sequence, layer) pair would need its
//! blocks gathered into a contiguous tensor plus half a dozen small ops, and
//! the per-op overhead alone (a few µs each) would exceed the arithmetic for
//! a 64-sequence decode step. Here a query reads the blocks in place.

use super::kv_cache::{KvCache, KvShape};
use crate::model::kernels::pool::{self, Shards};

/// One query row: which cache it reads and how far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryRow {
    /// Index into the `caches` slice given to [`attend`].
    pub(crate) cache: usize,
    /// The query's position: it sees keys at positions
    /// `[window_start, position]` (causal, optionally sliding-window).
    pub(crate) position: usize,
}

/// Attention geometry of one model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttentionShape {
    pub(crate) kv: KvShape,
    /// Query heads; a multiple of `kv.kv_heads`.
    pub(crate) heads: usize,
    /// Keys further back than this many positions are not seen (Mistral's
    /// sliding window); `None` for full causal attention.
    pub(crate) window: Option<usize>,
}

/// Computes softmax(q·Kᵀ/√d)·V for every row and query head of `layer`.
///
/// `queries` holds `rows.len() × heads × head_dim` floats (rotary embedding
/// already applied); the result has the same layout. Query head `h` reads
/// KV head `h / (heads / kv_heads)` (grouped-query attention, Ainslie et al.
/// 2023). Work is split over (row, KV head) pairs across threads, each pair
/// reading its keys once for all the query heads of its group; when there
/// are too few pairs to keep every thread busy (a single sequence's decode
/// step has three), over (row, query head) instead.
pub(crate) fn attend(
    shape: &AttentionShape,
    caches: &[KvCache],
    rows: &[QueryRow],
    layer: usize,
    queries: &[f32],
) -> Vec<f32> {
    let head_dim = shape.kv.head_dim;
    let kv_heads = shape.kv.kv_heads;
    let group = shape.heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut output = vec![0.0f32; queries.len()];
    let pool = pool::global();
    // Query heads per task: a KV head's group, or one.
    let per_task = if rows.len() * kv_heads >= 4 * pool.threads() { group } else { 1 };
    let tasks_per_row = shape.heads / per_task;
    let out = Shards::new(&mut output, per_task * head_dim);
    #[cfg(target_arch = "x86_64")]
    let avx2 = has_avx2();
    pool.run(rows.len() * tasks_per_row, &|task| {
        let row = rows[task / tasks_per_row];
        let first_head = (task % tasks_per_row) * per_task;
        let q_start = task * per_task * head_dim;
        let task_queries = &queries[q_start..q_start + per_task * head_dim];
        // SAFETY: each task index is one task of the job, run once.
        let out = unsafe { out.shard(task) };
        let mut scores = Vec::new();
        let kv_head = first_head / group;
        let cache = &caches[row.cache];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: AVX2 and FMA were detected above.
            unsafe {
                attend_group_avx2(shape, cache, row.position, layer, kv_head, task_queries, scale, &mut scores, out)
            };
            return;
        }
        attend_group(shape, cache, row.position, layer, kv_head, task_queries, scale, &mut scores, out);
    });
    output
}

/// Whether this CPU has AVX2 and FMA, for [`attend_group_avx2`].
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// [`attend_group`] compiled for AVX2 and FMA: the same code, whose loops
/// the compiler then vectorizes eight floats wide instead of baseline
/// x86-64's four. Attention was a tenth of a 16-particle SMC step in
/// SSE2 code.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA ([`has_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_group_avx2(
    shape: &AttentionShape,
    cache: &KvCache,
    position: usize,
    layer: usize,
    kv_head: usize,
    queries: &[f32],
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    attend_group(shape, cache, position, layer, kv_head, queries, scale, scores, out);
}

/// Attention of query heads (`queries`, one or more heads) that share one
/// KV head. Inlined into [`attend_group_avx2`] so that it and the loops
/// below are compiled for AVX2 there.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend_group(
    shape: &AttentionShape,
    cache: &KvCache,
    position: usize,
    layer: usize,
    kv_head: usize,
    queries: &[f32],
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let kv = &shape.kv;
    let head_dim = kv.head_dim;
    let group = queries.len() / head_dim;
    let keys = kv.run(layer, false, kv_head);
    let values = kv.run(layer, true, kv_head);
    let end = position + 1;
    let start = shape.window.map_or(0, |w| end.saturating_sub(w));
    let visible = end - start;

    // scores[h * visible + t] = q_h · k_{start+t} / √d
    // Plain loops over the blocks, written out twice: a callback closure
    // is compiled on its own, without the AVX2 of `attend_group_avx2`, and
    // a position iterator cost 11 % of prefill (its per-position checks
    // stay in the inner loop).
    scores.clear();
    scores.resize(group * visible, 0.0);
    let mut block_start = 0;
    for (block, filled) in cache.blocks() {
        let block_end = block_start + filled;
        for position in start.max(block_start)..end.min(block_end) {
            let (t, p) = (position - start, position - block_start);
            let key = &block[keys + p * head_dim..keys + (p + 1) * head_dim];
            for h in 0..group {
                let query = &queries[h * head_dim..(h + 1) * head_dim];
                scores[h * visible + t] = dot(query, key) * scale;
            }
        }
        if block_end >= end {
            break;
        }
        block_start = block_end;
    }
    for h in 0..group {
        softmax_in_place(&mut scores[h * visible..(h + 1) * visible]);
    }
    out.fill(0.0);
    let mut block_start = 0;
    for (block, filled) in cache.blocks() {
        let block_end = block_start + filled;
        for position in start.max(block_start)..end.min(block_end) {
            let (t, p) = (position - start, position - block_start);
            let value = &block[values + p * head_dim..values + (p + 1) * head_dim];
            for h in 0..group {
                let weight = scores[h * visible + t];
                let out_h = &mut out[h * head_dim..(h + 1) * head_dim];
                for (o, v) in out_h.iter_mut().zip(value) {
                    *o += weight * v;
                }
            }
        }
        if block_end >= end {
            break;
        }
        block_start = block_end;
    }
}

/// A dot product with eight independent accumulators, so that the compiler
/// can keep them in one SIMD register (a single running sum is a serial
/// dependency it may not reorder).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            lanes[i] += ca[i] * cb[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline(always)]
fn softmax_in_place(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = crate::numeric::exp(*x - max);
        sum += *x;
    }
    let inverse = 1.0 / sum;
    for x in xs.iter_mut() {
        *x *= inverse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    /// Two positions, one head: the output is the softmax-weighted mix of
    /// the two values, with the first query seeing only itself.
    #[test]
    fn causal_attention_by_hand() {
        let kv = KvShape { layers: 1, kv_heads: 1, head_dim: 2 };
        let shape = AttentionShape { kv, heads: 1, window: None };
        let mut cache = KvCache::default();
        cache.grow(&kv, 2);
        cache.write(&kv, 0, 0, &[1.0, 0.0], &[10.0, 0.0]);
        cache.write(&kv, 0, 1, &[0.0, 1.0], &[0.0, 10.0]);
        let rows = [QueryRow { cache: 0, position: 0 }, QueryRow { cache: 0, position: 1 }];
        let queries = [0.0, 0.0, 2.0, 0.0];
        let out = attend(&shape, &[cache], &rows, 0, &queries);
        assert_eq!(&out[..2], &[10.0, 0.0]);
        let s = 2.0 / 2f32.sqrt();
        let p0 = s.exp() / (s.exp() + 1.0);
        assert!((out[2] - 10.0 * p0).abs() < 1e-5);
        assert!((out[3] - 10.0 * (1.0 - p0)).abs() < 1e-5);

        let windowed = AttentionShape { window: Some(1), ..shape };
        let cache = {
            let mut c = KvCache::default();
            c.grow(&kv, 2);
            c.write(&kv, 0, 0, &[1.0, 0.0], &[10.0, 0.0]);
            c.write(&kv, 0, 1, &[0.0, 1.0], &[0.0, 10.0]);
            c
        };
        let out = attend(&windowed, &[cache], &rows[1..], 0, &queries[2..]);
        assert_eq!(out, [0.0, 10.0]);
    }

    /// The AVX2 build of a group's attention against the baseline one, on
    /// random keys and values over three cache blocks.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_build_agrees_with_the_baseline() {
        if !has_avx2() {
            return;
        }
        let kv = KvShape { layers: 2, kv_heads: 2, head_dim: 64 };
        let shape = AttentionShape { kv, heads: 6, window: None };
        let mut state = 7u64;
        let mut random = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
                })
                .collect()
        };
        let mut cache = KvCache::default();
        let len = 2 * super::super::kv_cache::BLOCK_LEN + 5;
        cache.grow(&kv, len);
        for position in 0..len {
            for layer in 0..2 {
                cache.write(&kv, layer, position, &random(128), &random(128));
            }
        }
        let queries = random(3 * 64);
        let (mut portable, mut fast) = (vec![0.0; 3 * 64], vec![0.0; 3 * 64]);
        let (mut s1, mut s2) = (Vec::new(), Vec::new());
        attend_group(&shape, &cache, len - 1, 1, 1, &queries, 0.125, &mut s1, &mut portable);
        // SAFETY: AVX2 and FMA were detected.
        unsafe { attend_group_avx2(&shape, &cache, len - 1, 1, 1, &queries, 0.125, &mut s2, &mut fast) };
        for (a, b) in portable.iter().zip(&fast) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} against {b}");
        }
        assert!(portable.iter().any(|&v| v != 0.0));
    }
}
