//! Dot products of a quantized weight row with quantized activations, in
//! plain Rust: the fallback on CPUs without the SIMD kernels, and the
//! reference those kernels are tested against (they must agree to the
//! rounding of the float sums).
//!
//! Every format reduces to integer dot products per block of 32 (16 for
//! Q6_K's scales) and one float multiply-add per block:
//! `Σ_blocks d_w·d_x·Σ q_w·q_x + c_w·d_x·Σ q_x`, where `c_w` is the
//! block's offset (`m` for `_1` formats, `−8·d` for Q4_0, `−dmin·mn` for
//! the K formats).

use half::f16;

use super::activations::ActBlock;
use super::formats::{Format, scale_min_k4};

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// `Σ_i w_i · x_i` for one row of `format` blocks and its activations
/// (`row.len() / block_bytes · block_len / 32` blocks).
pub(crate) fn dot(format: Format, row: &[u8], x: &[ActBlock]) -> f32 {
    let per_block = format.block_len() / 32;
    row.chunks_exact(format.block_bytes())
        .zip(x.chunks_exact(per_block))
        .map(|(block, x)| dot_block(format, block, x))
        .sum()
}

fn dot_block(format: Format, block: &[u8], x: &[ActBlock]) -> f32 {
    match format {
        Format::Q4_0 | Format::Q4_1 => {
            let (d, qs) = (half(block, 0), if format == Format::Q4_0 { &block[2..18] } else { &block[4..20] });
            let a = &x[0];
            let mut sum = 0i32;
            for (j, &q) in qs.iter().enumerate() {
                sum += i32::from(q & 0xF) * i32::from(a.q[j]) + i32::from(q >> 4) * i32::from(a.q[j + 16]);
            }
            match format {
                Format::Q4_0 => d * a.d * (sum - 8 * a.sum) as f32,
                _ => d * a.d * sum as f32 + half(block, 2) * a.d * a.sum as f32,
            }
        }
        Format::Q5_0 | Format::Q5_1 => {
            let (qh, qs) =
                if format == Format::Q5_0 { (&block[2..6], &block[6..22]) } else { (&block[4..8], &block[8..24]) };
            let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
            let (d, a) = (half(block, 0), &x[0]);
            let mut sum = 0i32;
            for (j, &q) in qs.iter().enumerate() {
                let low = i32::from(q & 0xF) | (((qh >> j) & 1) << 4) as i32;
                let high = i32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4) as i32;
                sum += low * i32::from(a.q[j]) + high * i32::from(a.q[j + 16]);
            }
            match format {
                Format::Q5_0 => d * a.d * (sum - 16 * a.sum) as f32,
                _ => d * a.d * sum as f32 + half(block, 2) * a.d * a.sum as f32,
            }
        }
        Format::Q8_0 => {
            let a = &x[0];
            let sum: i32 = block[2..34].iter().zip(&a.q).map(|(&w, &q)| i32::from(w as i8) * i32::from(q)).sum();
            half(block, 0) * a.d * sum as f32
        }
        Format::Q4K | Format::Q5K => {
            let (d, dmin) = (half(block, 0), half(block, 2));
            let scales = &block[4..16];
            let (qh, qs) = match format {
                Format::Q4K => (None, &block[16..144]),
                _ => (Some(&block[16..48]), &block[48..176]),
            };
            let mut total = 0.0;
            for (sub, a) in x.iter().enumerate() {
                let bytes = &qs[(sub / 2) * 32..(sub / 2) * 32 + 32];
                let mut sum = 0i32;
                for l in 0..32 {
                    let nibble = if sub % 2 == 0 { bytes[l] & 0xF } else { bytes[l] >> 4 };
                    let high = qh.map_or(0, |qh| ((qh[l] >> sub) & 1) << 4);
                    sum += i32::from(nibble | high) * i32::from(a.q[l]);
                }
                let (scale, min) = scale_min_k4(sub, scales);
                total += d * f32::from(scale) * a.d * sum as f32 - dmin * f32::from(min) * a.d * a.sum as f32;
            }
            total
        }
        Format::Q6K => {
            let (ql, qh, scales) = (&block[0..128], &block[128..192], &block[192..208]);
            let d = half(block, 208);
            // Elements in order: 8 activation blocks of 32; element `e` of
            // half `n` (128 each) at offset `e` is one of four 32-runs.
            let mut total = 0.0;
            for (index, a) in x.iter().enumerate() {
                let (n, run) = (index / 4, index % 4);
                let (ql, qh) = (&ql[n * 64..n * 64 + 64], &qh[n * 32..n * 32 + 32]);
                let mut sums = [0i32; 2];
                let mut xs = [0i32; 2];
                for l in 0..32 {
                    let q = match run {
                        0 => (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                        1 => (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                        2 => (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                        _ => (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
                    };
                    sums[l / 16] += i32::from(q) * i32::from(a.q[l]);
                    xs[l / 16] += i32::from(a.q[l]);
                }
                for part in 0..2 {
                    let scale = f32::from(scales[n * 8 + run * 2 + part] as i8);
                    total += d * scale * a.d * (sums[part] - 32 * xs[part]) as f32;
                }
            }
            total
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::kernels::activations::quantize_rows;
    use crate::model::kernels::formats::tests::candle_blocks;

    /// Random activations, some blocks small, some large.
    pub(crate) fn activations(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed | 1;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                unit * if (i / 32) % 3 == 0 { 0.01 } else { 5.0 }
            })
            .collect()
    }

    /// Exact: the dot of the dequantized weights with the dequantized
    /// activations, in f64.
    pub(crate) fn reference(format: Format, row: &[u8], x: &[ActBlock]) -> f64 {
        let mut weights = vec![0.0f32; row.len() / format.block_bytes() * format.block_len()];
        for (block, out) in row.chunks(format.block_bytes()).zip(weights.chunks_mut(format.block_len())) {
            format.dequantize_block(block, out);
        }
        let values = x.iter().flat_map(|a| a.q.iter().map(move |&q| f64::from(a.d) * f64::from(q)));
        weights.iter().zip(values).map(|(&w, x)| f64::from(w) * x).sum()
    }

    #[test]
    fn integer_dots_equal_the_dot_of_the_decoded_values() {
        for format in Format::ALL {
            for seed in 0..20 {
                let (row, _) = candle_blocks(format, 4, seed);
                let len = 4 * format.block_len();
                let x = quantize_rows(&activations(len, seed + 100), len, 1);
                let (ours, exact) = (dot(format, &row, &x), reference(format, &row, &x));
                let scale: f64 = exact.abs().max(1.0);
                assert!(
                    (f64::from(ours) - exact).abs() <= 1e-4 * scale,
                    "{format:?} seed {seed}: {ours} against {exact}"
                );
            }
        }
    }
}
