//! AVX2 dot products for the 32-element block formats (Q4_0, Q4_1, Q5_0,
//! Q5_1, Q8_0), the formats small GGUF models ship (SmolLM2-135M: Q4_1
//! matrices, a Q8_0 embedding that is also its output layer).
//!
//! Each block is one 256-bit step, as in llama.cpp's `ggml_vec_dot_*`: the
//! weights are widened to 32 unsigned bytes (nibbles split, Q5's fifth bits
//! spread from their 32-bit mask), multiplied with the 32 signed
//! activation bytes by `vpmaddubsw` into 16-bit pair sums (at most
//! 2·31·127, no overflow), summed to eight 32-bit lanes by `vpmaddwd`,
//! and accumulated as floats with one fused multiply-add by the block's
//! `d_w·d_x`. Q8_0's weights are signed: `vpmaddubsw` gets `|w|` and the
//! activations with `w`'s sign. Offsets (`m·d_x·Σq_x`, `−8·d·d_x·Σq_x`)
//! are added per block from the activation block's precomputed sum.
//!
//! `unsafe` is what these intrinsics are: they are `#[target_feature]`
//! functions, callable only once the CPU is known to have AVX2, FMA and
//! F16C ([`select`] checks at run time), and they load through pointers.
//! Every load reads inside a slice whose length the loop has fixed (a
//! `chunks_exact` block, an [`ActBlock`]); the SAFETY comments say which.
//! `kernels_agree_with_the_scalar_reference` tests each against
//! [`super::scalar`] on random blocks. The speed that justifies them is
//! in the model benchmark (`trellis bench-model`; figures in the module
//! docs of `kernels`).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::activations::ActBlock;
use super::formats::Format;

/// Dot products of one weight row with each of `out.len()` activation
/// rows: `out[n] = row · x[n·per_row .. (n+1)·per_row]`.
pub(crate) type RowsFn = fn(row: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32]);

/// Activation rows a kernel takes per pass over a weight row: the weights
/// of each block are decoded once for all of them, which is what makes a
/// batched step cheaper per token than a single one.
const TILE: usize = 4;

/// The AVX2 kernel for `format`, when this CPU has AVX2, FMA and F16C and
/// there is one.
pub(crate) fn select(format: Format) -> Option<RowsFn> {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 =
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
        if !avx2 {
            return None;
        }
        // SAFETY (each wrapper below): handed out only here, after the
        // features its target_feature function needs were detected.
        let kernel: RowsFn = match format {
            Format::Q4_0 => {
                |row, x, per_row, out| tiled(row, x, per_row, out, |r, x, o| unsafe { q4(r, x, per_row, false, o) })
            }
            Format::Q4_1 => {
                |row, x, per_row, out| tiled(row, x, per_row, out, |r, x, o| unsafe { q4(r, x, per_row, true, o) })
            }
            Format::Q5_0 => {
                |row, x, per_row, out| tiled(row, x, per_row, out, |r, x, o| unsafe { q5(r, x, per_row, false, o) })
            }
            Format::Q5_1 => {
                |row, x, per_row, out| tiled(row, x, per_row, out, |r, x, o| unsafe { q5(r, x, per_row, true, o) })
            }
            Format::Q8_0 => {
                |row, x, per_row, out| tiled(row, x, per_row, out, |r, x, o| unsafe { q8_0(r, x, per_row, o) })
            }
            Format::Q4K | Format::Q5K | Format::Q6K => return None,
        };
        Some(kernel)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = format;
        None
    }
}

/// Runs `kernel` over the activation rows in tiles of [`TILE`] (the last
/// one shorter): `kernel(row, x, out)` with `x` starting at the tile's
/// first row and `out` one value per row of the tile.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tiled(row: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32], kernel: impl Fn(&[u8], &[ActBlock], &mut [f32])) {
    for (tile, out) in out.chunks_mut(TILE).enumerate() {
        let first = tile * TILE * per_row;
        kernel(row, &x[first..first + out.len() * per_row], out);
    }
}

/// `d` and `m` of a block (two `f16`s at its start), as floats.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "f16c")]
fn scales(block: &[u8]) -> (f32, f32) {
    let bits = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
    let both = _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32));
    (_mm_cvtss_f32(both), _mm_cvtss_f32(_mm_shuffle_ps(both, both, 1)))
}

/// Sum of the eight lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_sum(v: __m256) -> f32 {
    let four = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps(two, two, 1)))
}

/// The 32 weights of 16 nibble bytes at `qs`: low nibbles first (elements
/// 0..16), then high (16..32).
///
/// # Safety
///
/// `qs` must point at 16 readable bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn nibbles(qs: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 bytes at `qs`; unaligned load.
    let bytes = unsafe { _mm_loadu_si128(qs.cast()) };
    let mask = _mm_set1_epi8(0x0F);
    let low = _mm_and_si128(bytes, mask);
    let high = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    _mm256_set_m128i(high, low)
}

/// `Σ w·q` over 32 unsigned weights and 32 signed activations, as 8 lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn dot_u8_i8(w: __m256i, q: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(w, q);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// The 32 activation bytes of a block.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn activation_bytes(a: &ActBlock) -> __m256i {
    // SAFETY: `a.q` is 32 bytes, exactly one unaligned 256-bit load.
    unsafe { _mm256_loadu_si256(a.q.as_ptr().cast()) }
}

/// The running sums of one tile: a float accumulator of `d_w·d_x·Σ w·q`
/// and the scalar sum of the blocks' offsets, per activation row.
#[cfg(target_arch = "x86_64")]
struct Tile<'x> {
    /// The tile's activation rows, `per_row` blocks each; `rows` of them.
    x: &'x [ActBlock],
    per_row: usize,
    rows: usize,
    acc: [__m256; TILE],
    offsets: [f32; TILE],
}

#[cfg(target_arch = "x86_64")]
impl<'x> Tile<'x> {
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(x: &'x [ActBlock], per_row: usize, rows: usize) -> Tile<'x> {
        Tile { x, per_row, rows, acc: [_mm256_setzero_ps(); TILE], offsets: [0.0; TILE] }
    }

    /// Adds block `b` of every row: weights `w` (32 unsigned bytes) with
    /// scale `d` and offset `offset · d_x · Σq_x`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(&mut self, b: usize, w: __m256i, d: f32, offset: f32) {
        for r in 0..self.rows {
            let a = &self.x[r * self.per_row + b];
            self.acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), dot_u8_i8(w, activation_bytes(a)), self.acc[r]);
            self.offsets[r] += offset * a.ds;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn finish(&self, out: &mut [f32]) {
        for (r, out) in out.iter_mut().enumerate() {
            *out = horizontal_sum(self.acc[r]) + self.offsets[r];
        }
    }
}

/// Q4_0 (`with_min` false: value `d·(q−8)`) and Q4_1 (`d·q + m`), for
/// the `out.len()` (at most [`TILE`]) activation rows of `x`.
///
/// # Safety
///
/// The CPU must have AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4(row: &[u8], x: &[ActBlock], per_row: usize, with_min: bool, out: &mut [f32]) {
    let (bytes, qs_at) = if with_min { (20, 4) } else { (18, 2) };
    let mut tile = Tile::new(x, per_row, out.len());
    for (b, block) in row.chunks_exact(bytes).enumerate() {
        let (d, m) = scales(block);
        // SAFETY: `block` has `bytes` bytes; the nibbles are its last 16.
        let w = unsafe { nibbles(block[qs_at..].as_ptr()) };
        tile.add(b, w, d, if with_min { m } else { -8.0 * d });
    }
    tile.finish(out);
}

/// Q5_0 (`d·(q−16)`) and Q5_1 (`d·q + m`), for the `out.len()` (at most
/// [`TILE`]) activation rows of `x`.
///
/// # Safety
///
/// The CPU must have AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5(row: &[u8], x: &[ActBlock], per_row: usize, with_min: bool, out: &mut [f32]) {
    let (bytes, qh_at) = if with_min { (24, 4) } else { (22, 2) };
    // Byte i of the spread mask is 0xFF iff bit i of the block's `qh` is
    // set (llama.cpp's `bytes_from_bits_32`).
    let shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    let bit_of_byte = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    let fifth = _mm256_set1_epi8(0x10);
    let mut tile = Tile::new(x, per_row, out.len());
    for (b, block) in row.chunks_exact(bytes).enumerate() {
        let (d, m) = scales(block);
        let qh = u32::from_le_bytes([block[qh_at], block[qh_at + 1], block[qh_at + 2], block[qh_at + 3]]);
        let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(qh as i32), shuffle);
        let set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, bit_of_byte), _mm256_set1_epi64x(-1));
        // SAFETY: `block` has `bytes` bytes; the nibbles are its last 16.
        let low = unsafe { nibbles(block[qh_at + 4..].as_ptr()) };
        let w = _mm256_or_si256(low, _mm256_and_si256(set, fifth));
        tile.add(b, w, d, if with_min { m } else { -16.0 * d });
    }
    tile.finish(out);
}

/// Q8_0 (`d·q`, signed q), for the `out.len()` (at most [`TILE`])
/// activation rows of `x`.
///
/// # Safety
///
/// The CPU must have AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0(row: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32]) {
    let rows = out.len();
    let mut acc = [_mm256_setzero_ps(); TILE];
    for (b, block) in row.chunks_exact(34).enumerate() {
        let (d, _) = scales(&[block[0], block[1], 0, 0]);
        // SAFETY: `block` has 34 bytes; the weights are its last 32.
        let w = unsafe { _mm256_loadu_si256(block[2..].as_ptr().cast()) };
        let magnitude = _mm256_abs_epi8(w);
        for r in 0..rows {
            let a = &x[r * per_row + b];
            // |w|·(q with w's sign) = w·q, with an unsigned left operand.
            let q = _mm256_sign_epi8(activation_bytes(a), w);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), dot_u8_i8(magnitude, q), acc[r]);
        }
    }
    for r in 0..rows {
        out[r] = horizontal_sum(acc[r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::activations::quantize_rows;
    use crate::model::kernels::formats::tests::candle_blocks;
    use crate::model::kernels::scalar;

    #[test]
    fn kernels_agree_with_the_scalar_reference() {
        for format in Format::ALL {
            let Some(kernel) = select(format) else { continue };
            for seed in 0..50 {
                let blocks = 1 + seed as usize % 23;
                // 1 to 11 activation rows: whole tiles and remainders.
                let batch = 1 + seed as usize % 11;
                let (row, _) = candle_blocks(format, blocks, seed);
                let len = blocks * format.block_len();
                let x: Vec<_> = (0..batch)
                    .flat_map(|n| quantize_rows(&scalar::tests::activations(len, seed + 7 + n as u64), len, 1))
                    .collect();
                let mut simd = vec![0.0; batch];
                kernel(&row, &x, blocks, &mut simd);
                for (n, simd) in simd.iter().enumerate() {
                    let reference = scalar::dot(format, &row, &x[n * blocks..(n + 1) * blocks]);
                    let scale = reference.abs().max(1.0);
                    assert!(
                        (simd - reference).abs() <= 1e-4 * scale,
                        "{format:?} seed {seed} row {n}: {simd} against {reference}"
                    );
                }
            }
        }
    }
}
