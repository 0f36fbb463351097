//! Loading a [`Llama`] from a Hugging Face folder: `config.json`,
//! `tokenizer.json` and one or more `*.safetensors` files (the shards
//! `model.safetensors.index.json` lists, when there is one).
//!
//! Supported `model_type`s are the Llama family that candle-transformers
//! also implements: `llama`, `mistral` and `qwen2` (which adds Q/K/V
//! biases). Hugging Face checkpoints rotate halves
//! ([`RopeLayout::Halves`]). Weights are converted to `f32`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use trellis_token_index::Tokenizer;

use super::Llama;
use super::config::{Llama3RopeScaling, LlamaConfig, RopeLayout};
use super::weights::{LlamaWeights, Matrix, Param, WeightSource};
use crate::model::ModelError;
use crate::model::error::without_backtrace;

const SUPPORTED: &str = "llama, mistral, qwen2";

/// The fields of `config.json` this loader reads. Unknown fields are
/// ignored; fields that change the computation in ways not implemented here
/// (`rope_scaling` other than `llama3`, `mlp_bias`, a non-SiLU activation)
/// are refused.
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: String,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    #[serde(default)]
    tie_word_embeddings: bool,
    max_position_embeddings: usize,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    hidden_act: Option<String>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
}

pub(super) fn load(dir: &Path) -> Result<Llama, ModelError> {
    let config_path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io { path: config_path.clone(), source })?;
    let hf: HfConfig = serde_json::from_str(&text).map_err(|e| ModelError::BadHyperparameter {
        path: config_path.clone(),
        key: "config.json".into(),
        reason: e.to_string(),
    })?;
    let config = convert(&config_path, &hf)?;
    // Before the weights: sizes that do not fit together are the config's
    // fault, not a tensor's.
    config.validate(&config_path)?;

    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer = Tokenizer::from_tokenizer_json(&tokenizer_path)
        .map_err(|source| ModelError::Tokenizer { path: tokenizer_path.clone(), source })?;
    super::check_vocabulary_rows(&config_path, config.vocab_rows, tokenizer.vocabulary())?;

    let mut source = SafetensorsWeights::read_dir(dir)?;
    let weights = LlamaWeights::load(&config, &mut source)?;
    let vocabulary = Arc::clone(tokenizer.vocabulary());
    Llama::new(config, weights, vocabulary, Some(tokenizer), dir.to_path_buf())
}

fn convert(path: &Path, hf: &HfConfig) -> Result<LlamaConfig, ModelError> {
    let bad = |key: &str, reason: String| ModelError::BadHyperparameter {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let attention_bias = match hf.model_type.as_str() {
        // Hugging Face's Llama puts `attention_bias` on the output
        // projection too, which Qwen2's layout (Q/K/V only) does not have:
        // loading it as Qwen2's would silently drop the O bias.
        "llama" | "mistral" if hf.attention_bias => {
            return Err(bad("attention_bias", "biases on Q, K, V and O are not supported".into()));
        }
        "llama" | "mistral" => false,
        "qwen2" => true,
        other => {
            return Err(ModelError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture: other.to_string(),
                supported: SUPPORTED,
            });
        }
    };
    if hf.mlp_bias {
        return Err(bad("mlp_bias", "MLP biases are not supported".into()));
    }
    if let Some(act) = hf.hidden_act.as_deref().filter(|&a| a != "silu") {
        return Err(bad("hidden_act", format!("`{act}` is not supported (only silu)")));
    }
    let rope_scaling = match &hf.rope_scaling {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(llama3_scaling(value).map_err(|reason| bad("rope_scaling", reason))?),
    };
    let sliding_window = match hf.model_type.as_str() {
        "mistral" => hf.sliding_window,
        "qwen2" if hf.use_sliding_window == Some(true) => {
            return Err(bad("use_sliding_window", "Qwen2's per-layer sliding window is not supported".into()));
        }
        _ => None,
    };
    let heads = hf.num_attention_heads;
    if heads == 0 {
        return Err(bad("num_attention_heads", "must be positive".into()));
    }
    Ok(LlamaConfig {
        hidden_size: hf.hidden_size,
        intermediate_size: hf.intermediate_size,
        layers: hf.num_hidden_layers,
        heads,
        kv_heads: hf.num_key_value_heads.unwrap_or(heads),
        head_dim: hf.head_dim.unwrap_or(hf.hidden_size / heads),
        vocab_rows: hf.vocab_size,
        rms_norm_eps: hf.rms_norm_eps,
        rope_theta: hf.rope_theta.unwrap_or(10_000.0) as f32,
        rope_layout: RopeLayout::Halves,
        rope_scaling,
        attention_bias,
        tie_word_embeddings: hf.tie_word_embeddings,
        max_sequence_len: hf.max_position_embeddings,
        sliding_window,
    })
}

fn llama3_scaling(value: &serde_json::Value) -> Result<Llama3RopeScaling, String> {
    let kind = value.get("rope_type").or_else(|| value.get("type")).and_then(|v| v.as_str()).unwrap_or("");
    if kind != "llama3" {
        return Err(format!("RoPE scaling `{kind}` is not supported (only llama3)"));
    }
    let number = |key: &str| {
        value.get(key).and_then(|v| v.as_f64()).ok_or_else(|| format!("llama3 scaling needs a number `{key}`"))
    };
    Ok(Llama3RopeScaling {
        factor: number("factor")? as f32,
        low_freq_factor: number("low_freq_factor")? as f32,
        high_freq_factor: number("high_freq_factor")? as f32,
        original_max_position: number("original_max_position_embeddings")? as usize,
    })
}

/// All tensors of a folder's weight files, as `f32`.
struct SafetensorsWeights {
    /// The one weight file, or the folder when the weights are sharded:
    /// what errors name.
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

/// The sharded-checkpoint index Hugging Face writes next to the shards.
const INDEX: &str = "model.safetensors.index.json";

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: HashMap<String, String>,
}

impl SafetensorsWeights {
    /// The weight files: the shards `model.safetensors.index.json` lists,
    /// if there is one, else every `*.safetensors` file. (Mistral's
    /// repositories also hold `consolidated.safetensors`, the same weights
    /// under other names: reading it too would double the memory.)
    fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
        let index_path = dir.join(INDEX);
        let mut files: Vec<PathBuf> = match std::fs::read_to_string(&index_path) {
            Ok(text) => {
                let index: ShardIndex = serde_json::from_str(&text)
                    .map_err(|e| ModelError::CorruptFile { path: index_path.clone(), reason: e.to_string() })?;
                let mut names: Vec<String> = index.weight_map.into_values().collect();
                names.sort();
                names.dedup();
                names.into_iter().map(|name| dir.join(name)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::read_dir(dir)
                .map_err(|source| ModelError::Io { path: dir.to_path_buf(), source })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
                .collect(),
            Err(source) => return Err(ModelError::Io { path: index_path, source }),
        };
        files.sort();
        Ok(files)
    }

    fn read_dir(dir: &Path) -> Result<Self, ModelError> {
        let files = Self::weight_files(dir)?;
        if files.is_empty() {
            return Err(ModelError::MissingTensor {
                path: dir.to_path_buf(),
                name: "*.safetensors (no weight files in the folder)".into(),
            });
        }
        let mut tensors = HashMap::new();
        for file in &files {
            let corrupt = |e: candle_core::Error| ModelError::CorruptFile {
                path: file.clone(),
                reason: without_backtrace(e).to_string(),
            };
            // One file at a time, converted as it is read, so the peak is
            // one shard's raw bytes plus the converted weights.
            for (name, tensor) in candle_core::safetensors::load(file, &Device::Cpu).map_err(corrupt)? {
                tensors.insert(name, tensor.to_dtype(DType::F32).map_err(corrupt)?);
            }
        }
        let path = match files.as_slice() {
            [file] => file.clone(),
            _ => dir.to_path_buf(),
        };
        Ok(SafetensorsWeights { path, tensors })
    }
}

impl WeightSource for SafetensorsWeights {
    fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self, param: Param) -> String {
        let layer = |l: usize, rest: &str| format!("model.layers.{l}.{rest}");
        match param {
            Param::TokenEmbedding => "model.embed_tokens.weight".into(),
            Param::FinalNorm => "model.norm.weight".into(),
            Param::LmHead => "lm_head.weight".into(),
            Param::AttentionNorm(l) => layer(l, "input_layernorm.weight"),
            Param::Query(l) => layer(l, "self_attn.q_proj.weight"),
            Param::Key(l) => layer(l, "self_attn.k_proj.weight"),
            Param::Value(l) => layer(l, "self_attn.v_proj.weight"),
            Param::QueryBias(l) => layer(l, "self_attn.q_proj.bias"),
            Param::KeyBias(l) => layer(l, "self_attn.k_proj.bias"),
            Param::ValueBias(l) => layer(l, "self_attn.v_proj.bias"),
            Param::AttentionOutput(l) => layer(l, "self_attn.o_proj.weight"),
            Param::MlpNorm(l) => layer(l, "post_attention_layernorm.weight"),
            Param::Gate(l) => layer(l, "mlp.gate_proj.weight"),
            Param::Up(l) => layer(l, "mlp.up_proj.weight"),
            Param::Down(l) => layer(l, "mlp.down_proj.weight"),
        }
    }

    fn matrix(&mut self, param: Param, _shape: (usize, usize)) -> Result<Option<Matrix>, ModelError> {
        Ok(self.tensors.get(&self.name(param)).cloned().map(Matrix::Dense))
    }

    fn vector(&mut self, param: Param, _len: usize) -> Result<Option<Tensor>, ModelError> {
        Ok(self.tensors.get(&self.name(param)).cloned())
    }
}
