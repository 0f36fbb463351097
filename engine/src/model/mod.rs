//! Language models as the samplers see them: next-token log-probabilities
//! over many live sequences, each with its own state, extended together.
//!
//! # The interface
//!
//! [`LanguageModel`] is the whole contract. A model holds any number of live
//! sequences, each named by a [`SeqId`]:
//!
//! - [`start`](LanguageModel::start) runs a prompt (prefill) and returns a
//!   new sequence;
//! - [`logprobs`](LanguageModel::logprobs) gives that sequence's
//!   distribution over the next token: natural-log probabilities, one per
//!   token of the model's [`Vocabulary`], normalised over exactly those
//!   tokens;
//! - [`extend`](LanguageModel::extend) appends one token to each of many
//!   sequences in **one batched forward pass** (the weight matrices are
//!   multiplied once for the whole batch), after which each sequence's
//!   `logprobs` describe its next position;
//! - [`fork`](LanguageModel::fork) copies a sequence (cheaply: see below),
//!   [`drop_sequence`](LanguageModel::drop_sequence) frees one, and
//!   [`reorder`](LanguageModel::reorder) does both at once the way SMC
//!   resampling needs (design.md §4: "KV caches follow their particles").
//!
//! The vocabulary a model reports ([`LanguageModel::vocabulary`]) is the
//! `Arc<Vocabulary>` of its tokenizer: the very object the token index
//! builds masks over, so ids mean the same thing on both sides. Output rows
//! that a checkpoint pads its vocabulary with (ids the tokenizer never
//! produces) are dropped before normalising; a tokenizer whose size differs
//! from the model's by more than padding is refused at load time
//! ([`ModelError::VocabularyMismatch`], see [`max_padding_rows`]).
//!
//! # The models
//!
//! - [`Llama`]: a Llama-family transformer (Llama, SmolLM2, Mistral, Qwen2)
//!   written with candle ops, loaded from a GGUF file (quantized weights, as
//!   the default model SmolLM2-135M-Instruct Q4_1 ships) or a Hugging Face
//!   folder (`config.json`, `tokenizer.json`, `*.safetensors`), or built
//!   with seeded random weights over a tiny vocabulary for tests
//!   ([`Llama::random`]). Its key/value cache is paged, and forks share
//!   pages copy-on-write, so a fork costs a few pointer copies.
//! - [`TableModel`]: a seeded n-gram table over a small vocabulary. Same
//!   interface, no arithmetic: 10⁵ samples take well under a second, which
//!   is what exactness tests that enumerate every sequence need.
//!
//! [`ChatTemplate`] renders an instruct model's chat template (Jinja, from
//! the GGUF metadata or `tokenizer_config.json`) around a user prompt.

mod chat;
mod default_model;
mod error;
pub(crate) mod kernels;
mod llama;
mod random;
mod sequences;
mod table;

use std::sync::Arc;

use trellis_token_index::{TokenId, Vocabulary};

pub use chat::{ChatMessage, ChatTemplate};
pub use default_model::{DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256, default_model_path};
pub use error::ModelError;
pub use llama::{Llama, Llama3RopeScaling, LlamaConfig, RopeLayout};
pub use table::TableModel;

/// A live sequence of one model. Ids are only meaningful to the model that
/// issued them; a dropped sequence's id is never valid again (using it gives
/// [`ModelError::UnknownSequence`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId {
    slot: u32,
    generation: u32,
}

/// Batched next-token log-probabilities over many live sequences.
///
/// See the [module docs](self) for the model of use. Every method that
/// takes a [`SeqId`] fails with [`ModelError::UnknownSequence`] for an id
/// that is not live; a failed call leaves the model as it was.
pub trait LanguageModel: Send {
    /// The vocabulary the log-probabilities are indexed by: the model's
    /// tokenizer's own `Arc`.
    fn vocabulary(&self) -> &Arc<Vocabulary>;

    /// The longest a sequence may grow, prompt included.
    fn max_sequence_len(&self) -> usize;

    /// About how many heap bytes `sequences` live sequences of `tokens`
    /// tokens each take at most, beyond the weights: each one's own cache
    /// (nothing shared), its next-token distribution, and the scratch of a
    /// batched step over all of them. For refusing a sampler setting
    /// before it runs out of memory; 0 when unknown.
    fn memory_estimate(&self, sequences: usize, tokens: usize) -> u64 {
        let _ = (sequences, tokens);
        0
    }

    /// Runs `prompt` and returns a new sequence positioned after it.
    ///
    /// Transformers need at least one token ([`ModelError::EmptyPrompt`]);
    /// table models accept an empty prompt.
    fn start(&mut self, prompt: &[TokenId]) -> Result<SeqId, ModelError>;

    /// Appends several tokens to one sequence in one forward pass: the same
    /// result as extending it by each token in turn.
    fn append(&mut self, seq: SeqId, tokens: &[TokenId]) -> Result<(), ModelError>;

    /// Appends one token to each listed sequence, in one batched forward
    /// pass. A sequence may appear at most once
    /// ([`ModelError::DuplicateSequence`]).
    fn extend(&mut self, steps: &[(SeqId, TokenId)]) -> Result<(), ModelError>;

    /// The next-token distribution of `seq`: `vocabulary().len()` natural-log
    /// probabilities whose exponentials sum to 1 (impossible tokens are
    /// `-inf`).
    fn logprobs(&self, seq: SeqId) -> Result<&[f32], ModelError>;

    /// Tokens in `seq` so far, prompt included.
    fn sequence_len(&self, seq: SeqId) -> Result<usize, ModelError>;

    /// A new sequence identical to `seq`: it continues exactly as `seq`
    /// would. Cheap: state is shared until one of them is extended.
    fn fork(&mut self, seq: SeqId) -> Result<SeqId, ModelError>;

    /// Frees `seq` and whatever state only it held.
    fn drop_sequence(&mut self, seq: SeqId) -> Result<(), ModelError>;

    /// Live sequences.
    fn live_sequences(&self) -> usize;

    /// Resampling: returns `new` with `new[i]` a copy of
    /// `seqs[ancestors[i]]`, and drops every sequence of `seqs` that no
    /// ancestor index names.
    ///
    /// The first use of each ancestor takes over its id; later uses are
    /// forks. The ids in `seqs` must be live and distinct, and every index
    /// in range, or nothing changes.
    fn reorder(&mut self, seqs: &[SeqId], ancestors: &[usize]) -> Result<Vec<SeqId>, ModelError> {
        for &seq in seqs {
            self.sequence_len(seq)?;
        }
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ModelError::DuplicateSequence { seq: pair[0] });
        }
        if let Some(&index) = ancestors.iter().find(|&&a| a >= seqs.len()) {
            return Err(ModelError::AncestorOutOfRange { index, len: seqs.len() });
        }
        let mut taken = vec![false; seqs.len()];
        let mut reordered = Vec::with_capacity(ancestors.len());
        for &ancestor in ancestors {
            if taken[ancestor] {
                reordered.push(self.fork(seqs[ancestor])?);
            } else {
                taken[ancestor] = true;
                reordered.push(seqs[ancestor]);
            }
        }
        for (&seq, taken) in seqs.iter().zip(taken) {
            if !taken {
                self.drop_sequence(seq)?;
            }
        }
        Ok(reordered)
    }
}

/// Runs the model's kernels on at most `threads` threads (the caller's
/// included); the default is one per core. Call it once, before the first
/// model step: the thread pools (Trellis's own for matrix products and
/// attention, rayon's for the rest) are process-wide and cannot be resized.
pub fn set_threads(threads: usize) -> Result<(), ModelError> {
    if threads == 0 {
        return Err(ModelError::Threads("the number of threads must be at least 1".into()));
    }
    if !kernels::pool::set_threads(threads) {
        return Err(ModelError::Threads("the model's thread pool is already running".into()));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|error| ModelError::Threads(error.to_string()))
}

/// How many more output rows than tokenizer tokens a model may have and
/// still be taken as padded rather than mismatched: `max(1024, len / 16)`.
///
/// Checkpoints round their embedding tables up for faster kernels (Qwen2.5:
/// 151,936 rows for 151,665 tokens; Phi-3: 32,064 for 32,011); a tokenizer
/// from another model family is usually off by far more, or in the other
/// direction.
pub fn max_padding_rows(tokenizer_len: usize) -> usize {
    (tokenizer_len / 16).max(1024)
}

/// Checks that a model with `model_rows` output rows can serve
/// `vocabulary` (see [`max_padding_rows`]).
pub(crate) fn check_vocabulary_rows(
    path: &std::path::Path,
    model_rows: usize,
    vocabulary: &Vocabulary,
) -> Result<(), ModelError> {
    let tokenizer_len = vocabulary.len();
    let max_padding = max_padding_rows(tokenizer_len);
    if model_rows < tokenizer_len || model_rows - tokenizer_len > max_padding {
        return Err(ModelError::VocabularyMismatch {
            path: path.to_path_buf(),
            model_rows,
            tokenizer_len,
            max_padding,
        });
    }
    Ok(())
}

/// `log_softmax` of `logits`, accumulated in `f64` (49k terms in `f32`
/// lose about three digits).
pub(crate) fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; logits.len()];
    log_softmax_into(logits, &mut out);
    out
}

/// [`log_softmax`] into `out` (`logits.len()` values).
pub(crate) fn log_softmax_into(logits: &[f32], out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::INFINITY || max.is_nan() {
        // An infinite or NaN logit: keep the NaN visible rather than invent
        // a distribution.
        out.fill(f32::NAN);
        return;
    }
    // Each term in f32 (exp(x − max) ≤ 1, relative error 3e-7), summed
    // in f64 so that 49,152 of them lose nothing.
    let sum = crate::numeric::sum_exp(logits, max);
    let log_norm = max as f64 + sum.ln();
    for (o, &x) in out.iter_mut().zip(logits) {
        *o = (x as f64 - log_norm) as f32;
    }
}

/// Checks that every token of `tokens` is in a vocabulary of `len` tokens.
pub(crate) fn check_tokens(tokens: &[TokenId], len: usize) -> Result<(), ModelError> {
    match tokens.iter().find(|&&t| t as usize >= len) {
        Some(&token) => Err(ModelError::TokenOutOfRange { token, vocab_len: len }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_normalises() {
        let lp = log_softmax(&[1.0, 2.0, 3.0, f32::NEG_INFINITY]);
        let total: f64 = lp.iter().map(|&x| (x as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(lp[3], f32::NEG_INFINITY);
        assert!((lp[2] - lp[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn padding_allowance() {
        assert_eq!(max_padding_rows(49_152), 3_072);
        assert_eq!(max_padding_rows(100), 1024);
    }
}
