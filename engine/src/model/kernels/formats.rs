//! The GGUF block formats of the weights, as ggml lays them out, and their
//! scalar decoding: the reference every dot-product kernel is tested
//! against.
//!
//! A row of a quantized matrix is a sequence of blocks. The 32-element
//! formats store one `f16` scale `d` (and for `_1` formats an `f16` offset
//! `m`) and 4, 5 or 8 bits per element; the K formats group 256 elements
//! in super-blocks with 6-bit (Q4_K, Q5_K) or 8-bit (Q6_K) scales for each
//! 32 or 16 elements. Values decode as:
//!
//! | format | bytes / block | value |
//! |---|--:|---|
//! | Q4_0 | 18 / 32 | `d·(q − 8)`, q ∈ 0..16 |
//! | Q4_1 | 20 / 32 | `d·q + m` |
//! | Q5_0 | 22 / 32 | `d·(q − 16)`, q ∈ 0..32 |
//! | Q5_1 | 24 / 32 | `d·q + m` |
//! | Q8_0 | 34 / 32 | `d·q`, q ∈ −128..128 |
//! | Q4_K | 144 / 256 | `d·sc·q − dmin·mn`, per 32: 6-bit sc, mn |
//! | Q5_K | 176 / 256 | as Q4_K, q ∈ 0..32 |
//! | Q6_K | 210 / 256 | `d·sc·(q − 32)`, per 16: 8-bit sc, q ∈ 0..64 |

use half::f16;

/// A block format of GGUF weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Format {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl Format {
    /// Every format, for tests.
    #[cfg(test)]
    pub(crate) const ALL: [Format; 8] =
        [Format::Q4_0, Format::Q4_1, Format::Q5_0, Format::Q5_1, Format::Q8_0, Format::Q4K, Format::Q5K, Format::Q6K];

    /// The format of a GGUF tensor type, if it is one of these.
    pub(crate) fn from_ggml(dtype: candle_core::quantized::GgmlDType) -> Option<Format> {
        use candle_core::quantized::GgmlDType as G;
        Some(match dtype {
            G::Q4_0 => Format::Q4_0,
            G::Q4_1 => Format::Q4_1,
            G::Q5_0 => Format::Q5_0,
            G::Q5_1 => Format::Q5_1,
            G::Q8_0 => Format::Q8_0,
            G::Q4K => Format::Q4K,
            G::Q5K => Format::Q5K,
            G::Q6K => Format::Q6K,
            _ => return None,
        })
    }

    /// Elements per block.
    pub(crate) fn block_len(self) -> usize {
        match self {
            Format::Q4K | Format::Q5K | Format::Q6K => 256,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub(crate) fn block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
        }
    }

    /// Decodes one block (`block_bytes()` bytes) into `out`
    /// (`block_len()` values).
    pub(crate) fn dequantize_block(self, block: &[u8], out: &mut [f32]) {
        let half = |at: usize| f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
        match self {
            Format::Q4_0 | Format::Q4_1 => {
                let (d, m, qs) = match self {
                    Format::Q4_0 => (half(0), 0.0, &block[2..18]),
                    _ => (half(0), half(2), &block[4..20]),
                };
                let bias = if self == Format::Q4_0 { -8.0 } else { 0.0 };
                for (j, &q) in qs.iter().enumerate() {
                    out[j] = d * (f32::from(q & 0xF) + bias) + m;
                    out[j + 16] = d * (f32::from(q >> 4) + bias) + m;
                }
            }
            Format::Q5_0 | Format::Q5_1 => {
                let (d, m, qh, qs) = match self {
                    Format::Q5_0 => (half(0), 0.0, &block[2..6], &block[6..22]),
                    _ => (half(0), half(2), &block[4..8], &block[8..24]),
                };
                let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
                let bias = if self == Format::Q5_0 { -16.0 } else { 0.0 };
                for (j, &q) in qs.iter().enumerate() {
                    let low = u32::from(q & 0xF) | (((qh >> j) & 1) << 4);
                    let high = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
                    out[j] = d * (low as f32 + bias) + m;
                    out[j + 16] = d * (high as f32 + bias) + m;
                }
            }
            Format::Q8_0 => {
                let d = half(0);
                for (value, &q) in out.iter_mut().zip(&block[2..34]) {
                    *value = d * f32::from(q as i8);
                }
            }
            Format::Q4K | Format::Q5K => {
                let (d, dmin) = (half(0), half(2));
                let scales = &block[4..16];
                let (qh, qs) = match self {
                    Format::Q4K => (None, &block[16..144]),
                    _ => (Some(&block[16..48]), &block[48..176]),
                };
                // Four chunks of 64: the low nibbles of 32 bytes, then the
                // high nibbles, each 32 with their own scale and min.
                for chunk in 0..4 {
                    let q = &qs[chunk * 32..chunk * 32 + 32];
                    for half_index in 0..2 {
                        let sub = chunk * 2 + half_index;
                        let (scale, min) = scale_min_k4(sub, scales);
                        let (scale, min) = (d * f32::from(scale), dmin * f32::from(min));
                        for l in 0..32 {
                            let nibble = if half_index == 0 { q[l] & 0xF } else { q[l] >> 4 };
                            let high = qh.map_or(0, |qh| ((qh[l] >> sub) & 1) << 4);
                            out[sub * 32 + l] = scale * f32::from(nibble | high) - min;
                        }
                    }
                }
            }
            Format::Q6K => {
                let (ql, qh, scales) = (&block[0..128], &block[128..192], &block[192..208]);
                let d = half(208);
                for n in 0..2 {
                    let (ql, qh) = (&ql[n * 64..n * 64 + 64], &qh[n * 32..n * 32 + 32]);
                    let scale = |i: usize| d * f32::from(scales[n * 8 + i] as i8);
                    let out = &mut out[n * 128..n * 128 + 128];
                    for l in 0..32 {
                        let part = l / 16;
                        let q1 = i32::from((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                        let q2 = i32::from((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                        let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                        let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                        out[l] = scale(part) * q1 as f32;
                        out[l + 32] = scale(part + 2) * q2 as f32;
                        out[l + 64] = scale(part + 4) * q3 as f32;
                        out[l + 96] = scale(part + 6) * q4 as f32;
                    }
                }
            }
        }
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K or Q5_K
/// super-block, packed in 12 bytes as ggml packs them.
pub(crate) fn scale_min_k4(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        ((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    use super::*;

    /// Random values quantized by candle (ggml's own quantizers, ported).
    pub(crate) fn candle_blocks(format: Format, blocks: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
        let dtype = match format {
            Format::Q4_0 => GgmlDType::Q4_0,
            Format::Q4_1 => GgmlDType::Q4_1,
            Format::Q5_0 => GgmlDType::Q5_0,
            Format::Q5_1 => GgmlDType::Q5_1,
            Format::Q8_0 => GgmlDType::Q8_0,
            Format::Q4K => GgmlDType::Q4K,
            Format::Q5K => GgmlDType::Q5K,
            Format::Q6K => GgmlDType::Q6K,
        };
        let len = blocks * format.block_len();
        let mut state = seed;
        let values: Vec<f32> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect();
        let tensor = Tensor::from_vec(values, (1, len), &Device::Cpu).expect("tensor");
        let quantized = QTensor::quantize(&tensor, dtype).expect("quantize");
        let bytes = quantized.data().expect("bytes").to_vec();
        let decoded = quantized.dequantize(&Device::Cpu).expect("dequantize").flatten_all().expect("flat");
        (bytes, decoded.to_vec1::<f32>().expect("values"))
    }

    #[test]
    fn decoding_matches_candles_dequantize() {
        for format in Format::ALL {
            let (bytes, expected) = candle_blocks(format, 8, 11);
            assert_eq!(bytes.len(), 8 * format.block_bytes(), "{format:?}");
            let mut decoded = vec![0.0f32; expected.len()];
            for (block, out) in bytes.chunks(format.block_bytes()).zip(decoded.chunks_mut(format.block_len())) {
                format.dequantize_block(block, out);
            }
            for (i, (a, b)) in decoded.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{format:?} element {i}: {a} against {b}");
            }
        }
    }
}
