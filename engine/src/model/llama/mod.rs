//! [`Llama`]: a Llama-family decoder over paged, forkable KV caches.
//!
//! One forward pass serves prefill and batched decode alike: its input is a
//! list of *rows*, each a token at a position of some sequence. All weight
//! matrices (Q, K, V, O, gate, up, down, lm_head) multiply the whole row
//! matrix at once, so a decode step over B sequences reads each weight once,
//! not B times. Only attention is per row, over that row's sequence's cache
//! ([`attention`]).
//!
//! ```text
//! rows ─► embed ─► ┌ RMSNorm ─► Q,K,V ─► RoPE ─► write K,V to caches ─► attend ─► O ─► + ┐ ×layers
//!                  └ RMSNorm ─► down(silu(gate(x)) · up(x)) ──────────────────────────► + ┘
//!       ─► last row of each sequence ─► RMSNorm ─► lm_head ─► drop padding ─► log_softmax
//! ```

mod attention;
mod config;
mod gguf;
mod hf;
mod kv_cache;
mod synthetic;
mod weights;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trellis_token_index::{TokenId, Tokenizer, Vocabulary};

pub use config::{Llama3RopeScaling, LlamaConfig, RopeLayout};

use super::sequences::SequenceTable;
use super::{LanguageModel, ModelError, SeqId, check_tokens, check_vocabulary_rows, log_softmax_into};
use crate::model::kernels::pool;
use attention::{AttentionShape, QueryRow};
use kv_cache::{KvCache, KvShape};
use weights::{Activations, LlamaWeights};

/// A Llama-family transformer (Llama, SmolLM2, Mistral, Qwen2) on the CPU.
///
/// Load one with [`Llama::load`] (a `.gguf` file or a Hugging Face folder),
/// or build a synthetic one with [`Llama::random`]. It implements
/// [`LanguageModel`]; each live sequence owns a paged key/value cache whose
/// blocks are shared copy-on-write with its forks.
///
/// Numerics: activations and caches are `f32`; GGUF weights stay quantized
/// and are multiplied by Trellis's kernels (`model::kernels`: activations
/// quantized to 8 bits per block of 32 for integer dot products, as
/// llama.cpp does); safetensors weights are converted to `f32` at load and
/// multiplied by candle.
pub struct Llama {
    config: LlamaConfig,
    weights: LlamaWeights,
    vocabulary: Arc<Vocabulary>,
    tokenizer: Option<Tokenizer>,
    source: PathBuf,
    /// RoPE tables, `(max_sequence_len, head_dim / 2)` row-major.
    cos: Vec<f32>,
    sin: Vec<f32>,
    attention: AttentionShape,
    sequences: SequenceTable<LlamaSequence>,
}

#[derive(Clone)]
struct LlamaSequence {
    cache: KvCache,
    /// Shared with forks: a fork copies a pointer, not 49k floats.
    logprobs: Arc<[f32]>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("source", &self.source)
            .field("config", &self.config)
            .field("vocabulary_len", &self.vocabulary.len())
            .field("live_sequences", &self.sequences.live())
            .finish_non_exhaustive()
    }
}

impl Llama {
    /// Loads a model: a `.gguf` file (or any file starting with the GGUF
    /// magic), or a Hugging Face folder with `config.json`,
    /// `tokenizer.json` and `*.safetensors`. The tokenizer comes from the
    /// same place.
    ///
    /// # Errors
    ///
    /// A [`ModelError`] naming the file: missing, corrupt, an unsupported
    /// architecture, a missing or misshapen tensor, or a tokenizer that does
    /// not fit the model's vocabulary.
    pub fn load(path: &Path) -> Result<Llama, ModelError> {
        let metadata = std::fs::metadata(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
        if metadata.is_dir() { hf::load(path) } else { gguf::load(path, false) }
    }

    /// A GGUF model with every quantized matrix decoded to `f32` at load
    /// and multiplied in `f32` (by candle): the reference that the
    /// quantized kernels' accuracy is measured against (same weights, no
    /// activation quantization). Four to eight times the memory of
    /// [`Llama::load`].
    ///
    /// # Errors
    ///
    /// As [`Llama::load`]; a folder is refused (its weights are `f32`
    /// already).
    pub fn load_dequantized(path: &Path) -> Result<Llama, ModelError> {
        gguf::load(path, true)
    }

    /// A model with seeded random weights: the same `(config, vocabulary,
    /// seed)` always gives the same model, on every machine.
    ///
    /// Weights are drawn at a scale that makes next-token distributions
    /// far from uniform (embeddings N(0, 1), matrices N(0, 1/fan_in)), so
    /// that tests of samplers see real differences between tokens.
    /// `config.vocab_rows` may exceed the vocabulary by padding.
    pub fn random(config: &LlamaConfig, vocabulary: Arc<Vocabulary>, seed: u64) -> Result<Llama, ModelError> {
        let source = PathBuf::from(format!("<random llama, seed {seed}>"));
        let mut weights = synthetic::RandomWeights::new(config, seed, source.clone());
        let weights = LlamaWeights::load(config, &mut weights)?;
        Llama::new(config.clone(), weights, vocabulary, None, source)
    }

    fn new(
        config: LlamaConfig,
        weights: LlamaWeights,
        vocabulary: Arc<Vocabulary>,
        tokenizer: Option<Tokenizer>,
        source: PathBuf,
    ) -> Result<Llama, ModelError> {
        config.validate(&source)?;
        check_vocabulary_rows(&source, config.vocab_rows, &vocabulary)?;
        let (cos, sin) = config.rope_tables();
        let attention = AttentionShape {
            kv: KvShape { layers: config.layers, kv_heads: config.kv_heads, head_dim: config.head_dim },
            heads: config.heads,
            window: config.sliding_window,
        };
        Ok(Llama {
            config,
            weights,
            vocabulary,
            tokenizer,
            source,
            cos,
            sin,
            attention,
            sequences: SequenceTable::default(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The tokenizer the model was loaded with (`None` for
    /// [`Llama::random`]). `tokenizer().vocabulary()` is
    /// [`vocabulary()`](LanguageModel::vocabulary).
    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        self.tokenizer.as_ref()
    }

    /// The file or folder the model was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Bytes of key/value cache held by all live sequences, counting each
    /// shared block once.
    pub fn kv_cache_bytes(&self) -> usize {
        let mut seen = HashSet::new();
        let mut total = 0;
        self.sequences.for_each(|sequence| {
            sequence.cache.for_each_block(|block, bytes| {
                if seen.insert(block as usize) {
                    total += bytes;
                }
            });
        });
        total
    }

    /// Runs `tokens` (row `i` at `rows[i]`) through the network, writing
    /// their keys and values into `caches` (already grown to hold them), and
    /// returns the log-probabilities after each row listed in `outputs`.
    fn forward(
        &self,
        caches: &mut [KvCache],
        tokens: &[TokenId],
        rows: &[QueryRow],
        outputs: &[usize],
    ) -> Result<Vec<Arc<[f32]>>, ModelError> {
        let n = tokens.len();
        let config = &self.config;
        let eps = config.rms_norm_eps as f32;
        let hidden = config.hidden_size;
        let head_dim = config.head_dim;
        let kv = self.attention.kv;
        let kv_width = config.kv_heads * head_dim;
        let layout = config.rope_layout;

        // Plain f32 buffers, row-major (row i is token i): every operation
        // but the matrix products is a loop over them, so a step costs no
        // tensor allocation or thread dispatch per small op.
        let mut x = self.weights.embedding.rows(tokens)?;
        let mut h = vec![0.0f32; n * hidden];
        let (mut q, mut k, mut v) = (Vec::new(), Vec::new(), Vec::new());
        let (mut gate, mut up, mut projected) = (Vec::new(), Vec::new(), Vec::new());
        for (l, layer) in self.weights.layers.iter().enumerate() {
            rms_norm(&x, &layer.attention_norm, eps, &mut h);
            let input = Activations::precise(&h, n);
            layer.query.forward(&input, &mut q)?;
            layer.key.forward(&input, &mut k)?;
            layer.value.forward(&input, &mut v)?;
            for (i, row) in rows.iter().enumerate() {
                let (cos, sin) = self.rope_at(row.position);
                for head in q[i * config.heads * head_dim..(i + 1) * config.heads * head_dim].chunks_exact_mut(head_dim)
                {
                    rope(layout, head, cos, sin);
                }
                for head in k[i * kv_width..(i + 1) * kv_width].chunks_exact_mut(head_dim) {
                    rope(layout, head, cos, sin);
                }
                let span = i * kv_width..(i + 1) * kv_width;
                caches[row.cache].write(&kv, l, row.position, &k[span.clone()], &v[span]);
            }
            let mixed = attention::attend(&self.attention, caches, rows, l, &q);
            layer.attention_output.forward(&Activations::new(&mixed, n), &mut projected)?;
            add(&mut x, &projected);

            rms_norm(&x, &layer.mlp_norm, eps, &mut h);
            let input = Activations::precise(&h, n);
            layer.gate.forward(&input, &mut gate)?;
            layer.up.forward(&input, &mut up)?;
            let width = config.intermediate_size;
            pool::for_rows(&mut gate, width, 4, |i, row| {
                for (g, u) in row.iter_mut().zip(&up[i * width..(i + 1) * width]) {
                    // silu(g)·u
                    *g = *g / (1.0 + crate::numeric::exp(-*g)) * u;
                }
            });
            layer.down.forward(&Activations::new(&gate, n), &mut projected)?;
            add(&mut x, &projected);
        }

        let mut last = vec![0.0f32; outputs.len() * hidden];
        for (out, &i) in last.chunks_exact_mut(hidden).zip(outputs) {
            out.copy_from_slice(&x[i * hidden..(i + 1) * hidden]);
        }
        let mut normed = vec![0.0f32; last.len()];
        rms_norm(&last, &self.weights.final_norm, eps, &mut normed);
        let mut logits = Vec::new();
        self.weights.lm_head.forward(&Activations::precise(&normed, outputs.len()), &mut logits)?;
        // Rows past the tokenizer's vocabulary are padding: no token has
        // them, so they are dropped before normalising.
        let vocab_len = self.vocabulary.len();
        let rows = config.vocab_rows;
        let mut normalised = vec![0.0f32; outputs.len() * vocab_len];
        pool::for_rows(&mut normalised, vocab_len, 1, |i, out| {
            log_softmax_into(&logits[i * rows..i * rows + vocab_len], out);
        });
        Ok(normalised.chunks_exact(vocab_len).map(Arc::from).collect())
    }

    /// The RoPE table rows of `position`: `head_dim / 2` cosines and sines.
    fn rope_at(&self, position: usize) -> (&[f32], &[f32]) {
        let half = self.config.head_dim / 2;
        let span = position * half..(position + 1) * half;
        (&self.cos[span.clone()], &self.sin[span])
    }

    /// Runs `tokens` after the current end of `cache`, returning the
    /// log-probabilities after the last one. On error the cache is left as
    /// it was.
    fn run_chunk(&self, seq: Option<SeqId>, cache: &mut KvCache, tokens: &[TokenId]) -> Result<Arc<[f32]>, ModelError> {
        check_tokens(tokens, self.vocabulary.len())?;
        let start = cache.len();
        let end = start + tokens.len();
        if end > self.config.max_sequence_len {
            return Err(ModelError::ContextFull { seq, len: end, max: self.config.max_sequence_len });
        }
        cache.grow(&self.attention.kv, tokens.len());
        let rows: Vec<QueryRow> = (start..end).map(|position| QueryRow { cache: 0, position }).collect();
        let result = self.forward(std::slice::from_mut(cache), tokens, &rows, &[tokens.len() - 1]);
        match result {
            Ok(mut logprobs) => Ok(logprobs.remove(0)),
            Err(e) => {
                cache.truncate(&self.attention.kv, start);
                Err(e)
            }
        }
    }
}

impl LanguageModel for Llama {
    fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocabulary
    }

    fn max_sequence_len(&self) -> usize {
        self.config.max_sequence_len
    }

    fn memory_estimate(&self, sequences: usize, tokens: usize) -> u64 {
        let config = &self.config;
        // f32 keys and values of every layer per position (kv_cache.rs).
        let cache = tokens as u64 * (config.layers * 2 * config.kv_heads * config.head_dim * 4) as u64;
        // The distribution a sequence keeps, plus the logits and the f64
        // log-softmax of the step that made it.
        let distribution = config.vocab_rows as u64 * (4 + 4 + 8);
        // One step's activations: hidden states and the MLP's widest.
        let activations = (config.hidden_size + 2 * config.intermediate_size) as u64 * 4;
        sequences as u64 * (cache + distribution + activations)
    }

    fn start(&mut self, prompt: &[TokenId]) -> Result<SeqId, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let mut cache = KvCache::default();
        let logprobs = self.run_chunk(None, &mut cache, prompt)?;
        Ok(self.sequences.insert(LlamaSequence { cache, logprobs }))
    }

    fn append(&mut self, seq: SeqId, tokens: &[TokenId]) -> Result<(), ModelError> {
        if tokens.is_empty() {
            self.sequences.get(seq)?;
            return Ok(());
        }
        let mut cache = std::mem::take(&mut self.sequences.get_mut(seq)?.cache);
        let result = self.run_chunk(Some(seq), &mut cache, tokens);
        let sequence = self.sequences.get_mut(seq)?;
        sequence.cache = cache;
        sequence.logprobs = result?;
        Ok(())
    }

    fn extend(&mut self, steps: &[(SeqId, TokenId)]) -> Result<(), ModelError> {
        if steps.is_empty() {
            return Ok(());
        }
        self.sequences.check_batch(steps.iter().map(|&(seq, _)| seq))?;
        let tokens: Vec<TokenId> = steps.iter().map(|&(_, token)| token).collect();
        check_tokens(&tokens, self.vocabulary.len())?;
        for &(seq, _) in steps {
            let len = self.sequences.get(seq)?.cache.len() + 1;
            if len > self.config.max_sequence_len {
                return Err(ModelError::ContextFull { seq: Some(seq), len, max: self.config.max_sequence_len });
            }
        }

        // Move the caches out of the table for the pass (the batch is
        // distinct, so this is a partition), and back in afterwards.
        let mut caches = Vec::with_capacity(steps.len());
        let mut rows = Vec::with_capacity(steps.len());
        for (i, &(seq, _)) in steps.iter().enumerate() {
            let mut cache = std::mem::take(&mut self.sequences.get_mut(seq)?.cache);
            rows.push(QueryRow { cache: i, position: cache.len() });
            cache.grow(&self.attention.kv, 1);
            caches.push(cache);
        }
        let outputs: Vec<usize> = (0..steps.len()).collect();
        let result = self.forward(&mut caches, &tokens, &rows, &outputs);
        let failed = result.is_err();
        for ((&(seq, _), mut cache), row) in steps.iter().zip(caches).zip(&rows) {
            if failed {
                cache.truncate(&self.attention.kv, row.position);
            }
            self.sequences.get_mut(seq)?.cache = cache;
        }
        for (&(seq, _), logprobs) in steps.iter().zip(result?) {
            self.sequences.get_mut(seq)?.logprobs = logprobs;
        }
        Ok(())
    }

    fn logprobs(&self, seq: SeqId) -> Result<&[f32], ModelError> {
        Ok(&self.sequences.get(seq)?.logprobs)
    }

    fn sequence_len(&self, seq: SeqId) -> Result<usize, ModelError> {
        Ok(self.sequences.get(seq)?.cache.len())
    }

    fn fork(&mut self, seq: SeqId) -> Result<SeqId, ModelError> {
        let copy = self.sequences.get(seq)?.clone();
        Ok(self.sequences.insert(copy))
    }

    fn drop_sequence(&mut self, seq: SeqId) -> Result<(), ModelError> {
        self.sequences.remove(seq).map(drop)
    }

    fn live_sequences(&self) -> usize {
        self.sequences.live()
    }
}

/// `out = x / √(mean(x²) + ε) · w`, row by row.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    for (row, out) in x.chunks_exact(weight.len()).zip(out.chunks_exact_mut(weight.len())) {
        let mean_square = row.iter().map(|v| v * v).sum::<f32>() / weight.len() as f32;
        let scale = 1.0 / (mean_square + eps).sqrt();
        for ((o, v), w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// Rotates one head by the position's angles (RoFormer, Su et al. 2021):
/// pairs `(i, i + d/2)` for [`RopeLayout::Halves`] (Llama's Hugging Face
/// layout), `(2i, 2i + 1)` for [`RopeLayout::Interleaved`].
fn rope(layout: RopeLayout, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = head.len() / 2;
    for i in 0..half {
        let (a, b) = match layout {
            RopeLayout::Halves => (i, i + half),
            RopeLayout::Interleaved => (2 * i, 2 * i + 1),
        };
        let (x, y) = (head[a], head[b]);
        head[a] = x * cos[i] - y * sin[i];
        head[b] = x * sin[i] + y * cos[i];
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests;
