//! The tiktoken encodings built into `tiktoken-rs`.

use tiktoken_rs::CoreBPE;

use super::{TokenId, TokenKind, VocabError, Vocabulary};

/// The encoding `name` and its vocabulary.
///
/// tiktoken ranks are byte strings already, so a token's bytes are exactly
/// its rank's bytes. Ids between the last rank and the special tokens (and
/// between special tokens) have no token: they are Unused, with no bytes.
pub(crate) fn load(name: &str) -> Result<(&'static CoreBPE, Vocabulary), VocabError> {
    // The singletons parse the embedded rank files once per process.
    let bpe: &'static CoreBPE = match name {
        "o200k_base" => tiktoken_rs::o200k_base_singleton(),
        "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
        "r50k_base" | "gpt2" => tiktoken_rs::r50k_base_singleton(),
        _ => {
            return Err(VocabError::UnknownTiktoken { name: name.to_string() });
        }
    };
    let source_name = format!("tiktoken:{name}");

    // Special tokens: their ids come from encoding their own text.
    let mut specials: Vec<(TokenId, String)> = Vec::new();
    for text in bpe.special_tokens() {
        match bpe.encode_with_special_tokens(text).as_slice() {
            &[id] => specials.push((id, text.to_string())),
            other => {
                return Err(VocabError::Backend {
                    source_name,
                    reason: format!("special token {text:?} encodes to {other:?}, not one id"),
                });
            }
        }
    }
    let mut eos = Vec::new();
    let mut tokens: Vec<(Vec<u8>, TokenKind)> = Vec::new();
    let last_special = specials.iter().map(|&(id, _)| id).max();
    let mut id: TokenId = 0;
    loop {
        if let Some((_, text)) = specials.iter().find(|&&(special, _)| special == id) {
            if text == "<|endoftext|>" {
                eos.push(id);
            }
            tokens.push((text.clone().into_bytes(), TokenKind::Special));
        } else if let Ok(bytes) = bpe.decode_bytes(&[id]) {
            tokens.push((bytes, TokenKind::Normal));
        } else if last_special.is_some_and(|last| id < last) {
            tokens.push((Vec::new(), TokenKind::Unused));
        } else {
            break;
        }
        id += 1;
    }
    let vocabulary = Vocabulary::from_tokens(tokens, eos, None)?;
    Ok((bpe, vocabulary))
}

#[cfg(test)]
mod tests {
    use crate::vocab::test_support::ROUND_TRIP_TEXTS;
    use crate::vocab::{TokenId, TokenKind, Tokenizer, VocabError};

    struct Pinned {
        name: &'static str,
        len: usize,
        endoftext: TokenId,
        hello: TokenId,
        world: TokenId,
        unused: &'static [TokenId],
    }

    const PINNED: &[Pinned] = &[
        Pinned { name: "r50k_base", len: 50_257, endoftext: 50_256, hello: 31_373, world: 995, unused: &[] },
        Pinned {
            name: "cl100k_base",
            len: 100_277,
            endoftext: 100_257,
            hello: 15_339,
            world: 1_917,
            unused: &[100_256, 100_261, 100_275],
        },
        Pinned {
            name: "o200k_base",
            len: 200_019,
            endoftext: 199_999,
            hello: 24_912,
            world: 2_375,
            unused: &[199_998, 200_000, 200_017],
        },
    ];

    #[test]
    fn pinned_ids_and_round_trips() {
        for p in PINNED {
            let tok = Tokenizer::tiktoken(p.name).expect("built in");
            let v = tok.vocabulary();
            assert_eq!(v.len(), p.len, "{}", p.name);
            assert_eq!(v.eos_tokens(), &[p.endoftext], "{}", p.name);
            assert_eq!(v.bos_token(), None);
            assert_eq!(v.kind(p.endoftext), Some(TokenKind::Special));
            assert_eq!(v.token_bytes(p.endoftext), Some(&b"<|endoftext|>"[..]));
            assert_eq!(v.token_bytes(p.hello), Some(&b"hello"[..]), "{}", p.name);
            assert_eq!(v.token_bytes(p.world), Some(&b" world"[..]), "{}", p.name);
            for &id in p.unused {
                assert_eq!(v.kind(id), Some(TokenKind::Unused), "{} id {id}", p.name);
            }
            assert_eq!(tok.encode("hello world").ok(), Some(vec![p.hello, p.world]), "{}", p.name);
            // Ordinary text never yields the special id; with specials it does.
            assert!(!tok.encode("<|endoftext|>").expect("encodes").contains(&p.endoftext));
            assert_eq!(tok.encode_with_special("<|endoftext|>").ok(), Some(vec![p.endoftext]));
            for text in ROUND_TRIP_TEXTS {
                let ids = tok.encode(text).expect("encodes");
                assert_eq!(tok.decode(&ids).ok().as_deref(), Some(text.as_bytes()), "{} {text:?}", p.name);
            }
            // Byte tokens: the single bytes are all Normal tokens.
            let singles = v.iter().filter(|(_, b, k)| *k == TokenKind::Normal && b.len() == 1).count();
            assert_eq!(singles, 256, "{}", p.name);
        }
    }

    #[test]
    fn specs_and_unknown_names() {
        let tok = Tokenizer::from_spec("tiktoken:cl100k_base").expect("spec");
        assert_eq!(tok.vocabulary().len(), 100_277);
        assert_eq!(tok.vocabulary().token_bytes(100_276), Some(&b"<|endofprompt|>"[..]));
        let err = Tokenizer::tiktoken("p50k_base").unwrap_err();
        assert!(matches!(err, VocabError::UnknownTiktoken { .. }), "{err}");
        assert!(err.to_string().contains("o200k_base"), "{err}");
    }
}
