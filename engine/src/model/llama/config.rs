//! [`LlamaConfig`]: the hyperparameters of a Llama-family transformer.

use crate::model::ModelError;

/// How rotary position embeddings pair up the dimensions of a head.
///
/// Both are the same rotation (Su et al. 2021) applied to different
/// orderings of the head's dimensions; which one a model needs depends on
/// how its Q/K weights were laid out. Hugging Face Llama checkpoints rotate
/// halves (`rotate_half`); llama.cpp's converter permutes the rows of Q and K
/// for `llama` GGUF files so that interleaved pairs give the same result.
/// Using the wrong one silently degrades the model, so the loaders set it
/// from the file format, never from a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// Dimension `i` pairs with `i + head_dim/2` (Hugging Face, GGUF `qwen2`).
    Halves,
    /// Dimension `2i` pairs with `2i + 1` (GGUF `llama`).
    Interleaved,
}

/// Llama 3.1-style frequency scaling of RoPE (`rope_scaling.rope_type =
/// "llama3"` in `config.json`): long wavelengths are divided by `factor`,
/// short ones kept, and the band between interpolated smoothly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3RopeScaling {
    /// Wavelength stretch for low frequencies.
    pub factor: f32,
    /// Wavelengths longer than `original_max_position / low_freq_factor` are scaled.
    pub low_freq_factor: f32,
    /// Wavelengths shorter than `original_max_position / high_freq_factor` are kept.
    pub high_freq_factor: f32,
    /// The context length the model was pretrained with.
    pub original_max_position: usize,
}

/// The shape and numerics of a Llama-family decoder (Llama, Mistral, Qwen2,
/// SmolLM2): RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP.
///
/// The loaders fill this in from GGUF metadata or `config.json`;
/// [`LlamaConfig::tiny`] gives a small shape for synthetic test models.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LlamaConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (`heads` must be a multiple).
    pub kv_heads: usize,
    /// Dimensions per head (usually `hidden_size / heads`).
    pub head_dim: usize,
    /// Rows of the output projection; may exceed the tokenizer's vocabulary
    /// by padding, which is dropped from the log-probabilities.
    pub vocab_rows: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base frequency θ (SmolLM2: 100,000).
    pub rope_theta: f32,
    /// Which dimensions RoPE rotates together.
    pub rope_layout: RopeLayout,
    /// Optional Llama 3 frequency scaling.
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// Whether Q, K and V projections have biases (Qwen2).
    pub attention_bias: bool,
    /// Whether the output projection is the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Longest sequence, in tokens, including the prompt.
    pub max_sequence_len: usize,
    /// Sliding attention window (Mistral), if any.
    pub sliding_window: Option<usize>,
}

impl LlamaConfig {
    /// A small shape for synthetic models: 2 layers, width 32, 4 query
    /// heads sharing 2 KV heads, 256-token context, halves RoPE, an output
    /// matrix of its own (untied).
    pub fn tiny(vocab_rows: usize) -> LlamaConfig {
        LlamaConfig {
            hidden_size: 32,
            intermediate_size: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            vocab_rows,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_layout: RopeLayout::Halves,
            rope_scaling: None,
            attention_bias: false,
            // Untied: with a tied output matrix the last input token's own
            // embedding dominates the residual stream, and a random model
            // mostly repeats its last token.
            tie_word_embeddings: false,
            max_sequence_len: 256,
            sliding_window: None,
        }
    }

    /// Checks the relations between sizes, naming the offending key as the
    /// file would (`source` says which file).
    pub(crate) fn validate(&self, source: &std::path::Path) -> Result<(), ModelError> {
        let bad = |key: &str, reason: String| ModelError::BadHyperparameter {
            path: source.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        for (key, value) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("layers", self.layers),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_rows", self.vocab_rows),
            ("max_sequence_len", self.max_sequence_len),
        ] {
            if value == 0 {
                return Err(bad(key, "must be positive".into()));
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(bad(
                "kv_heads",
                format!("{} query heads cannot be grouped over {} KV heads", self.heads, self.kv_heads),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(bad("head_dim", format!("{} is odd; RoPE needs pairs", self.head_dim)));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(bad("rope_theta", format!("{} is not a positive number", self.rope_theta)));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(bad("rms_norm_eps", format!("{} is not a positive number", self.rms_norm_eps)));
        }
        if self.max_sequence_len > 1 << 20 {
            return Err(bad(
                "max_sequence_len",
                format!("{} is larger than the 2^20 positions supported", self.max_sequence_len),
            ));
        }
        Ok(())
    }

    /// The inverse frequencies θ^(−2i/d) of RoPE, with Llama 3 scaling
    /// applied if configured (the formula of Hugging Face's
    /// `_compute_llama3_parameters`).
    fn inverse_frequencies(&self) -> Vec<f32> {
        let d = self.head_dim as f32;
        let base: Vec<f32> = (0..self.head_dim).step_by(2).map(|i| 1.0 / self.rope_theta.powf(i as f32 / d)).collect();
        let Some(scaling) = self.rope_scaling else {
            return base;
        };
        let original = scaling.original_max_position as f32;
        let low_wavelen = original / scaling.low_freq_factor;
        let high_wavelen = original / scaling.high_freq_factor;
        base.into_iter()
            .map(|freq| {
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_wavelen {
                    freq
                } else if wavelen > low_wavelen {
                    freq / scaling.factor
                } else {
                    let smooth = (original / wavelen - scaling.low_freq_factor)
                        / (scaling.high_freq_factor - scaling.low_freq_factor);
                    (1.0 - smooth) * freq / scaling.factor + smooth * freq
                }
            })
            .collect()
    }

    /// `(cos, sin)` tables of shape `(max_sequence_len, head_dim / 2)`,
    /// row-major.
    pub(crate) fn rope_tables(&self) -> (Vec<f32>, Vec<f32>) {
        let frequencies = self.inverse_frequencies();
        let half = frequencies.len();
        let mut angles = Vec::with_capacity(self.max_sequence_len * half);
        for position in 0..self.max_sequence_len {
            // f64 for the product: positions reach 10^5 and f32 would lose
            // the low bits of large angles.
            angles.extend(frequencies.iter().map(|&f| (position as f64 * f as f64) as f32));
        }
        (angles.iter().map(|a| a.cos()).collect(), angles.iter().map(|a| a.sin()).collect())
    }
}
