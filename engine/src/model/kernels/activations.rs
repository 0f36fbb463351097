//! Activations quantized to 8 bits per 32 values, as llama.cpp quantizes
//! them for its integer dot products (`block_q8_0`/`q8_1`): every weight
//! format's dot product then runs on integers, with one float multiply per
//! block of 32.
//!
//! One block holds `d = max|x| / 127`, the 32 values `round(x / d)` and
//! their sum (the `_1` and K formats add `min · d_x · Σq` for their
//! offsets). The rounding error is at most `d/2` per value, 0.4 % of the
//! block's largest; the accuracy test of the model (mean KL ≤ 1e-3 against
//! f32 weights and activations) bounds what it does to the distributions.

/// Values per block.
pub(crate) const BLOCK: usize = 32;

/// 32 activations as 8-bit integers and a scale.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub(crate) struct ActBlock {
    pub q: [i8; BLOCK],
    /// The scale: value `i` is `d · q[i]`.
    pub d: f32,
    /// `Σ q`.
    pub sum: i32,
    /// `d · Σ q`, the factor of a weight block's offset (llama.cpp's
    /// `block_q8_1::s`).
    pub ds: f32,
}

impl ActBlock {
    pub(crate) const ZERO: ActBlock = ActBlock { q: [0; BLOCK], d: 0.0, sum: 0, ds: 0.0 };

    /// The block of 32 values.
    ///
    /// Written as fixed-width loops without calls (`round` is a libm call
    /// on baseline x86-64), so the compiler vectorizes it: quantizing was
    /// 4 % of a decode step as scalar code.
    pub(crate) fn quantize(x: &[f32]) -> ActBlock {
        let x: &[f32; BLOCK] = match x.try_into() {
            Ok(x) => x,
            Err(_) => panic!("an activation block is {BLOCK} values, not {}", x.len()),
        };
        let mut lanes = [0.0f32; 8];
        for chunk in x.chunks_exact(8) {
            for (lane, v) in lanes.iter_mut().zip(chunk) {
                *lane = lane.max(v.abs());
            }
        }
        let amax = lanes.iter().fold(0.0f32, |m, &v| m.max(v));
        let d = amax / 127.0;
        let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
        let mut block = ActBlock { q: [0; BLOCK], d, sum: 0, ds: 0.0 };
        let mut sum = 0i32;
        for (q, &v) in block.q.iter_mut().zip(x) {
            // Round to nearest (ties to even) by the float trick: adding
            // 1.5·2²³ leaves no fraction bits, and |v·inverse| ≤ 127.
            const SHIFT: f32 = 12_582_912.0;
            let rounded = (v * inverse + SHIFT) - SHIFT;
            *q = rounded as i32 as i8;
            sum += rounded as i32;
        }
        block.sum = sum;
        block.ds = d * sum as f32;
        block
    }
}

/// The blocks of every row of `x` (rows of `cols` values, `cols` a
/// multiple of 32) as `terms` (1 or 2) rows of blocks each,
/// concatenated: with one term, row `n` is blocks `n·cols/32 ..
/// (n+1)·cols/32`; with two, row `n` is rows `2n` (its 8-bit blocks) and
/// `2n + 1` (the 8-bit blocks of what they leave out, `x − d·q`, at most
/// `d/2` per value), whose products with a weight row add up to the
/// product with `x` to about 15 bits instead of 8 (the second scale is at
/// most 1/254 of the first). Rows are spread over the model's pool.
///
/// Why two terms: with one 8-bit term everywhere (llama.cpp's scheme),
/// SmolLM2's next-token distributions are 1.5e-3 nats (mean KL) from the
/// same weights in `f32`; the error comes mostly from the inputs of the
/// Q/K/V, gate/up and output products — normalised activations, whose few
/// large channels set every block's scale — and two terms there bring it
/// to 3e-4 (`engine/tests/kernel_accuracy.rs`).
pub(crate) fn quantize_rows(x: &[f32], cols: usize, terms: usize) -> Vec<ActBlock> {
    debug_assert!(cols.is_multiple_of(BLOCK) && x.len().is_multiple_of(cols) && (terms == 1 || terms == 2));
    let per_row = cols / BLOCK * terms;
    let mut blocks = vec![ActBlock::ZERO; x.len() / cols * per_row];
    super::pool::for_rows(&mut blocks, per_row, 4, |n, out| quantize_row(&x[n * cols..(n + 1) * cols], out));
    blocks
}

/// One row's blocks, in one term (`out.len()` = `row.len() / 32`) or two
/// (twice that; see [`quantize_rows`]).
fn quantize_row(row: &[f32], out: &mut [ActBlock]) {
    let blocks = row.len() / BLOCK;
    let (main, rest) = out.split_at_mut(blocks);
    for (block, x) in main.iter_mut().zip(row.chunks_exact(BLOCK)) {
        *block = ActBlock::quantize(x);
    }
    let mut residual = [0.0f32; BLOCK];
    for ((block, main), x) in rest.iter_mut().zip(main.iter()).zip(row.chunks_exact(BLOCK)) {
        for ((r, &v), &q) in residual.iter_mut().zip(x).zip(&main.q) {
            *r = v - main.d * f32::from(q);
        }
        *block = ActBlock::quantize(&residual);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_to_the_nearest_step() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) * 0.37).collect();
        let block = ActBlock::quantize(&x);
        assert_eq!(block.q.iter().map(|&q| i32::from(q)).sum::<i32>(), block.sum);
        assert_eq!(block.q.iter().map(|q| q.unsigned_abs()).max(), Some(127));
        for (&q, &v) in block.q.iter().zip(&x) {
            assert!((block.d * f32::from(q) - v).abs() <= block.d / 2.0 + 1e-6);
        }
        assert_eq!(ActBlock::quantize(&[0.0; 32]), ActBlock::ZERO);
    }

    #[test]
    fn two_terms_leave_a_residual_254_times_smaller() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.3) * 0.113).collect();
        let blocks = quantize_rows(&x, 64, 2);
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[..2], quantize_rows(&x, 64, 1)[..]);
        for b in 0..2 {
            let (main, rest) = (blocks[b], blocks[2 + b]);
            assert!(rest.d <= main.d / 254.0 + 1e-9);
            for i in 0..BLOCK {
                let v = main.d * f32::from(main.q[i]) + rest.d * f32::from(rest.q[i]);
                assert!((v - x[b * BLOCK + i]).abs() <= rest.d / 2.0 + 1e-6);
            }
        }
    }
}
