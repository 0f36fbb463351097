//! The one error type of the model layer.

use std::path::PathBuf;

use trellis_token_index::{TokenId, VocabError};

use super::SeqId;

/// Why a model could not be loaded or run.
///
/// Loading errors name the file (and the tensor or metadata key) involved;
/// run-time errors name the sequence or token id. None of them is a panic:
/// a corrupt file or a stale [`SeqId`] is a value the caller can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model file or folder does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The thread pool could not be set up (it already runs, or the
    /// system refused threads).
    #[error("cannot set up the model's threads: {0}")]
    Threads(String),

    /// A GGUF or safetensors file could not be parsed, or a tensor in it
    /// could not be read (truncated or corrupt data).
    #[error("{path}: corrupt or unreadable model file: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },

    /// A tensor the architecture needs is absent from the file.
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor {
        /// The file (or folder, for sharded safetensors).
        path: PathBuf,
        /// The tensor name.
        name: String,
    },

    /// A tensor has a shape the hyperparameters do not allow.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the hyperparameters imply.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A hyperparameter (GGUF metadata key or `config.json` field) is
    /// absent or has an impossible value.
    #[error("{path}: `{key}`: {reason}")]
    BadHyperparameter {
        /// The file.
        path: PathBuf,
        /// The metadata key or JSON field.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// The file describes an architecture this layer does not run.
    #[error("{path}: unsupported architecture `{architecture}` (supported: {supported})")]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// The architecture found.
        architecture: String,
        /// The architectures that are supported.
        supported: &'static str,
    },

    /// The model's tokenizer could not be loaded.
    #[error("{path}: cannot load the tokenizer: {source}")]
    Tokenizer {
        /// The file the tokenizer was read from.
        path: PathBuf,
        /// The tokenizer's own error.
        #[source]
        source: VocabError,
    },

    /// The tokenizer and the model disagree on the vocabulary size beyond
    /// what padding explains: the model scores fewer ids than the tokenizer
    /// has, or more than [`max_padding_rows`](super::max_padding_rows) extra.
    #[error(
        "{path}: the model has {model_rows} output rows but its tokenizer has {tokenizer_len} tokens \
         (at most {max_padding} padding rows are allowed): the tokenizer does not belong to this model"
    )]
    VocabularyMismatch {
        /// The model file.
        path: PathBuf,
        /// Rows of the output (lm_head) matrix.
        model_rows: usize,
        /// Tokens in the tokenizer's vocabulary.
        tokenizer_len: usize,
        /// The padding allowance.
        max_padding: usize,
    },

    /// A [`SeqId`] that is not (or no longer) live in this model.
    #[error("unknown sequence {seq:?}: it was never started here or has been dropped")]
    UnknownSequence {
        /// The id given.
        seq: SeqId,
    },

    /// The same sequence appears twice in one batched step.
    #[error("sequence {seq:?} appears twice in one batch: a step extends each sequence by one token")]
    DuplicateSequence {
        /// The repeated id.
        seq: SeqId,
    },

    /// A token id outside the model's vocabulary.
    #[error("token id {token} is out of range: the vocabulary has {vocab_len} tokens")]
    TokenOutOfRange {
        /// The id given.
        token: TokenId,
        /// The vocabulary size.
        vocab_len: usize,
    },

    /// A transformer needs at least one prompt token to predict the next.
    #[error("empty prompt: this model needs at least one token (e.g. BOS) to start a sequence")]
    EmptyPrompt,

    /// A sequence would grow past the model's context length.
    #[error("sequence {seq:?} would reach {len} tokens, past the context length {max}")]
    ContextFull {
        /// The sequence (`None` while it is being started).
        seq: Option<SeqId>,
        /// The length it would have.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// An ancestor index given to [`reorder`](super::LanguageModel::reorder)
    /// is not an index into its sequence list.
    #[error("ancestor index {index} is out of range for {len} sequences")]
    AncestorOutOfRange {
        /// The index given.
        index: usize,
        /// How many sequences there were.
        len: usize,
    },

    /// A synthetic model was described inconsistently (sizes, table rows).
    #[error("invalid synthetic model: {reason}")]
    InvalidSynthetic {
        /// What is wrong.
        reason: String,
    },

    /// The chat template could not be compiled or rendered.
    #[error("chat template: {reason}")]
    ChatTemplate {
        /// What the template engine said.
        reason: String,
    },

    /// A tensor operation failed while running the model. This means a bug
    /// (shapes are validated at load time), not bad input.
    #[error("tensor operation failed: {0}")]
    Tensor(candle_core::Error),
}

impl From<candle_core::Error> for ModelError {
    fn from(error: candle_core::Error) -> Self {
        ModelError::Tensor(without_backtrace(error))
    }
}

/// `error` without the backtrace candle attaches when `RUST_BACKTRACE` is
/// set: its `Display` would print the whole trace inside a one-line
/// message to the user.
pub(crate) fn without_backtrace(error: candle_core::Error) -> candle_core::Error {
    match error {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        other => other,
    }
}
