//! Samplers: drawing text from a [`LanguageModel`] under a constraint.
//!
//! # The target
//!
//! Write `a(y)` for the model's probability of a whole output and `b(y)` for
//! the constraint (1 if the grammar accepts the bytes of `y` and the
//! optional final [`Verifier`] agrees, else 0). The ideal is the model
//! conditioned on the constraint (design.md §4):
//!
//! ```text
//! g(y) = a(y)·b(y) / Z,        Z = Σ_y a(y)·b(y)   (the acceptance rate)
//! ```
//!
//! **The length budget is part of the target.** An output `y` is a sequence
//! of at most `max_tokens` non-EOS tokens followed by one EOS token, and
//! `a(y) = Π_t a(y_t | prompt, y_<t) · a(EOS | prompt, y)`. Sequences that
//! have not produced EOS after `max_tokens` tokens are not outputs at all:
//! rejection sampling rejects them, SMC gives them weight zero, and masked
//! decoding allows only EOS at step `max_tokens + 1` (and fails with
//! [`SamplerError::Unfinished`] when the text is not complete there). The
//! budget is also capped by the model's context: the prompt plus
//! `max_tokens` tokens must fit in [`LanguageModel::max_sequence_len`].
//! The exactness tests enumerate exactly this set of sequences, so every
//! sampler and the tests agree on what "exact" means.
//!
//! # The samplers
//!
//! | sampler | what it draws | cost |
//! |---|---|---|
//! | [`MaskedDecoder`] | `q(y) = Π_t a(y_t)·m_t(y_t) / Z_t`: always valid, biased (it never looks ahead); greedy, temperature, top-k, top-p | one model step per token |
//! | [`RejectionSampler`] | exactly `g`; reports tries and the acceptance rate with a Wilson interval | `1/Z` tries, each cut short when the prefix leaves the language |
//! | [`Smc`] | N weighted particles proposed from `q`, weights `Π_t Z_t`, resampled when the ESS falls; `log Ẑ` estimates `log Z`; consistent for `g` | one batched model step per token for all particles |
//! | [`Smc::with_twist`] | twisted SMC: proposal `∝ a·m·ψ`, target `σ ∝ a·b·φ` for a soft [`Potential`] | as SMC, plus the potential on every allowed token |
//! | [`BestOfK`] | blockwise best-of-K: K continuations of L tokens, keep the best by a prefix score; tilted, not exact | K model sequences per step |
//!
//! [`Sampler`] is the one entry point over all of them: [`Sampler::run`]
//! gives a [`Run`] (outputs, their log-weights, `ln Ẑ`, ESS traces,
//! rejection's tries, timings), and runs add up ([`Sampler::run_into`],
//! [`Run::merge`]) into one estimate over K samples. The types above stay
//! available for what only they give (SMC's weighted particles,
//! [`SmcRun::draw_exact`], [`RejectionSampler::measure`]).
//!
//! Every sampler takes the same step — allowed tokens, pick, commit, one
//! batched model call, the verifier at EOS — through one module
//! (`draft.rs`), which also times the model, the masks and the verifier
//! in one place ([`RunStats`]).
//!
//! Here `m_t` is the exact token mask of [`TokenMatcher`] (a token is
//! allowed iff the text stays a viable prefix; EOS iff the text is
//! complete) and `Z_t = Σ_x a(x | y_<t)·m_t(x)` is the mass the mask lets
//! through. Because the mask is exact and prefix-closed,
//! `a(y)·b(y) / q(y) = Π_t Z_t`: every masked run is an importance sample,
//! which is what SMC builds on ([`MaskedSample::log_weight`] reports it).
//!
//! # Example
//!
//! Exact sampling from a bigram model conditioned on the regex `a+b`:
//!
//! ```
//! use std::sync::Arc;
//! use rand::SeedableRng;
//! use trellis_engine::model::TableModel;
//! use trellis_engine::sampler::{RejectionSampler, Smc, SmcConfig, Task};
//! use trellis_grammars::{CompiledGrammar, Format};
//! use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
//!
//! let vocabulary = Arc::new(Vocabulary::from_tokens(
//!     vec![
//!         (b"<eos>".to_vec(), TokenKind::Special),
//!         (b"a".to_vec(), TokenKind::Normal),
//!         (b"b".to_vec(), TokenKind::Normal),
//!     ],
//!     vec![0],
//!     None,
//! )?);
//! let mut model = TableModel::random(Arc::clone(&vocabulary), 1, 7)?;
//! let grammar = CompiledGrammar::new("a+b", Format::Regex)?;
//! let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//!
//! let mut task = Task::new(&[], &constraint, 6);
//! let run = RejectionSampler::default().run(&mut model, &mut task, 20, &mut rng)?;
//! assert!(run.samples.iter().all(|s| grammar.accepts(&s.text)));
//! let acceptance = run.stats.acceptance();
//!
//! let smc = Smc::new(SmcConfig { particles: 64, ..SmcConfig::default() })?;
//! let particles = smc.run(&mut model, &mut task, &mut rng)?;
//! let sample = particles.draw(&mut rng)?;
//! assert!(grammar.accepts(&sample.text));
//! // Both estimate Z, the probability that an unconstrained sample is in a+b.
//! assert!(particles.log_z.exp() > 0.0 && acceptance.rate >= 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the samplers do not do
//!
//! They do not tokenize, render chat templates or pick a model; they take
//! prompt token ids and a [`TokenConstraint`]. Only masked decoding streams
//! (the other samplers decide what the output is at the end), and only
//! masked decoding jumps forward over forced text (it changes where token
//! boundaries fall, and so the distribution; see [`Decoding::jump_forward`]).

mod best_of_k;
mod draft;
mod masked;
mod potential;
mod proposal;
mod rejection;
mod resample;
mod run;
mod smc;
mod stats;

use trellis_token_index::{TokenConstraint, TokenError, TokenId, TokenMatcher, Vocabulary};

use crate::model::{LanguageModel, ModelError};

pub use best_of_k::{BestOfK, BestOfKConfig, BestOfKStats};
pub use masked::{Decoding, MaskedDecoder, MaskedSample};
pub use potential::{CommandVerifier, Occurrences, Potential, Verifier, VerifierError};
pub use rejection::{RejectionConfig, RejectionRun, RejectionSampler, RejectionStats};
pub use resample::{Resampling, effective_sample_size, resample};
pub use run::{Acceptance, Finish, Output, Run, Sampler};
pub use smc::{Smc, SmcConfig, SmcRun, WeightedSample};
pub use stats::{Interval, RunStats};

/// What to sample: the prompt, the constraint, the length budget and an
/// optional final verifier.
pub struct Task<'a> {
    prompt: &'a [TokenId],
    constraint: Option<&'a TokenConstraint>,
    max_tokens: usize,
    verifier: Option<&'a mut dyn Verifier>,
    progress: Option<&'a mut dyn FnMut(&Progress)>,
}

/// Where a run stands, reported after every batched model step to the
/// task's progress callback ([`Task::with_progress`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Batched model steps so far in this run.
    pub steps: u64,
    /// Sequences the last step extended.
    pub live: usize,
    /// Tokens sampled so far in this run, over all sequences.
    pub tokens: u64,
    /// SMC: the effective sample size after the last step.
    pub ess: Option<f64>,
    /// Rejection sampling: tries started, and accepted, so far.
    pub tries: u64,
    pub accepted: u64,
}

impl<'a> Task<'a> {
    /// Outputs of at most `max_tokens` tokens (EOS not counted) after
    /// `prompt`, constrained to `constraint`'s language.
    pub fn new(prompt: &'a [TokenId], constraint: &'a TokenConstraint, max_tokens: usize) -> Task<'a> {
        Task { prompt, constraint: Some(constraint), max_tokens, verifier: None, progress: None }
    }

    /// Outputs with no grammar: every token is allowed (b ≡ 1 unless a
    /// verifier says otherwise).
    pub fn unconstrained(prompt: &'a [TokenId], max_tokens: usize) -> Task<'a> {
        Task { prompt, constraint: None, max_tokens, verifier: None, progress: None }
    }

    /// Adds a final verifier: a hard 0/1 potential applied to each output
    /// when it ends (after EOS), on top of the grammar.
    pub fn with_verifier(mut self, verifier: &'a mut dyn Verifier) -> Task<'a> {
        self.verifier = Some(verifier);
        self
    }

    /// Adds a progress callback, called after every batched model step
    /// (for a progress bar: it should be cheap).
    pub fn with_progress(mut self, progress: &'a mut dyn FnMut(&Progress)) -> Task<'a> {
        self.progress = Some(progress);
        self
    }

    /// The prompt.
    pub fn prompt(&self) -> &[TokenId] {
        self.prompt
    }

    /// The largest number of tokens before EOS as asked.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The budget a model can serve: `max_tokens`, capped so that the
    /// prompt and the output fit in the model's context.
    pub fn budget(&self, model: &dyn LanguageModel) -> Result<usize, SamplerError> {
        let context = model.max_sequence_len();
        if self.prompt.len() >= context {
            return Err(SamplerError::PromptTooLong { prompt: self.prompt.len(), context });
        }
        Ok(self.max_tokens.min(context - self.prompt.len()))
    }

    fn matcher(&self) -> Option<TokenMatcher> {
        self.constraint.map(TokenConstraint::matcher)
    }

    /// Runs the verifier on a finished text (true without one).
    fn verify(&mut self, text: &[u8]) -> Result<bool, SamplerError> {
        match self.verifier.as_mut() {
            None => Ok(true),
            Some(verifier) => verifier.verify(text).map_err(SamplerError::Verifier),
        }
    }
}

impl std::fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("prompt_len", &self.prompt.len())
            .field("constrained", &self.constraint.is_some())
            .field("max_tokens", &self.max_tokens)
            .field("verifier", &self.verifier.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// One output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sample {
    /// The generated tokens, EOS not included.
    pub tokens: Vec<TokenId>,
    /// Their bytes: the output text (not necessarily UTF-8).
    pub text: Vec<u8>,
    /// The EOS token that ended the output; `None` only for unconstrained
    /// masked decoding cut off by the budget.
    pub eos: Option<TokenId>,
}

impl Sample {
    fn empty() -> Sample {
        Sample { tokens: Vec::new(), text: Vec::new(), eos: None }
    }

    fn push(&mut self, vocabulary: &Vocabulary, token: TokenId) {
        if vocabulary.is_eos(token) {
            self.eos = Some(token);
        } else {
            self.tokens.push(token);
            self.text.extend_from_slice(vocabulary.token_bytes(token).unwrap_or_default());
        }
    }
}

/// Why a sampler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// The model refused a call.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The matcher refused a token or gave up on the grammar.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The final verifier could not run.
    #[error(transparent)]
    Verifier(VerifierError),
    /// A configuration value is out of range.
    #[error("invalid sampler configuration: {0}")]
    InvalidConfig(String),
    /// The prompt fills the model's context.
    #[error("the prompt has {prompt} tokens and the model's context is {context}: no room for output")]
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// The model's context.
        context: usize,
    },
    /// Masked decoding (or best-of-K) reached the budget with a text that is
    /// a viable prefix but not complete, or reached a prefix the model gives
    /// no probability to continue.
    #[error("the output is not finished after {tokens} tokens (raise max_tokens)")]
    Unfinished {
        /// Tokens generated.
        tokens: usize,
        /// What was generated: a viable prefix, not a string of the
        /// language.
        text: Vec<u8>,
    },
    /// Every allowed token has probability zero under the model.
    #[error("the model gives no probability to any token the constraint allows after {tokens} tokens")]
    NoMass {
        /// Tokens generated.
        tokens: usize,
    },
    /// Rejection sampling ran out of tries.
    #[error(
        "rejection sampling accepted {accepted} of {tries} tries (wanted {wanted}); the acceptance rate is at \
         most {upper:.3e} (95% Wilson bound): raise the try budget or use SMC"
    )]
    BudgetExhausted {
        /// Tries made.
        tries: u64,
        /// Samples accepted.
        accepted: u64,
        /// Samples asked for.
        wanted: usize,
        /// Upper end of the acceptance rate's 95% Wilson interval.
        upper: f64,
    },
    /// Every particle (or candidate) ended outside the target: none reached
    /// EOS in the language within the budget, or the verifier rejected
    /// them all.
    #[error("no particle finished inside the constraint (the estimated acceptance rate is 0)")]
    NoSurvivors,
    /// Masked decoding's final verifier refused every output it was given
    /// ([`Decoding::verifier_tries`]).
    #[error("no accepted output after {tries} tries: the verifier refused every one")]
    VerifierRejected {
        /// Whole outputs tried.
        tries: usize,
    },
    /// Writing a streamed token failed.
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}
