//! Vocabularies and tokenizers from the metadata of a GGUF model file.
//!
//! The keys used (llama.cpp's `tokenizer.ggml.*` convention):
//!
//! | key | use |
//! | --- | --- |
//! | `tokenizer.ggml.model` | `"gpt2"`: byte-level BPE; `"llama"`: SentencePiece BPE |
//! | `tokenizer.ggml.tokens` | token texts, indexed by id |
//! | `tokenizer.ggml.token_type` | 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte |
//! | `tokenizer.ggml.merges` | `"left right"` BPE merges, by rank (byte-level BPE) |
//! | `tokenizer.ggml.scores` | piece scores (SentencePiece), from which merges are derived |
//! | `tokenizer.ggml.pre` | which pre-tokenizer split rules the model was trained with |
//! | `tokenizer.ggml.{bos,eos,eot,eom}_token_id` | BOS; all of EOS/EOT/EOM end generation |
//! | `tokenizer.ggml.add_bos_token`, `add_space_prefix` | prompt conventions |
//! | `tokenizer.chat_template` | the Jinja chat template |

mod metadata;
mod pre_tokenizer;

use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::Split;
use tokenizers::{AddedToken, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::{Loaded, TokenId, TokenKind, VocabError, Vocabulary, byte_level};
use metadata::Metadata;

#[cfg(test)]
pub(crate) use metadata::writer;

/// `tokenizer.ggml.token_type` codes (llama.cpp's `llama_token_type`).
mod token_type {
    pub(super) const UNDEFINED: i64 = 0;
    pub(super) const NORMAL: i64 = 1;
    pub(super) const UNKNOWN: i64 = 2;
    pub(super) const CONTROL: i64 = 3;
    pub(super) const USER_DEFINED: i64 = 4;
    pub(super) const UNUSED: i64 = 5;
    pub(super) const BYTE: i64 = 6;
}

/// How token texts of a GGUF vocabulary spell bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `"gpt2"`: byte-level BPE.
    ByteLevel,
    /// `"llama"`: SentencePiece, `▁` for space, `<0xHH>` byte tokens.
    SentencePiece,
}

const SUPPORTED_MODELS: &str = "gpt2 (byte-level BPE), llama (SentencePiece BPE)";

/// Reads the tokenizer of the GGUF file at `path`.
pub(crate) fn load(path: &Path) -> Result<Loaded, VocabError> {
    let meta = Metadata::read_file(path)?;
    from_metadata(&meta)
}

fn from_metadata(meta: &Metadata) -> Result<Loaded, VocabError> {
    let path = meta.path();
    let model = meta.required_str("tokenizer.ggml.model")?;
    let flavour = match model {
        "gpt2" => Flavour::ByteLevel,
        "llama" => Flavour::SentencePiece,
        other => {
            return Err(VocabError::UnsupportedModel {
                path: path.to_path_buf(),
                model: other.to_string(),
                supported: SUPPORTED_MODELS,
            });
        }
    };

    let texts = meta.required_string_array("tokenizer.ggml.tokens")?;
    let types = token_types(meta, texts.len())?;

    let mut tokens = Vec::with_capacity(texts.len());
    for (index, (text, &ty)) in texts.iter().zip(&types).enumerate() {
        tokens.push(token_bytes(meta, flavour, index, text, ty)?);
    }

    let id_key = |key: &str| -> Result<Option<TokenId>, VocabError> {
        match meta.u64(key)? {
            None => Ok(None),
            Some(id) => {
                TokenId::try_from(id).map(Some).map_err(|_| meta.bad(key, format!("{id} is not a 32-bit token id")))
            }
        }
    };
    let bos = id_key("tokenizer.ggml.bos_token_id")?;
    let mut eos = Vec::new();
    for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
        eos.extend(id_key(key)?);
    }
    let unknown = id_key("tokenizer.ggml.unknown_token_id")?;

    let encoder = match flavour {
        Flavour::ByteLevel => byte_level_encoder(meta, &texts, &types)?,
        Flavour::SentencePiece => sentencepiece_encoder(meta, &texts, &types, unknown)?,
    };

    let vocabulary = Vocabulary::from_tokens(tokens, eos, bos)?;
    let chat_template = meta.str("tokenizer.chat_template")?.map(str::to_string);
    // llama.cpp's defaults when the key is absent: SentencePiece models
    // expect BOS, byte-level ones do not.
    let add_bos_token = meta.bool("tokenizer.ggml.add_bos_token")?.unwrap_or(flavour == Flavour::SentencePiece);
    Ok(Loaded { vocabulary, encoder, chat_template, add_bos_token, byte_level: flavour == Flavour::ByteLevel })
}

/// `tokenizer.ggml.token_type`, or all Normal when a file has none.
fn token_types(meta: &Metadata, len: usize) -> Result<Vec<i64>, VocabError> {
    const KEY: &str = "tokenizer.ggml.token_type";
    let Some(items) = meta.array(KEY)? else {
        return Ok(vec![token_type::NORMAL; len]);
    };
    if items.len() != len {
        return Err(meta.bad(KEY, format!("has {} entries but tokenizer.ggml.tokens has {len}", items.len())));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_i64()
                .filter(|ty| (token_type::UNDEFINED..=token_type::BYTE).contains(ty))
                .ok_or_else(|| meta.bad_element(KEY, index, &format!("{item:?} is not a token type 0..=6")))
        })
        .collect()
}

/// The bytes and kind of token `index` (design.md §2: every vocabulary
/// becomes raw byte strings).
fn token_bytes(
    meta: &Metadata,
    flavour: Flavour,
    index: usize,
    text: &[u8],
    ty: i64,
) -> Result<(Vec<u8>, TokenKind), VocabError> {
    const KEY: &str = "tokenizer.ggml.tokens";
    let as_str = || std::str::from_utf8(text).map_err(|_| meta.bad_element(KEY, index, "the token text is not UTF-8"));
    Ok(match ty {
        token_type::UNKNOWN | token_type::CONTROL => (text.to_vec(), TokenKind::Special),
        token_type::UNUSED => (text.to_vec(), TokenKind::Unused),
        // User-defined tokens are matched literally in the input text and
        // printed as they are (llama.cpp's token_to_piece copies them
        // verbatim), in both flavours.
        token_type::USER_DEFINED => (text.to_vec(), TokenKind::Normal),
        token_type::BYTE => match parse_byte_token(text) {
            Some(byte) => (vec![byte], TokenKind::ByteFallback),
            None => {
                return Err(meta.bad_element(
                    KEY,
                    index,
                    &format!(
                        "token {:?} has type 6 (byte) but is not of the form <0xHH>",
                        String::from_utf8_lossy(text)
                    ),
                ));
            }
        },
        // NORMAL and UNDEFINED (old files without real types).
        _ => {
            let text = as_str()?;
            let bytes = match flavour {
                Flavour::ByteLevel => byte_level::decode(text).map_err(|ch| VocabError::NotByteLevel {
                    source_name: meta.path().display().to_string(),
                    id: index as TokenId,
                    text: text.to_string(),
                    ch,
                })?,
                Flavour::SentencePiece => text.replace('▁', " ").into_bytes(),
            };
            (bytes, TokenKind::Normal)
        }
    })
}

/// `<0xHH>` → the byte HH.
pub(crate) fn parse_byte_token(text: &[u8]) -> Option<u8> {
    let hex = text.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

fn backend_error(meta: &Metadata, reason: impl std::fmt::Display) -> VocabError {
    VocabError::Backend { source_name: meta.path().display().to_string(), reason: reason.to_string() }
}

/// The `tokenizers` vocabulary map (text → id) of a GGUF token list. When
/// a text repeats (only Special/Unused tokens may), the first id keeps it.
fn text_to_id(meta: &Metadata, texts: &[&[u8]]) -> Result<tokenizers::models::bpe::Vocab, VocabError> {
    let mut vocab = tokenizers::models::bpe::Vocab::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let text = std::str::from_utf8(text)
            .map_err(|_| meta.bad_element("tokenizer.ggml.tokens", index, "the token text is not UTF-8"))?;
        vocab.entry(text.to_string()).or_insert(index as TokenId);
    }
    Ok(vocab)
}

/// Control/unknown tokens are split out of the text only when special
/// tokens are parsed; user-defined ones always (llama.cpp's
/// `tokenizer_st_partition`).
fn added_tokens(texts: &[&[u8]], types: &[i64]) -> Vec<AddedToken> {
    texts
        .iter()
        .zip(types)
        .filter_map(|(text, &ty)| {
            let text = std::str::from_utf8(text).ok()?;
            match ty {
                token_type::CONTROL | token_type::UNKNOWN => Some(AddedToken::from(text, true).normalized(false)),
                token_type::USER_DEFINED => Some(AddedToken::from(text, false).normalized(false)),
                _ => None,
            }
        })
        .collect()
}

/// A byte-level BPE encoder from the vocabulary, merges and pre-tokenizer.
fn byte_level_encoder(meta: &Metadata, texts: &[&[u8]], types: &[i64]) -> Result<tokenizers::Tokenizer, VocabError> {
    const MERGES: &str = "tokenizer.ggml.merges";
    let pre_name = meta.str("tokenizer.ggml.pre")?.unwrap_or("default");
    let pre = pre_tokenizer::for_name(pre_name).ok_or_else(|| VocabError::UnsupportedPreTokenizer {
        path: meta.path().to_path_buf(),
        pre: pre_name.to_string(),
        supported: pre_tokenizer::SUPPORTED,
    })?;

    let merges = meta
        .required_string_array(MERGES)?
        .into_iter()
        .enumerate()
        .map(|(index, merge)| {
            // Byte-level token texts never contain a literal space (a space
            // byte is written `Ġ`), so the one space separates the pair.
            std::str::from_utf8(merge)
                .ok()
                .and_then(|merge| merge.split_once(' '))
                .map(|(left, right)| (left.to_string(), right.to_string()))
                .ok_or_else(|| meta.bad_element(MERGES, index, "a merge must be \"left right\" in UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let model = BPE::builder()
        .vocab_and_merges(text_to_id(meta, texts)?, merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(|e| backend_error(meta, e))?;
    let mut encoder = tokenizers::Tokenizer::new(model);

    // llama.cpp applies each regex in turn to the pieces the previous one
    // left, keeping unmatched text as pieces of its own: `Split` with
    // `Isolated` behaves exactly so. The final byte-level step only maps
    // bytes to characters (its own GPT-2 regex is off).
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(pre.regexes.len() + 1);
    for regex in pre.regexes {
        let split = Split::new(
            tokenizers::pre_tokenizers::split::SplitPattern::Regex((*regex).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| backend_error(meta, e))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    encoder.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    encoder.add_tokens(&added_tokens(texts, types));
    Ok(encoder)
}

/// A SentencePiece BPE encoder. GGUF stores piece scores, not merges; the
/// merges are derived as Hugging Face's `SentencePieceExtractor` does: every
/// split of a piece into two pieces of the vocabulary is a merge, ranked by
/// the merged piece's score (higher first). This reproduces SentencePiece's
/// rule of always merging the adjacent pair whose union scores highest.
fn sentencepiece_encoder(
    meta: &Metadata,
    texts: &[&[u8]],
    types: &[i64],
    unknown: Option<TokenId>,
) -> Result<tokenizers::Tokenizer, VocabError> {
    const SCORES: &str = "tokenizer.ggml.scores";
    let scores: Vec<f32> = meta
        .required_array(SCORES)?
        .iter()
        .enumerate()
        .map(|(index, v)| v.as_f32().ok_or_else(|| meta.bad_element(SCORES, index, "not a float")))
        .collect::<Result<_, _>>()?;
    if scores.len() != texts.len() {
        return Err(
            meta.bad(SCORES, format!("has {} entries but tokenizer.ggml.tokens has {}", scores.len(), texts.len()))
        );
    }
    let vocab = text_to_id(meta, texts)?;

    let mergeable = |ty: i64| matches!(ty, token_type::NORMAL | token_type::USER_DEFINED | token_type::UNDEFINED);
    let mut ranked: Vec<(f32, TokenId, TokenId, String, String)> = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        if !mergeable(types[index]) {
            continue;
        }
        let Ok(piece) = std::str::from_utf8(text) else {
            continue;
        };
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (vocab.get(left), vocab.get(right))
                && mergeable(types[l as usize])
                && mergeable(types[r as usize])
            {
                ranked.push((scores[index], l, r, left.to_string(), right.to_string()));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges = ranked.into_iter().map(|(_, _, _, l, r)| (l, r)).collect();

    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true).fuse_unk(true);
    if let Some(text) = unknown.and_then(|id| texts.get(id as usize)).and_then(|t| std::str::from_utf8(t).ok()) {
        builder = builder.unk_token(text.to_string());
    }
    let model = builder.build().map_err(|e| backend_error(meta, e))?;
    let mut encoder = tokenizers::Tokenizer::new(model);

    let add_space_prefix = meta.bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
    let mut steps: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        steps.push(Prepend::new("▁".to_string()).into());
    }
    steps.push(Replace::new(" ", "▁").map_err(|e| backend_error(meta, e))?.into());
    encoder.with_normalizer(Some(NormalizerSequence::new(steps)));
    encoder.add_tokens(&added_tokens(texts, types));
    Ok(encoder)
}

#[cfg(test)]
mod tests;
