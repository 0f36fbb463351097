//! The one error type of the `vocab` module.

use std::path::PathBuf;

use super::TokenId;

/// Why a vocabulary or tokenizer could not be loaded, validated or used.
///
/// Every variant names what it is about: the file (and for GGUF the byte
/// offset), the token id, or the metadata key involved, so that a message
/// alone is enough to find the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VocabError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A GGUF file ended before its metadata did.
    #[error("{path}: GGUF file is truncated: at byte offset {offset} expected {expected}")]
    GgufTruncated {
        /// The file.
        path: PathBuf,
        /// Where the missing bytes should have started.
        offset: u64,
        /// What should have been there.
        expected: String,
    },

    /// A GGUF file's metadata is not well formed.
    #[error("{path}: corrupt GGUF metadata at byte offset {offset}: {reason}")]
    GgufCorrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad bytes start.
        offset: u64,
        /// What is wrong with them.
        reason: String,
    },

    /// A GGUF metadata key that the tokenizer needs is absent.
    #[error("{path}: GGUF metadata has no key `{key}`")]
    GgufMissingKey {
        /// The file.
        path: PathBuf,
        /// The missing key.
        key: String,
    },

    /// A GGUF metadata value has the wrong type or an impossible value.
    #[error("{path}: GGUF metadata key `{key}`: {reason}")]
    GgufBadValue {
        /// The file.
        path: PathBuf,
        /// The key whose value is wrong.
        key: String,
        /// What was expected and what was found.
        reason: String,
    },

    /// The tokenizer model (`tokenizer.ggml.model`, or `model.type` in a
    /// `tokenizer.json`) is one this crate cannot turn into byte strings.
    #[error("{path}: unsupported tokenizer model `{model}` (supported: {supported})")]
    UnsupportedModel {
        /// The file.
        path: PathBuf,
        /// The model name found.
        model: String,
        /// The model names that are supported.
        supported: &'static str,
    },

    /// The GGUF pre-tokenizer (`tokenizer.ggml.pre`) is not one whose split
    /// rules this crate implements, so encoding would not match the model.
    #[error("{path}: unsupported GGUF pre-tokenizer `tokenizer.ggml.pre = {pre}` (supported: {supported})")]
    UnsupportedPreTokenizer {
        /// The file.
        path: PathBuf,
        /// The pre-tokenizer name found.
        pre: String,
        /// The names that are supported.
        supported: &'static str,
    },

    /// A `tokenizer.json` (or a configuration file beside it) is malformed
    /// or could not be loaded by the `tokenizers` crate.
    #[error("{path}: invalid tokenizer file: {reason}")]
    TokenizerFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A byte-level BPE token contains a character outside the GPT-2
    /// byte↔unicode alphabet, so it does not stand for any byte string.
    #[error("{source_name}: token {id} ({text:?}) has character {ch:?}, which is not in the byte-level alphabet")]
    NotByteLevel {
        /// The file or tokenizer the token comes from.
        source_name: String,
        /// The token id.
        id: TokenId,
        /// The token's text as stored.
        text: String,
        /// The offending character.
        ch: char,
    },

    /// Two entries of a tokenizer's vocabulary claim the same id.
    #[error("{source_name}: token id {id} is given to both {first:?} and {second:?}")]
    DuplicateId {
        /// The file or tokenizer involved.
        source_name: String,
        /// The id given twice.
        id: TokenId,
        /// The first token text with that id.
        first: String,
        /// The second token text with that id.
        second: String,
    },

    /// More tokens than a [`TokenId`] can number.
    #[error("{len} tokens do not fit in 32-bit token ids")]
    TooManyTokens {
        /// The number of tokens given.
        len: usize,
    },

    /// A token longer than [`Vocabulary::MAX_TOKEN_LEN`](super::Vocabulary::MAX_TOKEN_LEN).
    #[error("token {id} is {len} bytes long; the most a token may have is {max}")]
    TokenTooLong {
        /// The token id.
        id: TokenId,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// All tokens together hold more than `u32::MAX` bytes.
    #[error("the tokens together hold more than 4 GiB of bytes")]
    VocabularyTooLarge,

    /// An EOS or BOS id is not the id of any token.
    #[error("{role} token id {id} is out of range: the vocabulary has {len} tokens")]
    SpecialIdOutOfRange {
        /// `"EOS"` or `"BOS"`.
        role: &'static str,
        /// The id given.
        id: TokenId,
        /// The vocabulary size.
        len: usize,
    },

    /// A Normal token with no bytes: it could be emitted forever without
    /// advancing any grammar.
    #[error("token {id} is a Normal token with empty bytes (only Special and Unused tokens may be empty)")]
    EmptyNormalToken {
        /// The token id.
        id: TokenId,
    },

    /// A ByteFallback token that is not exactly one byte.
    #[error("token {id} is a ByteFallback token of {len} bytes (it must be exactly one byte)")]
    BadByteFallback {
        /// The token id.
        id: TokenId,
        /// Its length in bytes.
        len: usize,
    },

    /// Two Normal tokens stand for the same bytes.
    #[error("tokens {first} and {second} are both Normal tokens for the bytes {bytes:?}")]
    DuplicateNormalToken {
        /// The smaller id.
        first: TokenId,
        /// The larger id.
        second: TokenId,
        /// The bytes they share (lossily shown as text).
        bytes: String,
    },

    /// An id passed to [`Tokenizer::decode`](super::Tokenizer::decode) is not in the vocabulary.
    #[error("unknown token id {id}: the vocabulary has {len} tokens")]
    UnknownTokenId {
        /// The id given.
        id: TokenId,
        /// The vocabulary size.
        len: usize,
    },

    /// A tiktoken encoding name that is not built in.
    #[error("unknown tiktoken encoding `{name}` (built in: o200k_base, cl100k_base, r50k_base)")]
    UnknownTiktoken {
        /// The name given.
        name: String,
    },

    /// A tokenizer spec that is neither a `.json`/`.gguf` path, a directory
    /// holding a `tokenizer.json`, nor `tiktoken:NAME`.
    #[error(
        "cannot tell what tokenizer `{spec}` is: give a path to tokenizer.json or a .gguf file, a directory with a tokenizer.json, or tiktoken:NAME"
    )]
    UnrecognizedSpec {
        /// The spec given.
        spec: String,
    },

    /// The underlying tokenizer failed while building or encoding.
    #[error("{source_name}: tokenizer failed: {reason}")]
    Backend {
        /// The file or tokenizer involved.
        source_name: String,
        /// What the tokenizer said.
        reason: String,
    },

    /// The text holds a byte that no token of this byte-level vocabulary
    /// can spell (the encoder would silently drop it).
    #[error(
        "{source_name}: byte {byte:#04x} at offset {offset} of the text has no token in this vocabulary, so the text cannot be encoded"
    )]
    Unencodable {
        /// The file or tokenizer involved.
        source_name: String,
        /// The byte.
        byte: u8,
        /// Its offset in the text.
        offset: usize,
    },

    /// The encoder produced an id that is not in the vocabulary (the
    /// encoder and the vocabulary disagree: a bug or an inconsistent file).
    #[error("{source_name}: encoding produced id {id}, outside the vocabulary of {len} tokens")]
    EncodedIdOutOfRange {
        /// The file or tokenizer involved.
        source_name: String,
        /// The id produced.
        id: TokenId,
        /// The vocabulary size.
        len: usize,
    },
}
