//! The weights of a Llama-family decoder, whatever file they came from.
//!
//! Loaders ([`gguf`](super::gguf), [`hf`](super::hf), the synthetic
//! [`random`](super::random) one) implement [`WeightSource`]: "give me the
//! matrix for this parameter". [`LlamaWeights::load`] asks for every
//! parameter the [`LlamaConfig`] implies and checks each shape, so a file
//! with a missing or misshapen tensor fails at load time with its name, never
//! in the middle of a forward pass.

use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use std::cell::OnceCell;

use candle_core::{Device, Module, Tensor};

use super::config::LlamaConfig;
use crate::model::ModelError;
use crate::model::kernels::activations::{self, ActBlock};
use crate::model::kernels::{Format, QuantMatrix};

/// A parameter of the architecture, named independently of file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    TokenEmbedding,
    FinalNorm,
    LmHead,
    AttentionNorm(usize),
    Query(usize),
    Key(usize),
    Value(usize),
    QueryBias(usize),
    KeyBias(usize),
    ValueBias(usize),
    AttentionOutput(usize),
    MlpNorm(usize),
    Gate(usize),
    Up(usize),
    Down(usize),
}

/// A weight matrix as stored: quantized blocks (GGUF) or plain floats.
#[derive(Clone, Debug)]
pub(crate) enum Matrix {
    Quantized(Arc<QTensor>),
    Dense(Tensor),
}

impl Matrix {
    fn dims(&self) -> Vec<usize> {
        match self {
            Matrix::Quantized(q) => q.shape().dims().to_vec(),
            Matrix::Dense(t) => t.dims().to_vec(),
        }
    }
}

/// Where weights come from. `matrix` and `vector` return `Ok(None)` for an
/// absent tensor; the caller decides whether that is an error, and checks
/// the shape of what is returned.
pub(crate) trait WeightSource {
    /// The file (or folder) named in errors.
    fn path(&self) -> &Path;
    /// The tensor name of `param` in this format.
    fn name(&self, param: Param) -> String;
    /// A 2-D tensor, `(rows, columns)` as in PyTorch; `shape` is what the
    /// hyperparameters expect (synthetic sources use it to make one).
    fn matrix(&mut self, param: Param, shape: (usize, usize)) -> Result<Option<Matrix>, ModelError>;
    /// A 1-D tensor as `f32`.
    fn vector(&mut self, param: Param, len: usize) -> Result<Option<Tensor>, ModelError>;
}

/// `y = x·Wᵀ (+ b)` over rows of `x`.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    weight: Product,
    bias: Option<Vec<f32>>,
}

/// How a weight matrix is multiplied: Trellis's kernels for the GGUF block
/// formats they cover ([`kernels`](crate::model::kernels)), candle's for
/// the rest (`f32` safetensors, other GGUF types).
#[derive(Clone, Debug)]
enum Product {
    Ours(Arc<QuantMatrix>),
    Candle(QMatMul),
}

impl Linear {
    /// `y = x·Wᵀ (+ b)` for the rows of `x`, on plain buffers (no tensor
    /// per operation). The products that read the same input (Q, K and V;
    /// gate and up) share its 8-bit quantization through `x`.
    pub(crate) fn forward(&self, x: &Activations<'_>, y: &mut Vec<f32>) -> Result<(), ModelError> {
        match &self.weight {
            Product::Ours(weight) => weight.matmul(x.quantized(weight.cols()), x.batch, x.terms, y),
            Product::Candle(weight) => {
                let input = Tensor::from_slice(x.rows, (x.batch, x.rows.len() / x.batch), &Device::Cpu)?;
                *y = weight.forward(&input)?.flatten_all()?.to_vec1::<f32>()?;
            }
        }
        if let Some(bias) = &self.bias {
            for row in y.chunks_exact_mut(bias.len()) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
        Ok(())
    }
}

/// The input rows of one or more products, with their 8-bit blocks made
/// on first use and kept for the next product of the same input.
pub(crate) struct Activations<'a> {
    rows: &'a [f32],
    batch: usize,
    /// 8-bit terms per row: 1, or 2 for the inputs whose rounding moves the
    /// model's distributions most ([`activations::quantize_rows`]).
    terms: usize,
    quantized: OnceCell<Vec<ActBlock>>,
}

impl<'a> Activations<'a> {
    /// `batch` rows, concatenated in `rows`, quantized to one 8-bit term.
    pub(crate) fn new(rows: &'a [f32], batch: usize) -> Activations<'a> {
        Activations { rows, batch, terms: 1, quantized: OnceCell::new() }
    }

    /// `batch` rows quantized to two 8-bit terms (about 15 bits): for the
    /// normalised inputs of the Q/K/V, gate/up and output products.
    pub(crate) fn precise(rows: &'a [f32], batch: usize) -> Activations<'a> {
        Activations { rows, batch, terms: 2, quantized: OnceCell::new() }
    }

    fn quantized(&self, cols: usize) -> &[ActBlock] {
        self.quantized.get_or_init(|| activations::quantize_rows(self.rows, cols, self.terms))
    }
}

/// Token id → embedding row. A quantized table is dequantized row by row,
/// so SmolLM2's Q8_0 table (49,152 × 576) is never expanded to 113 MB of
/// `f32`.
#[derive(Clone, Debug)]
pub(crate) enum Embedding {
    Ours(Arc<QuantMatrix>),
    Quantized(Arc<QTensor>),
    Dense(Tensor),
}

impl Embedding {
    /// The rows of `ids`, concatenated.
    pub(crate) fn rows(&self, ids: &[u32]) -> Result<Vec<f32>, ModelError> {
        let table = match self {
            Embedding::Ours(table) => {
                let cols = table.cols();
                let mut rows = vec![0.0f32; ids.len() * cols];
                for (&id, row) in ids.iter().zip(rows.chunks_exact_mut(cols)) {
                    table.dequantize_row(id as usize, row);
                }
                return Ok(rows);
            }
            Embedding::Quantized(table) => table.embedding(&Tensor::new(ids, &Device::Cpu)?)?,
            Embedding::Dense(table) => table.index_select(&Tensor::new(ids, &Device::Cpu)?, 0)?,
        };
        Ok(table.flatten_all()?.to_vec1::<f32>()?)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct LayerWeights {
    pub(crate) attention_norm: Vec<f32>,
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) attention_output: Linear,
    pub(crate) mlp_norm: Vec<f32>,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
}

#[derive(Clone, Debug)]
pub(crate) struct LlamaWeights {
    pub(crate) embedding: Embedding,
    pub(crate) layers: Vec<LayerWeights>,
    pub(crate) final_norm: Vec<f32>,
    pub(crate) lm_head: Linear,
}

impl LlamaWeights {
    /// Reads and shape-checks every parameter `config` implies.
    ///
    /// With tied embeddings (SmolLM2) the output projection is the
    /// embedding matrix itself, shared, not a copy.
    pub(crate) fn load(config: &LlamaConfig, source: &mut dyn WeightSource) -> Result<LlamaWeights, ModelError> {
        let hidden = config.hidden_size;
        let q_out = config.heads * config.head_dim;
        let kv_out = config.kv_heads * config.head_dim;
        let inter = config.intermediate_size;

        let embedding_matrix = matrix(source, Param::TokenEmbedding, (config.vocab_rows, hidden))?;
        let embedding_product = product(embedding_matrix.clone())?;
        let lm_head = if config.tie_word_embeddings {
            Linear { weight: embedding_product.clone(), bias: None }
        } else {
            linear(matrix(source, Param::LmHead, (config.vocab_rows, hidden))?, None)?
        };
        let embedding = match (embedding_product, embedding_matrix) {
            (Product::Ours(table), _) => Embedding::Ours(table),
            (_, Matrix::Quantized(q)) => Embedding::Quantized(q),
            (_, Matrix::Dense(t)) => Embedding::Dense(t),
        };

        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let biased = |source: &mut dyn WeightSource, w: Param, b: Param, out: usize| {
                let weight = matrix(source, w, (out, hidden))?;
                let bias = if config.attention_bias { Some(vector(source, b, out)?.to_vec1::<f32>()?) } else { None };
                linear(weight, bias)
            };
            layers.push(LayerWeights {
                attention_norm: vector(source, Param::AttentionNorm(l), hidden)?.to_vec1::<f32>()?,
                query: biased(source, Param::Query(l), Param::QueryBias(l), q_out)?,
                key: biased(source, Param::Key(l), Param::KeyBias(l), kv_out)?,
                value: biased(source, Param::Value(l), Param::ValueBias(l), kv_out)?,
                attention_output: linear(matrix(source, Param::AttentionOutput(l), (hidden, q_out))?, None)?,
                mlp_norm: vector(source, Param::MlpNorm(l), hidden)?.to_vec1::<f32>()?,
                gate: linear(matrix(source, Param::Gate(l), (inter, hidden))?, None)?,
                up: linear(matrix(source, Param::Up(l), (inter, hidden))?, None)?,
                down: linear(matrix(source, Param::Down(l), (hidden, inter))?, None)?,
            });
        }
        Ok(LlamaWeights {
            embedding,
            layers,
            final_norm: vector(source, Param::FinalNorm, hidden)?.to_vec1::<f32>()?,
            lm_head,
        })
    }
}

fn linear(weight: Matrix, bias: Option<Vec<f32>>) -> Result<Linear, ModelError> {
    Ok(Linear { weight: product(weight)?, bias })
}

/// Our kernels where they cover the format, candle's otherwise.
fn product(weight: Matrix) -> Result<Product, ModelError> {
    Ok(match weight {
        Matrix::Quantized(q) => {
            let (rows, cols) = q.shape().dims2()?;
            match Format::from_ggml(q.dtype()) {
                Some(format) => match QuantMatrix::new(format, rows, cols, q.data()?.into_owned()) {
                    Some(matrix) => Product::Ours(Arc::new(matrix)),
                    None => Product::Candle(QMatMul::from_arc(q)?),
                },
                None => Product::Candle(QMatMul::from_arc(q)?),
            }
        }
        Matrix::Dense(t) => Product::Candle(QMatMul::Tensor(t)),
    })
}

fn optional_matrix(
    source: &mut dyn WeightSource,
    param: Param,
    shape: (usize, usize),
) -> Result<Option<Matrix>, ModelError> {
    let Some(m) = source.matrix(param, shape)? else {
        return Ok(None);
    };
    check_shape(source.path(), &source.name(param), &[shape.0, shape.1], &m.dims())?;
    Ok(Some(m))
}

fn matrix(source: &mut dyn WeightSource, param: Param, shape: (usize, usize)) -> Result<Matrix, ModelError> {
    optional_matrix(source, param, shape)?
        .ok_or_else(|| ModelError::MissingTensor { path: source.path().to_path_buf(), name: source.name(param) })
}

fn vector(source: &mut dyn WeightSource, param: Param, len: usize) -> Result<Tensor, ModelError> {
    let v = source
        .vector(param, len)?
        .ok_or_else(|| ModelError::MissingTensor { path: source.path().to_path_buf(), name: source.name(param) })?;
    check_shape(source.path(), &source.name(param), &[len], v.dims())?;
    Ok(v)
}

fn check_shape(path: &Path, name: &str, expected: &[usize], found: &[usize]) -> Result<(), ModelError> {
    if expected == found {
        Ok(())
    } else {
        Err(ModelError::TensorShape {
            path: path.to_path_buf(),
            name: name.to_string(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        })
    }
}
