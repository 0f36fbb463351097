//! Vocabularies as byte strings, and the tokenizers that produce them.
//!
//! A [`Vocabulary`] maps every token id to the raw bytes it stands for and
//! its [`TokenKind`]; a [`Tokenizer`] pairs one with the model's own
//! encoder. Sources: Hugging Face `tokenizer.json` (module `hf`), the
//! metadata of GGUF model files (module `gguf`, with its own small reader), and
//! the tiktoken encodings built into `tiktoken-rs` (module `tiktoken`).

mod byte_level;
mod error;
mod gguf;
mod hf;
mod tiktoken;
mod tokenizer;
mod vocabulary;

#[cfg(test)]
pub(crate) mod test_support;

pub use error::VocabError;
pub use tokenizer::Tokenizer;
pub use vocabulary::{TokenId, TokenKind, Vocabulary};

/// What a file-based loader hands to [`Tokenizer`].
pub(crate) struct Loaded {
    pub(crate) vocabulary: Vocabulary,
    pub(crate) encoder: tokenizers::Tokenizer,
    pub(crate) chat_template: Option<String>,
    pub(crate) add_bos_token: bool,
    /// Whether the encoder is byte-level BPE, which can only spell bytes
    /// that have a single-byte token.
    pub(crate) byte_level: bool,
}
