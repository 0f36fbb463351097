//! Loading a [`Llama`] from a GGUF file (llama.cpp's format).
//!
//! Weights stay quantized (`QMatMul`); hyperparameters come from the
//! `{arch}.*` metadata keys; the tokenizer from the same file's
//! `tokenizer.ggml.*` keys (through `trellis_token_index`).
//!
//! RoPE layout: llama.cpp's converter permutes the rows of `attn_q` and
//! `attn_k` of `llama` models so that rotating *interleaved* pairs gives
//! what Hugging Face's `rotate_half` gives on the original weights; so a
//! `llama` GGUF runs with [`RopeLayout::Interleaved`]. `qwen2` weights are
//! not permuted (llama.cpp runs them with its NEOX rope), so they rotate
//! halves.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, gguf_file};
use candle_core::{DType, Device, Tensor};
use trellis_token_index::Tokenizer;

use super::Llama;
use super::config::{LlamaConfig, RopeLayout};
use super::weights::{LlamaWeights, Matrix, Param, WeightSource};
use crate::model::ModelError;
use crate::model::error::without_backtrace;

/// GGUF architectures this loader runs.
const SUPPORTED: &str = "llama (Llama, SmolLM2, Mistral), qwen2";

/// `dequantized`: every matrix decoded to `f32` at load (the accuracy
/// reference, [`Llama::load_dequantized`]).
pub(super) fn load(path: &Path, dequantized: bool) -> Result<Llama, ModelError> {
    let file = File::open(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    let mut reader = BufReader::new(file);
    check_magic(path, &mut reader)?;
    let content = gguf_file::Content::read(&mut reader).map_err(|e| corrupt(path, e))?;
    let config = hyperparameters(path, &content)?;

    let tokenizer =
        Tokenizer::from_gguf(path).map_err(|source| ModelError::Tokenizer { path: path.to_path_buf(), source })?;
    // Check the vocabulary before reading 100 MB of weights.
    super::check_vocabulary_rows(path, config.vocab_rows, tokenizer.vocabulary())?;

    let mut source = GgufWeights { path: path.to_path_buf(), content: &content, reader: &mut reader, dequantized };
    let weights = LlamaWeights::load(&config, &mut source)?;
    let vocabulary = Arc::clone(tokenizer.vocabulary());
    Llama::new(config, weights, vocabulary, Some(tokenizer), path.to_path_buf())
}

/// Refuses a file that does not start like a GGUF file in the user's
/// terms (candle's reader would say "failed to fill whole buffer" of an
/// empty one); leaves the reader where it was.
fn check_magic(path: &Path, reader: &mut BufReader<File>) -> Result<(), ModelError> {
    use std::io::BufRead;
    let head = reader.fill_buf().map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    let reason = match head {
        [] => "the file is empty".to_string(),
        head if !b"GGUF".starts_with(&head[..head.len().min(4)]) => {
            format!(
                "not a GGUF file (it starts with {:?}, not \"GGUF\")",
                String::from_utf8_lossy(&head[..head.len().min(4)])
            )
        }
        head if head.len() < 4 => format!("truncated: {} bytes", head.len()),
        _ => return Ok(()),
    };
    Err(ModelError::CorruptFile { path: path.to_path_buf(), reason })
}

fn corrupt(path: &Path, error: candle_core::Error) -> ModelError {
    ModelError::CorruptFile { path: path.to_path_buf(), reason: without_backtrace(error).to_string() }
}

/// Reads the `{arch}.*` hyperparameters, refusing what this forward pass
/// would silently get wrong (mixtures of experts, partial rotary
/// dimensions, per-frequency RoPE factors).
fn hyperparameters(path: &Path, content: &gguf_file::Content) -> Result<LlamaConfig, ModelError> {
    let metadata = Metadata { path, content };
    let architecture = metadata.string("general.architecture")?;
    let (rope_layout, attention_bias) = match architecture.as_str() {
        "llama" => (RopeLayout::Interleaved, false),
        "qwen2" => (RopeLayout::Halves, true),
        _ => {
            return Err(ModelError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture,
                supported: SUPPORTED,
            });
        }
    };
    let key = |name: &str| format!("{architecture}.{name}");
    let unsupported = |what: &str| ModelError::UnsupportedArchitecture {
        path: path.to_path_buf(),
        architecture: format!("{architecture} with {what}"),
        supported: SUPPORTED,
    };
    if metadata.optional_usize(&key("expert_count"))?.unwrap_or(0) > 1 {
        return Err(unsupported("mixture of experts"));
    }
    if content.tensor_infos.contains_key("rope_freqs.weight") {
        return Err(unsupported("per-frequency RoPE factors (rope_freqs.weight)"));
    }
    if let Some(kind) = metadata.optional_string(&key("rope.scaling.type"))?
        && kind != "none"
    {
        return Err(unsupported(&format!("RoPE scaling `{kind}`")));
    }

    let hidden_size = metadata.usize(&key("embedding_length"))?;
    let heads = metadata.usize(&key("attention.head_count"))?;
    let kv_heads = metadata.optional_usize(&key("attention.head_count_kv"))?.unwrap_or(heads);
    if heads == 0 {
        return Err(metadata.bad(&key("attention.head_count"), "must be positive".into()));
    }
    let head_dim = metadata.optional_usize(&key("attention.key_length"))?.unwrap_or(hidden_size / heads);
    if let Some(rope_dim) = metadata.optional_usize(&key("rope.dimension_count"))?
        && rope_dim != head_dim
    {
        return Err(unsupported(&format!("partial rotary embeddings ({rope_dim} of {head_dim} dimensions)")));
    }
    let vocab_rows = match content.tensor_infos.get("token_embd.weight") {
        Some(info) => info.shape.dims().first().copied().unwrap_or(0),
        None => {
            return Err(ModelError::MissingTensor { path: path.to_path_buf(), name: "token_embd.weight".into() });
        }
    };
    let tied = !content.tensor_infos.contains_key("output.weight");
    Ok(LlamaConfig {
        hidden_size,
        intermediate_size: metadata.usize(&key("feed_forward_length"))?,
        layers: metadata.usize(&key("block_count"))?,
        heads,
        kv_heads,
        head_dim,
        vocab_rows,
        rms_norm_eps: metadata.f64(&key("attention.layer_norm_rms_epsilon"))?,
        rope_theta: metadata.optional_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0) as f32,
        rope_layout,
        rope_scaling: None,
        attention_bias,
        tie_word_embeddings: tied,
        max_sequence_len: metadata.usize(&key("context_length"))?,
        sliding_window: None,
    })
}

/// Typed access to GGUF metadata, with errors naming the key.
struct Metadata<'a> {
    path: &'a Path,
    content: &'a gguf_file::Content,
}

impl Metadata<'_> {
    fn bad(&self, key: &str, reason: String) -> ModelError {
        ModelError::BadHyperparameter { path: self.path.to_path_buf(), key: key.to_string(), reason }
    }

    fn missing(&self, key: &str) -> ModelError {
        self.bad(key, "missing from the GGUF metadata".into())
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, ModelError> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(gguf_file::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(key, format!("expected a string, found {other:?}"))),
        }
    }

    fn string(&self, key: &str) -> Result<String, ModelError> {
        self.optional_string(key)?.ok_or_else(|| self.missing(key))
    }

    fn optional_usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        use gguf_file::Value as V;
        let value = match self.content.metadata.get(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let n: Option<u64> = match *value {
            V::U8(x) => Some(x.into()),
            V::U16(x) => Some(x.into()),
            V::U32(x) => Some(x.into()),
            V::U64(x) => Some(x),
            V::I8(x) => u64::try_from(x).ok(),
            V::I16(x) => u64::try_from(x).ok(),
            V::I32(x) => u64::try_from(x).ok(),
            V::I64(x) => u64::try_from(x).ok(),
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.bad(key, format!("expected a non-negative integer, found {value:?}")))
    }

    fn usize(&self, key: &str) -> Result<usize, ModelError> {
        self.optional_usize(key)?.ok_or_else(|| self.missing(key))
    }

    fn optional_f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        use gguf_file::Value as V;
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(V::F32(x)) => Ok(Some(f64::from(*x))),
            Some(V::F64(x)) => Ok(Some(*x)),
            Some(other) => Err(self.bad(key, format!("expected a number, found {other:?}"))),
        }
    }

    fn f64(&self, key: &str) -> Result<f64, ModelError> {
        self.optional_f64(key)?.ok_or_else(|| self.missing(key))
    }
}

/// Tensors of an open GGUF file, by llama.cpp's names.
struct GgufWeights<'a, R> {
    path: PathBuf,
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    dequantized: bool,
}

impl<R: std::io::Read + std::io::Seek> WeightSource for GgufWeights<'_, R> {
    fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self, param: Param) -> String {
        match param {
            Param::TokenEmbedding => "token_embd.weight".into(),
            Param::FinalNorm => "output_norm.weight".into(),
            Param::LmHead => "output.weight".into(),
            Param::AttentionNorm(l) => format!("blk.{l}.attn_norm.weight"),
            Param::Query(l) => format!("blk.{l}.attn_q.weight"),
            Param::Key(l) => format!("blk.{l}.attn_k.weight"),
            Param::Value(l) => format!("blk.{l}.attn_v.weight"),
            Param::QueryBias(l) => format!("blk.{l}.attn_q.bias"),
            Param::KeyBias(l) => format!("blk.{l}.attn_k.bias"),
            Param::ValueBias(l) => format!("blk.{l}.attn_v.bias"),
            Param::AttentionOutput(l) => format!("blk.{l}.attn_output.weight"),
            Param::MlpNorm(l) => format!("blk.{l}.ffn_norm.weight"),
            Param::Gate(l) => format!("blk.{l}.ffn_gate.weight"),
            Param::Up(l) => format!("blk.{l}.ffn_up.weight"),
            Param::Down(l) => format!("blk.{l}.ffn_down.weight"),
        }
    }

    fn matrix(&mut self, param: Param, _shape: (usize, usize)) -> Result<Option<Matrix>, ModelError> {
        let name = self.name(param);
        if !self.content.tensor_infos.contains_key(&name) {
            return Ok(None);
        }
        let tensor = self.content.tensor(self.reader, &name, &Device::Cpu).map_err(|e| corrupt(&self.path, e))?;
        Ok(Some(match tensor.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Matrix::Dense(
                tensor
                    .dequantize(&Device::Cpu)
                    .and_then(|t| t.to_dtype(DType::F32))
                    .map_err(|e| corrupt(&self.path, e))?,
            ),
            _ if self.dequantized => {
                Matrix::Dense(tensor.dequantize(&Device::Cpu).map_err(|e| corrupt(&self.path, e))?)
            }
            _ => Matrix::Quantized(Arc::new(tensor)),
        }))
    }

    fn vector(&mut self, param: Param, _len: usize) -> Result<Option<Tensor>, ModelError> {
        let name = self.name(param);
        if !self.content.tensor_infos.contains_key(&name) {
            return Ok(None);
        }
        let tensor = self
            .content
            .tensor(self.reader, &name, &Device::Cpu)
            .and_then(|t| t.dequantize(&Device::Cpu))
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| corrupt(&self.path, e))?;
        Ok(Some(tensor))
    }
}
