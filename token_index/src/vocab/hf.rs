//! Vocabularies from Hugging Face `tokenizer.json` files.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tokenizers::Model as _;

use super::gguf::parse_byte_token;
use super::{Loaded, TokenId, TokenKind, VocabError, Vocabulary, byte_level};

/// How the token strings of a `tokenizer.json` spell bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// GPT-2 byte-level BPE: one character per byte.
    ByteLevel,
    /// SentencePiece conventions: `▁` is a space.
    Metaspace,
    /// Token strings are their own UTF-8 text.
    Plain,
}

/// EOS texts recognised when no configuration file names the EOS token.
const KNOWN_EOS: &[&str] = &[
    "<|endoftext|>",
    "</s>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|eom_id|>",
    "<eos>",
    "<end_of_turn>",
    "<|end|>",
];

/// BOS texts recognised when no configuration file names the BOS token.
const KNOWN_BOS: &[&str] = &["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"];

fn file_error(path: &Path, reason: impl Into<String>) -> VocabError {
    VocabError::TokenizerFile { path: path.to_path_buf(), reason: reason.into() }
}

fn read_json(path: &Path) -> Result<(Vec<u8>, Json), VocabError> {
    let bytes = std::fs::read(path).map_err(|source| VocabError::Io { path: path.to_path_buf(), source })?;
    let json = serde_json::from_slice(&bytes).map_err(|e| file_error(path, format!("malformed JSON: {e}")))?;
    Ok((bytes, json))
}

/// Loads `tokenizer.json` at `path`, with the configuration files beside it.
pub(crate) fn load(path: &Path) -> Result<Loaded, VocabError> {
    let (bytes, json) = read_json(path)?;
    let model = json.get("model").ok_or_else(|| file_error(path, "no `model` object"))?;
    let model_type = model.get("type").and_then(Json::as_str).unwrap_or("BPE");
    match model_type {
        "BPE" | "Unigram" => {}
        other => {
            return Err(VocabError::UnsupportedModel {
                path: path.to_path_buf(),
                model: other.to_string(),
                supported: "BPE, Unigram",
            });
        }
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if model.get(key).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(VocabError::UnsupportedModel {
                path: path.to_path_buf(),
                model: format!("BPE with {key}"),
                supported: "BPE without subword prefixes or suffixes, Unigram",
            });
        }
    }
    let flavour = flavour(&json);
    let byte_fallback = model.get("byte_fallback").and_then(Json::as_bool).unwrap_or(false);

    let encoder = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| file_error(path, e.to_string()))?;
    let source_name = path.display().to_string();
    check_added_token_ids(path, &json, &encoder)?;

    // id → (text, is added token, added token is special)
    let model_vocab = encoder.get_model().get_vocab();
    let added = encoder.get_added_tokens_decoder();
    let len = model_vocab.values().chain(added.keys()).map(|&id| id as usize + 1).max().unwrap_or(0);
    if TokenId::try_from(len).is_err() {
        return Err(VocabError::TooManyTokens { len });
    }
    let mut texts: Vec<Option<&str>> = vec![None; len];
    for (text, &id) in &model_vocab {
        let slot = &mut texts[id as usize];
        if let Some(first) = slot {
            // HashMap order is arbitrary: name the pair in a fixed order.
            let (first, second) =
                if *first < text.as_str() { (*first, text.as_str()) } else { (text.as_str(), *first) };
            return Err(VocabError::DuplicateId {
                source_name,
                id,
                first: first.to_string(),
                second: second.to_string(),
            });
        }
        *slot = Some(text);
    }
    let unknown = match encoder.get_model() {
        tokenizers::ModelWrapper::BPE(bpe) => bpe.get_unk_token().clone(),
        tokenizers::ModelWrapper::Unigram(_) => model
            .get("unk_id")
            .and_then(Json::as_u64)
            .and_then(|id| texts.get(usize::try_from(id).ok()?).copied().flatten())
            .map(str::to_string),
        _ => None,
    };

    let mut tokens = Vec::with_capacity(len);
    for (index, text) in texts.iter().enumerate() {
        let id = index as TokenId;
        let token = if let Some(added) = added.get(&id) {
            let bytes = added.content.as_bytes().to_vec();
            if is_reserved_name(&added.content) {
                (bytes, TokenKind::Unused)
            } else if added.special {
                (bytes, TokenKind::Special)
            } else {
                // Non-special added tokens are cut out of the input text
                // verbatim and decode to their content.
                (bytes, TokenKind::Normal)
            }
        } else if let Some(text) = text {
            if unknown.as_deref() == Some(*text) {
                (text.as_bytes().to_vec(), TokenKind::Special)
            } else if let Some(byte) = byte_fallback.then(|| parse_byte_token(text.as_bytes())).flatten() {
                (vec![byte], TokenKind::ByteFallback)
            } else {
                let bytes = match flavour {
                    Flavour::ByteLevel => byte_level::decode(text).map_err(|ch| VocabError::NotByteLevel {
                        source_name: source_name.clone(),
                        id,
                        text: text.to_string(),
                        ch,
                    })?,
                    Flavour::Metaspace => text.replace('▁', " ").into_bytes(),
                    Flavour::Plain => text.as_bytes().to_vec(),
                };
                (bytes, TokenKind::Normal)
            }
        } else {
            (Vec::new(), TokenKind::Unused)
        };
        tokens.push(token);
    }

    let config = Config::read(path)?;
    let id_of = |text: &str| encoder.token_to_id(text);
    let mut eos: Vec<TokenId> = config.eos_ids.clone();
    eos.extend(config.eos_token.as_deref().and_then(id_of));
    if eos.is_empty() && !config.found {
        eos.extend(KNOWN_EOS.iter().filter_map(|t| id_of(t)).filter(|&id| added.get(&id).is_some_and(|a| a.special)));
    }
    let bos = match (&config.bos_token, config.found) {
        (Some(text), _) => id_of(text),
        (None, true) => None,
        (None, false) => {
            KNOWN_BOS.iter().filter_map(|t| id_of(t)).find(|&id| added.get(&id).is_some_and(|a| a.special))
        }
    };
    // The post-processor is what adds BOS in `tokenizers`: ask it.
    let add_bos_token = match bos {
        Some(bos) => encoder.encode_fast("", true).map(|e| e.get_ids().first() == Some(&bos)).unwrap_or(false),
        None => false,
    };

    let vocabulary = Vocabulary::from_tokens(tokens, eos, bos)?;
    Ok(Loaded {
        vocabulary,
        encoder,
        chat_template: config.chat_template,
        add_bos_token,
        byte_level: flavour == Flavour::ByteLevel,
    })
}

/// The `tokenizers` crate gives an added token that is not in the model's
/// vocabulary the next free id, whatever id the file says. The file's id is
/// the model's logit index, so a disagreement would shift tokens silently.
fn check_added_token_ids(path: &Path, json: &Json, encoder: &tokenizers::Tokenizer) -> Result<(), VocabError> {
    let Some(added) = json.get("added_tokens").and_then(Json::as_array) else {
        return Ok(());
    };
    for token in added {
        let content = token.get("content").and_then(Json::as_str);
        let id = token.get("id").and_then(Json::as_u64);
        if let (Some(content), Some(id)) = (content, id) {
            let assigned = encoder.token_to_id(content);
            if assigned.map(u64::from) != Some(id) {
                return Err(file_error(
                    path,
                    format!(
                        "added token {content:?} has id {id} in the file but the tokenizers crate gives it {assigned:?}; \
                         added tokens outside the model vocabulary must follow it without gaps"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Which byte spelling the pipeline around the model implies.
fn flavour(json: &Json) -> Flavour {
    let parts = ["decoder", "pre_tokenizer", "normalizer", "post_processor"];
    let has = |pred: &dyn Fn(&Json) -> bool| parts.iter().any(|p| json.get(p).is_some_and(|v| any_component(v, pred)));
    if has(&|c| c.get("type").and_then(Json::as_str) == Some("ByteLevel")) {
        return Flavour::ByteLevel;
    }
    let metaspace = |c: &Json| match c.get("type").and_then(Json::as_str) {
        Some("Metaspace") => true,
        Some("Replace") => {
            let pattern = c.get("pattern").and_then(|p| p.get("String")).and_then(Json::as_str);
            let content = c.get("content").and_then(Json::as_str);
            pattern == Some("▁") || content == Some("▁")
        }
        _ => false,
    };
    if has(&metaspace) {
        return Flavour::Metaspace;
    }
    Flavour::Plain
}

/// Whether `pred` holds for `component` or any component nested in it (a
/// `Sequence` holds its parts under `decoders`, `pretokenizers`,
/// `normalizers` or `processors`).
fn any_component(component: &Json, pred: &dyn Fn(&Json) -> bool) -> bool {
    if pred(component) {
        return true;
    }
    ["decoders", "pretokenizers", "normalizers", "processors"]
        .iter()
        .filter_map(|k| component.get(k).and_then(Json::as_array))
        .flatten()
        .any(|c| any_component(c, pred))
}

/// Placeholder tokens a model never produces (Llama 3's
/// `<|reserved_special_token_N|>`, Gemma's `<unusedN>`, BERT's `[unusedN]`).
fn is_reserved_name(text: &str) -> bool {
    let inner = text
        .strip_prefix("<|")
        .and_then(|t| t.strip_suffix("|>"))
        .or_else(|| text.strip_prefix('<').and_then(|t| t.strip_suffix('>')))
        .or_else(|| text.strip_prefix('[').and_then(|t| t.strip_suffix(']')));
    let Some(inner) = inner else {
        return false;
    };
    ["reserved_special_token_", "reserved_", "unused_", "unused"].iter().any(|prefix| {
        inner.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// What `tokenizer_config.json` and `generation_config.json` say.
#[derive(Default)]
struct Config {
    /// Whether either file exists.
    found: bool,
    eos_token: Option<String>,
    bos_token: Option<String>,
    eos_ids: Vec<TokenId>,
    chat_template: Option<String>,
}

impl Config {
    fn read(tokenizer_json: &Path) -> Result<Config, VocabError> {
        let dir = tokenizer_json.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let mut config = Config::default();

        let path = dir.join("tokenizer_config.json");
        if path.is_file() {
            config.found = true;
            let (_, json) = read_json(&path)?;
            config.eos_token = token_name(json.get("eos_token"));
            config.bos_token = token_name(json.get("bos_token"));
            config.chat_template = match json.get("chat_template") {
                Some(Json::String(s)) => Some(s.clone()),
                // A list of named templates: the default one.
                Some(Json::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(Json::as_str)
                    .map(str::to_string),
                _ => None,
            };
        }

        let path = dir.join("generation_config.json");
        if path.is_file() {
            config.found = true;
            let (_, json) = read_json(&path)?;
            match json.get("eos_token_id") {
                Some(Json::Array(ids)) => {
                    for id in ids {
                        config.eos_ids.push(json_id(&path, id)?);
                    }
                }
                Some(Json::Null) | None => {}
                Some(id) => config.eos_ids.push(json_id(&path, id)?),
            }
        }
        Ok(config)
    }
}

fn json_id(path: &Path, id: &Json) -> Result<TokenId, VocabError> {
    id.as_u64()
        .and_then(|id| TokenId::try_from(id).ok())
        .ok_or_else(|| file_error(path, format!("eos_token_id {id} is not a token id")))
}

/// `"</s>"` or `{"content": "</s>", …}`.
fn token_name(value: Option<&Json>) -> Option<String> {
    match value? {
        Json::String(s) => Some(s.clone()),
        Json::Object(map) => map.get("content").and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
