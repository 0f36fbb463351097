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
    #[cfg(test)]
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
/// multiple of 32), concatenated: row `n` is blocks
/// `n·cols/32 .. (n+1)·cols/32`.
pub(crate) fn quantize_rows(x: &[f32], cols: usize) -> Vec<ActBlock> {
    debug_assert!(cols.is_multiple_of(BLOCK) && x.len().is_multiple_of(cols));
    x.chunks_exact(BLOCK).map(ActBlock::quantize).collect()
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
}
