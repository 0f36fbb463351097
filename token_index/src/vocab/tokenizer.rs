//! [`Tokenizer`]: text ↔ token ids for one model, over its [`Vocabulary`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::{Loaded, TokenId, VocabError, Vocabulary, gguf, hf, tiktoken};

/// Turns text into a model's token ids and ids back into bytes.
///
/// Built from a Hugging Face `tokenizer.json`, the metadata of a GGUF model
/// file, or one of the tiktoken encodings built into this crate. Encoding is
/// done by the model's own algorithm (the `tokenizers` crate, or
/// `tiktoken-rs`), so ids match what the model was trained on; decoding is
/// plain concatenation of [`Vocabulary::token_bytes`].
///
/// `Tokenizer` is `Send + Sync`; its vocabulary is shared as an
/// `Arc<Vocabulary>`.
#[derive(Clone)]
pub struct Tokenizer {
    vocabulary: Arc<Vocabulary>,
    encoder: Encoder,
    chat_template: Option<String>,
    add_bos_token: bool,
    /// For byte-level BPE: the bytes with no single-byte token. BPE starts
    /// from single bytes, so such a byte cannot be spelt at all, and the
    /// encoders (ours and llama.cpp's alike) drop it silently; `encode`
    /// refuses instead. Empty for other encoders.
    unspellable: Box<[bool]>,
    /// What the tokenizer was loaded from, for error messages.
    source_name: String,
}

#[derive(Clone)]
enum Encoder {
    /// Two copies of one `tokenizers` tokenizer: `tokenizers` decides
    /// whether special-token text is parsed by a flag on the tokenizer
    /// itself, and a shared `&self` API cannot flip it per call.
    Hf {
        ordinary: Box<tokenizers::Tokenizer>,
        with_special: Box<tokenizers::Tokenizer>,
    },
    Tiktoken(&'static tiktoken_rs::CoreBPE),
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source_name)
            .field("tokens", &self.vocabulary.len())
            .field("eos", &self.vocabulary.eos_tokens())
            .field("bos", &self.vocabulary.bos_token())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads a tokenizer from a spec string:
    ///
    /// - `tiktoken:o200k_base`, `tiktoken:cl100k_base`, `tiktoken:r50k_base`;
    /// - a path ending in `.gguf` (the tokenizer in a GGUF model's metadata);
    /// - a path ending in `.json` (a Hugging Face `tokenizer.json`);
    /// - a directory holding a `tokenizer.json`;
    /// - any other existing file that starts with the GGUF magic bytes.
    ///
    /// # Errors
    ///
    /// [`VocabError::UnrecognizedSpec`] if the spec is none of these, or the
    /// loader's own error.
    pub fn from_spec(spec: &str) -> Result<Tokenizer, VocabError> {
        if let Some(name) = spec.strip_prefix("tiktoken:") {
            return Tokenizer::tiktoken(name);
        }
        let path = Path::new(spec);
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("gguf") => return Tokenizer::from_gguf(path),
            Some("json") => return Tokenizer::from_tokenizer_json(path),
            _ => {}
        }
        if path.is_dir() {
            let json = path.join("tokenizer.json");
            if json.is_file() {
                return Tokenizer::from_tokenizer_json(&json);
            }
        } else if path.is_file() && starts_with_gguf_magic(path) {
            return Tokenizer::from_gguf(path);
        }
        Err(VocabError::UnrecognizedSpec { spec: spec.to_string() })
    }

    /// Loads a Hugging Face `tokenizer.json`.
    ///
    /// Byte-level BPE tokens are mapped back through the GPT-2 byte↔unicode
    /// map; SentencePiece-style tokens have `▁` turned into a space and
    /// `<0xHH>` byte-fallback tokens become single bytes; added tokens marked
    /// special become [`Special`](super::TokenKind::Special), other added
    /// tokens stand for their literal text, and ids with no token become
    /// [`Unused`](super::TokenKind::Unused).
    ///
    /// `tokenizer.json` names no EOS, BOS or chat template. They are read
    /// from `tokenizer_config.json` (`eos_token`, `bos_token`,
    /// `chat_template`) and `generation_config.json` (`eos_token_id`) beside
    /// it when present; without them the well-known EOS texts
    /// (`<|endoftext|>`, `</s>`, `<|im_end|>`, `<|eot_id|>`, …) that are
    /// special tokens of the vocabulary count as EOS.
    ///
    /// # Errors
    ///
    /// I/O errors, [`VocabError::TokenizerFile`] for malformed JSON or a file
    /// the `tokenizers` crate rejects, [`VocabError::UnsupportedModel`] for
    /// WordPiece/WordLevel models, [`VocabError::NotByteLevel`] and the
    /// [`Vocabulary::from_tokens`] checks.
    pub fn from_tokenizer_json(path: &Path) -> Result<Tokenizer, VocabError> {
        Tokenizer::from_loaded(hf::load(path)?, path.display().to_string())
    }

    /// Loads the tokenizer stored in a GGUF model file's metadata (the
    /// tensors are never read).
    ///
    /// Supports `tokenizer.ggml.model` `"gpt2"` (byte-level BPE, with the
    /// split rules named by `tokenizer.ggml.pre`) and `"llama"`
    /// (SentencePiece BPE with byte fallback). EOS is every one of
    /// `eos_token_id`, `eot_token_id` and `eom_token_id` present.
    ///
    /// # Errors
    ///
    /// I/O errors, [`VocabError::GgufTruncated`] and
    /// [`VocabError::GgufCorrupt`] (with the byte offset) for damaged files,
    /// [`VocabError::GgufMissingKey`] / [`VocabError::GgufBadValue`] for
    /// missing or ill-typed tokenizer keys,
    /// [`VocabError::UnsupportedModel`] /
    /// [`VocabError::UnsupportedPreTokenizer`], and the
    /// [`Vocabulary::from_tokens`] checks.
    pub fn from_gguf(path: &Path) -> Result<Tokenizer, VocabError> {
        Tokenizer::from_loaded(gguf::load(path)?, path.display().to_string())
    }

    /// One of the tiktoken encodings built into this crate: `o200k_base`
    /// (GPT-4o), `cl100k_base` (GPT-4, GPT-3.5) or `r50k_base` (GPT-2,
    /// GPT-3). The ranks are the token ids; ids between the ranks and the
    /// special tokens are [`Unused`](super::TokenKind::Unused).
    /// `<|endoftext|>` is the EOS token; there is no BOS.
    ///
    /// # Errors
    ///
    /// [`VocabError::UnknownTiktoken`] for any other name.
    pub fn tiktoken(name: &str) -> Result<Tokenizer, VocabError> {
        let (bpe, vocabulary) = tiktoken::load(name)?;
        Ok(Tokenizer {
            vocabulary: Arc::new(vocabulary),
            encoder: Encoder::Tiktoken(bpe),
            chat_template: None,
            add_bos_token: false,
            unspellable: Box::new([]),
            source_name: format!("tiktoken:{name}"),
        })
    }

    fn from_loaded(loaded: Loaded, source_name: String) -> Result<Tokenizer, VocabError> {
        let Loaded { vocabulary, mut encoder, chat_template, add_bos_token, byte_level } = loaded;
        let unspellable: Box<[bool]> = if byte_level {
            let mut unspellable = vec![true; 256];
            for (_, bytes, kind) in vocabulary.iter() {
                if let (&[byte], true) = (bytes, kind.is_text()) {
                    unspellable[usize::from(byte)] = false;
                }
            }
            unspellable.into()
        } else {
            Box::new([])
        };
        // A tokenizer.json may carry truncation and padding settings meant
        // for batched training; an encoder must never cut or pad a prompt.
        encoder
            .with_truncation(None)
            .map_err(|e| VocabError::Backend { source_name: source_name.clone(), reason: e.to_string() })?
            .with_padding(None);
        let mut ordinary = encoder.clone();
        ordinary.set_encode_special_tokens(true);
        encoder.set_encode_special_tokens(false);
        Ok(Tokenizer {
            vocabulary: Arc::new(vocabulary),
            encoder: Encoder::Hf { ordinary: Box::new(ordinary), with_special: Box::new(encoder) },
            chat_template,
            add_bos_token,
            unspellable,
            source_name,
        })
    }

    /// The vocabulary: every id's bytes and kind, EOS and BOS.
    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocabulary
    }

    /// Encodes ordinary text. Text that looks like a special token (say
    /// `"<|im_start|>"`) is encoded as the characters it is made of, never
    /// as the special id, so user text cannot forge control tokens. No BOS
    /// is added.
    ///
    /// # Errors
    ///
    /// [`VocabError::Unencodable`] if the text holds a byte that a byte-level
    /// vocabulary cannot spell (SmolLM2 has no token for 21 of the 256
    /// bytes, e.g. `0x04`), [`VocabError::Backend`] if the underlying
    /// tokenizer fails, and [`VocabError::EncodedIdOutOfRange`] if it
    /// produces an id outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<TokenId>, VocabError> {
        self.check_spellable(text)?;
        match &self.encoder {
            Encoder::Hf { ordinary, .. } => self.encode_hf(ordinary, text),
            Encoder::Tiktoken(bpe) => self.checked(bpe.encode_ordinary(text)),
        }
    }

    /// Encodes text in which special-token text becomes the special id: for
    /// prompts built from a chat template (`"<|im_start|>user\n…"`). No BOS
    /// is added.
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn encode_with_special(&self, text: &str) -> Result<Vec<TokenId>, VocabError> {
        self.check_spellable(text)?;
        match &self.encoder {
            Encoder::Hf { with_special, .. } => self.encode_hf(with_special, text),
            Encoder::Tiktoken(bpe) => self.checked(bpe.encode_with_special_tokens(text)),
        }
    }

    fn check_spellable(&self, text: &str) -> Result<(), VocabError> {
        if self.unspellable.is_empty() {
            return Ok(());
        }
        match text.bytes().enumerate().find(|&(_, byte)| self.unspellable[usize::from(byte)]) {
            Some((offset, byte)) => {
                Err(VocabError::Unencodable { source_name: self.source_name.clone(), byte, offset })
            }
            None => Ok(()),
        }
    }

    fn encode_hf(&self, encoder: &tokenizers::Tokenizer, text: &str) -> Result<Vec<TokenId>, VocabError> {
        let encoding = encoder
            .encode_fast(text, false)
            .map_err(|e| VocabError::Backend { source_name: self.source_name.clone(), reason: e.to_string() })?;
        self.checked(encoding.get_ids().to_vec())
    }

    fn checked(&self, ids: Vec<TokenId>) -> Result<Vec<TokenId>, VocabError> {
        let len = self.vocabulary.len();
        match ids.iter().find(|&&id| id as usize >= len) {
            Some(&id) => Err(VocabError::EncodedIdOutOfRange { source_name: self.source_name.clone(), id, len }),
            None => Ok(ids),
        }
    }

    /// The bytes of `ids`, concatenated. Special tokens contribute their
    /// literal text. The result need not be UTF-8: ids may end inside a
    /// character.
    ///
    /// # Errors
    ///
    /// [`VocabError::UnknownTokenId`] naming the first id outside the
    /// vocabulary.
    pub fn decode(&self, ids: &[TokenId]) -> Result<Vec<u8>, VocabError> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let token =
                self.vocabulary.token_bytes(id).ok_or(VocabError::UnknownTokenId { id, len: self.vocabulary.len() })?;
            bytes.extend_from_slice(token);
        }
        Ok(bytes)
    }

    /// The model's chat template (Jinja source), when the files say: GGUF
    /// `tokenizer.chat_template`, or `chat_template` in a
    /// `tokenizer_config.json` beside a `tokenizer.json`. `None` for
    /// tiktoken and for a `tokenizer.json` alone.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Whether the model expects its BOS token at the start of every
    /// prompt (GGUF `tokenizer.ggml.add_bos_token`; for `tokenizer.json`,
    /// whether its post-processor adds BOS). [`encode`](Self::encode) never
    /// adds it; callers that build prompts do.
    pub fn add_bos_token(&self) -> bool {
        self.add_bos_token && self.vocabulary.bos_token().is_some()
    }
}

fn starts_with_gguf_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"GGUF"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<Vocabulary>();
    }

    #[test]
    fn unrecognized_specs_are_errors() {
        let err = Tokenizer::from_spec("no/such/thing").unwrap_err();
        assert!(matches!(err, VocabError::UnrecognizedSpec { .. }), "{err}");
        let err = Tokenizer::from_spec("tiktoken:p50k_edit").unwrap_err();
        assert!(err.to_string().contains("p50k_edit"), "{err}");
        let err = Tokenizer::from_spec("missing/model.gguf").unwrap_err();
        assert!(matches!(err, VocabError::Io { .. }) && err.to_string().contains("missing/model.gguf"), "{err}");
    }
}
