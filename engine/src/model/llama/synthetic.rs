//! Seeded random weights for [`Llama::random`](super::Llama::random).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::config::LlamaConfig;
use super::weights::{Matrix, Param, WeightSource};
use crate::model::ModelError;
use crate::model::random::SplitMix64;

/// Draws each parameter from its own stream, seeded by `(seed, parameter)`,
/// so a parameter's values do not depend on the order they are asked for.
pub(super) struct RandomWeights {
    seed: u64,
    hidden_size: usize,
    source: PathBuf,
}

impl RandomWeights {
    pub(super) fn new(config: &LlamaConfig, seed: u64, source: PathBuf) -> Self {
        RandomWeights { seed, hidden_size: config.hidden_size, source }
    }

    fn stream(&self, param: Param) -> SplitMix64 {
        // FNV-1a of the parameter's name, mixed with the seed.
        let name = self.name(param);
        let mut hash = 0xCBF2_9CE4_8422_2325u64;
        for byte in name.bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01B3);
        }
        SplitMix64::new(self.seed ^ hash)
    }
}

impl WeightSource for RandomWeights {
    fn path(&self) -> &Path {
        &self.source
    }

    fn name(&self, param: Param) -> String {
        format!("{param:?}")
    }

    /// Embeddings N(0, 1); projections N(0, 1/fan_in), which keeps the
    /// residual stream at unit scale through the layers.
    fn matrix(&mut self, param: Param, (rows, columns): (usize, usize)) -> Result<Option<Matrix>, ModelError> {
        let std = match param {
            Param::TokenEmbedding | Param::LmHead => 1.0,
            _ => 1.0 / (columns as f64).sqrt(),
        };
        let mut rng = self.stream(param);
        let data: Vec<f32> = (0..rows * columns).map(|_| (rng.normal() * std) as f32).collect();
        Ok(Some(Matrix::Dense(Tensor::from_vec(data, (rows, columns), &Device::Cpu)?)))
    }

    /// Norm gains 1 + N(0, 0.1²); the final norm is scaled by 2/√hidden so
    /// that logits (embeddings · normalised state) have a standard
    /// deviation near 2: peaked enough to matter, flat enough that every
    /// token keeps some mass. Biases N(0, 0.5²).
    fn vector(&mut self, param: Param, len: usize) -> Result<Option<Tensor>, ModelError> {
        let mut rng = self.stream(param);
        let data: Vec<f32> = match param {
            Param::QueryBias(_) | Param::KeyBias(_) | Param::ValueBias(_) => {
                (0..len).map(|_| (rng.normal() * 0.5) as f32).collect()
            }
            _ => {
                let scale = if param == Param::FinalNorm { 2.0 / (self.hidden_size as f64).sqrt() } else { 1.0 };
                (0..len).map(|_| ((1.0 + 0.1 * rng.normal()) * scale) as f32).collect()
            }
        };
        Ok(Some(Tensor::from_vec(data, len, &Device::Cpu)?))
    }
}
