//! The engine of Trellis: language models, and the samplers that make
//! their output satisfy a constraint.
//!
//! # The idea
//!
//! A sampler (design.md §4) never asks a model for one sequence at a time.
//! Sequential Monte Carlo keeps N particles, extends all of them by one
//! token per step, and on resampling copies some and drops others. So the
//! model layer is built around that pattern:
//!
//! - a model holds many live sequences, each named by a [`SeqId`] and
//!   owning its state (for a transformer, its key/value cache);
//! - one call, [`LanguageModel::extend`], appends a token to each of many
//!   sequences in a single batched forward pass;
//! - [`LanguageModel::fork`] and [`LanguageModel::reorder`] copy sequences
//!   in O(1)-ish time: a transformer's cache is paged, and forks share pages
//!   copy-on-write;
//! - [`LanguageModel::logprobs`] gives natural-log next-token probabilities
//!   over the model's [`Vocabulary`](trellis_token_index::Vocabulary) — the
//!   same `Arc` the token index builds masks over — with checkpoint padding
//!   rows dropped.
//!
//! # What is here
//!
//! - [`model::Llama`]: Llama-family transformers (Llama, SmolLM2, Mistral,
//!   Qwen2) written with candle ops, from GGUF (quantized; the default model
//!   SmolLM2-135M-Instruct, design.md §6) or a Hugging Face folder
//!   (safetensors), or with seeded random weights for tests.
//! - [`model::TableModel`]: a seeded n-gram table over a tiny vocabulary, for
//!   tests that enumerate every sequence (10⁵ samples in well under a
//!   second).
//! - [`model::ChatTemplate`]: an instruct model's Jinja chat template.
//!
//! - [`sampler`]: the samplers of design.md §4 over any [`LanguageModel`]
//!   and a token mask: masked decoding (greedy, temperature, top-k, top-p,
//!   jump-forward), exact rejection sampling, SMC with the mask's allowed
//!   mass as weights, twisted SMC towards a soft [`sampler::Potential`],
//!   final [`sampler::Verifier`]s, and blockwise best-of-K, all behind one
//!   entry point ([`sampler::Sampler`], whose runs give a [`sampler::Run`]).
//!   Its module docs define the target `g ∝ a·b` precisely, length budget
//!   included.
//! - [`synthesis`]: program synthesis where the hard constraint is a test:
//!   candidates from any sampler, filtered by a [`synthesis::Checker`]
//!   (pass, or fail with a message), repaired with that message
//!   ([`synthesis::RepairTemplate`]), and clustered by their outputs on
//!   extra inputs (AlphaCode's observational equivalence), behind one
//!   [`synthesis::Synthesizer`].
//! - [`command`]: running a shell command on a text within a timeout and
//!   output limits, with what it started — the process handling of
//!   `--verify`, `--test` and `--run` (no sandbox: the module says why it
//!   cannot be one).
//!
//! # Example
//!
//! A tiny random Llama over a five-token vocabulary: start a prompt, fork
//! it, extend both copies in one batched step, and check that the fork
//! continues exactly as the original does.
//!
//! ```
//! use std::sync::Arc;
//! use trellis_engine::model::{LanguageModel, Llama, LlamaConfig};
//! use trellis_token_index::{TokenKind, Vocabulary};
//!
//! let tokens = ["<eos>", "a", "b", "c", " "];
//! let vocabulary = Arc::new(Vocabulary::from_tokens(
//!     tokens
//!         .iter()
//!         .enumerate()
//!         .map(|(i, t)| {
//!             let kind = if i == 0 { TokenKind::Special } else { TokenKind::Normal };
//!             (t.as_bytes().to_vec(), kind)
//!         })
//!         .collect(),
//!     vec![0], // EOS
//!     None,
//! )?);
//! let mut model = Llama::random(&LlamaConfig::tiny(tokens.len()), Arc::clone(&vocabulary), 7)?;
//! assert!(Arc::ptr_eq(model.vocabulary(), &vocabulary));
//!
//! let original = model.start(&[1, 4, 2])?;          // "a b"
//! let copy = model.fork(original)?;                 // shares the cache
//! model.extend(&[(original, 3), (copy, 3)])?;       // one batched step
//! let (p, q) = (model.logprobs(original)?, model.logprobs(copy)?);
//! assert_eq!(p.len(), vocabulary.len());
//! assert!(p.iter().zip(q).all(|(x, y)| (x - y).abs() < 1e-5));
//! let total: f32 = p.iter().map(|lp| lp.exp()).sum();
//! assert!((total - 1.0).abs() < 1e-4);
//!
//! // SMC resampling: keep two copies of `copy`, drop `original`.
//! let particles = model.reorder(&[original, copy], &[1, 1])?;
//! assert_eq!(particles.len(), 2);
//! assert_eq!(model.live_sequences(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate does not do
//!
//! It does not tokenize (that is `trellis_token_index::Tokenizer`, which the
//! loaders use), compile grammars or compute masks, and it does not
//! download models: `scripts/fetch-model.sh` puts the default model where
//! [`model::default_model_path`] looks. Models run on the CPU.
//! It does not sandbox the commands it runs: a test command runs with the
//! caller's rights.

pub mod command;
pub mod model;
mod numeric;
pub mod sampler;
pub mod synthesis;

pub use model::{LanguageModel, ModelError, SeqId};
