use super::writer::{W, gguf};
use crate::vocab::byte_level::byte_to_char_table;
use crate::vocab::test_support::{ROUND_TRIP_TEXTS, TempFile, fixture};
use crate::vocab::{TokenId, TokenKind, Tokenizer, VocabError};

/// Writes `kvs` as a GGUF file and loads its tokenizer.
fn load(kvs: &[(&str, W<'_>)]) -> Result<Tokenizer, VocabError> {
    let file = TempFile::new("model.gguf", &gguf(kvs));
    Tokenizer::from_gguf(file.path())
}

fn byte_chars() -> Vec<String> {
    byte_to_char_table().iter().map(|c| c.to_string()).collect()
}

/// A tiny byte-level BPE model shaped like SmolLM2: three control tokens,
/// the 256 byte characters, three merges, a user-defined and an unused token.
fn byte_level_kvs<'a>(tokens: &'a [String], types: Vec<i32>, pre: &'a str) -> Vec<(&'a str, W<'a>)> {
    vec![
        ("general.architecture", W::Str("llama")),
        ("tokenizer.ggml.model", W::Str("gpt2")),
        ("tokenizer.ggml.pre", W::Str(pre)),
        ("tokenizer.ggml.tokens", W::StrArray(tokens.iter().map(String::as_str).collect())),
        ("tokenizer.ggml.token_type", W::I32Array(types)),
        ("tokenizer.ggml.merges", W::StrArray(vec!["Ġ t", "h e", "Ġt he"])),
        ("tokenizer.ggml.bos_token_id", W::U32(1)),
        ("tokenizer.ggml.eos_token_id", W::U32(2)),
        ("tokenizer.ggml.eot_token_id", W::U32(0)),
        ("tokenizer.ggml.add_bos_token", W::Bool(false)),
        ("tokenizer.chat_template", W::Str("{{ messages }}")),
    ]
}

fn byte_level_tokens() -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].map(String::from).to_vec();
    tokens.extend(byte_chars());
    tokens.extend(["Ġt", "he", "Ġthe", "<user>", "[PAD]"].map(String::from));
    let mut types = vec![3; 3];
    types.extend(vec![1; 256 + 3]);
    types.extend([4, 5]);
    (tokens, types)
}

const BYTE0: TokenId = 3;
const THE: TokenId = 3 + 256 + 2;
const USER: TokenId = THE + 1;
const PAD: TokenId = THE + 2;

#[test]
fn byte_level_vocabulary() {
    let (tokens, types) = byte_level_tokens();
    let tok = load(&byte_level_kvs(&tokens, types, "smollm")).expect("valid model");
    let v = tok.vocabulary();
    assert_eq!(v.len(), 3 + 256 + 5);
    assert_eq!(v.kind(0), Some(TokenKind::Special));
    assert_eq!(v.token_bytes(2), Some(&b"<|im_end|>"[..]));
    for b in 0..=255u8 {
        assert_eq!(v.token_bytes(BYTE0 + TokenId::from(b)), Some(&[b][..]));
    }
    assert_eq!(v.token_bytes(THE), Some(&b" the"[..]));
    assert_eq!(v.token_bytes(USER), Some(&b"<user>"[..]));
    assert_eq!(v.kind(USER), Some(TokenKind::Normal));
    assert_eq!(v.kind(PAD), Some(TokenKind::Unused));
    assert_eq!(v.eos_tokens(), &[2, 0], "eos and eot both end generation");
    assert_eq!(v.bos_token(), Some(1));
    assert!(!tok.add_bos_token());
    assert_eq!(tok.chat_template(), Some("{{ messages }}"));
}

#[test]
fn byte_level_encoding() {
    let (tokens, types) = byte_level_tokens();
    let tok = load(&byte_level_kvs(&tokens, types, "smollm")).expect("valid model");
    let byte = |b: u8| BYTE0 + TokenId::from(b);
    assert_eq!(tok.encode(" the").ok(), Some(vec![THE]));
    assert_eq!(tok.encode("the").ok(), Some(vec![byte(b't'), THE - 1]));
    // smollm splits digits one by one, and a space before a digit is its own piece.
    assert_eq!(tok.encode(" 12").ok(), Some(vec![byte(b' '), byte(b'1'), byte(b'2')]));
    // Special text is ordinary text unless asked for; user-defined tokens always match.
    let plain = tok.encode("<|im_end|>").expect("encodes");
    assert_eq!(plain.len(), "<|im_end|>".len());
    assert_eq!(tok.encode_with_special("<|im_end|>").ok(), Some(vec![2]));
    assert_eq!(tok.encode("a<user>").ok(), Some(vec![byte(b'a'), USER]));
    for text in ROUND_TRIP_TEXTS {
        let ids = tok.encode(text).expect("encodes");
        assert_eq!(tok.decode(&ids).ok().as_deref(), Some(text.as_bytes()), "{text:?}");
    }
    let err = tok.decode(&[5, 100_000]).unwrap_err();
    assert!(matches!(err, VocabError::UnknownTokenId { id: 100_000, .. }), "{err}");
}

#[test]
fn sentencepiece_vocabulary_and_encoding() {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    tokens.extend(["▁", "a", "b", "▁a", "ab", "▁ab", "c"].map(String::from));
    let mut types = vec![2, 3, 3];
    types.extend(vec![6; 256]);
    types.extend(vec![1; 7]);
    let mut scores = vec![0.0f32; 3 + 256];
    scores.extend([-4.0, -5.0, -6.0, -3.0, -2.0, -1.0, -7.0]);
    let kvs = vec![
        ("tokenizer.ggml.model", W::Str("llama")),
        ("tokenizer.ggml.tokens", W::StrArray(tokens.iter().map(String::as_str).collect())),
        ("tokenizer.ggml.token_type", W::I32Array(types)),
        ("tokenizer.ggml.scores", W::F32Array(scores)),
        ("tokenizer.ggml.bos_token_id", W::U32(1)),
        ("tokenizer.ggml.eos_token_id", W::U32(2)),
        ("tokenizer.ggml.unknown_token_id", W::U32(0)),
    ];
    let tok = load(&kvs).expect("valid model");
    let v = tok.vocabulary();
    let (space, c, first_normal) = (259, 265, 259);
    assert_eq!(v.kind(0), Some(TokenKind::Special));
    assert_eq!(v.kind(3 + 0x0A), Some(TokenKind::ByteFallback));
    assert_eq!(v.token_bytes(3 + 0x0A), Some(&b"\n"[..]));
    // `▁` is a space; the byte-fallback token for a space duplicates it legitimately.
    assert_eq!(v.token_bytes(space), Some(&b" "[..]));
    assert_eq!(v.token_bytes(3 + 0x20), Some(&b" "[..]));
    assert_eq!(v.token_bytes(first_normal + 5), Some(&b" ab"[..]));
    assert!(tok.add_bos_token(), "SentencePiece models default to adding BOS");

    // "ab ab" → "▁ab▁ab": `ab` (score -2) merges before `▁a` (-3), then `▁ab`.
    assert_eq!(tok.encode("ab ab").ok(), Some(vec![264, 264]));
    assert_eq!(tok.encode("c").ok(), Some(vec![space, c]));
    // Characters outside the vocabulary fall back to their UTF-8 bytes.
    assert_eq!(tok.encode("é").ok(), Some(vec![space, 3 + 0xC3, 3 + 0xA9]));
    assert_eq!(tok.decode(&[space, 3 + 0xC3, 3 + 0xA9]).ok(), Some(" é".as_bytes().to_vec()));
    // Special tokens are cut out first; the dummy prefix only goes on text.
    assert_eq!(tok.encode_with_special("</s>").ok(), Some(vec![2]));
}

#[test]
fn unsupported_models_and_pre_tokenizers_are_named() {
    let err = load(&[("tokenizer.ggml.model", W::Str("bert"))]).unwrap_err();
    assert!(matches!(&err, VocabError::UnsupportedModel { model, .. } if model == "bert"), "{err}");

    let (tokens, types) = byte_level_tokens();
    let err = load(&byte_level_kvs(&tokens, types, "deepseek-llm")).unwrap_err();
    assert!(err.to_string().contains("tokenizer.ggml.pre = deepseek-llm"), "{err}");
}

#[test]
fn missing_and_malformed_keys_are_named() {
    let err = load(&[("tokenizer.ggml.model", W::Str("gpt2"))]).unwrap_err();
    assert!(err.to_string().contains("no key `tokenizer.ggml.tokens`"), "{err}");

    let (tokens, mut types) = byte_level_tokens();
    types.pop();
    let err = load(&byte_level_kvs(&tokens, types, "smollm")).unwrap_err();
    assert!(err.to_string().contains("`tokenizer.ggml.token_type`: has 263 entries"), "{err}");

    let (tokens, mut types) = byte_level_tokens();
    types[5] = 6; // a "byte" token whose text is not <0xHH>
    let err = load(&byte_level_kvs(&tokens, types, "smollm")).unwrap_err();
    assert!(err.to_string().contains("element 5"), "{err}");

    let (mut tokens, types) = byte_level_tokens();
    tokens[THE as usize] = "▁the".to_string();
    let err = load(&byte_level_kvs(&tokens, types, "smollm")).unwrap_err();
    assert!(matches!(err, VocabError::NotByteLevel { id: THE, ch: '▁', .. }), "{err}");

    let (mut tokens, types) = byte_level_tokens();
    tokens[USER as usize] = "a".to_string(); // user-defined "a" duplicates byte token "a"
    let err = load(&byte_level_kvs(&tokens, types, "smollm")).unwrap_err();
    assert!(matches!(err, VocabError::DuplicateNormalToken { second: USER, .. }), "{err}");

    let (mut tokens, types) = byte_level_tokens();
    tokens[USER as usize] = String::new(); // an empty user-defined (Normal) token
    let err = load(&byte_level_kvs(&tokens, types, "smollm")).unwrap_err();
    assert!(matches!(err, VocabError::EmptyNormalToken { id: USER }), "{err}");

    let (tokens, types) = byte_level_tokens();
    let mut kvs = byte_level_kvs(&tokens, types, "smollm");
    kvs.retain(|(k, _)| *k != "tokenizer.ggml.eos_token_id");
    kvs.push(("tokenizer.ggml.eos_token_id", W::U32(70_000)));
    let err = load(&kvs).unwrap_err();
    assert!(matches!(err, VocabError::SpecialIdOutOfRange { role: "EOS", id: 70_000, .. }), "{err}");

    let (tokens, types) = byte_level_tokens();
    let mut kvs = byte_level_kvs(&tokens, types, "smollm");
    kvs.retain(|(k, _)| *k != "tokenizer.ggml.merges");
    kvs.push(("tokenizer.ggml.merges", W::StrArray(vec!["Ġ nowhere"])));
    let err = load(&kvs).unwrap_err();
    assert!(matches!(err, VocabError::Backend { .. }), "{err}");
}

#[test]
fn truncated_file_on_disk_names_path_and_offset() {
    let (tokens, types) = byte_level_tokens();
    let bytes = gguf(&byte_level_kvs(&tokens, types, "smollm"));
    let file = TempFile::new("cut.gguf", &bytes[..bytes.len() / 2]);
    let err = Tokenizer::from_gguf(file.path()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("cut.gguf") && message.contains("byte offset"), "{message}");
    // from_spec sniffs the magic bytes when the extension says nothing.
    let file = TempFile::new("model.bin", &bytes);
    assert!(Tokenizer::from_spec(&file.path().display().to_string()).is_ok());
}

// ---- The real default model (skipped with a notice when not fetched) ----

#[test]
fn smollm2_pinned_facts() {
    let Some(path) = trellis_tests::default_model() else {
        return;
    };
    let tok = Tokenizer::from_gguf(&path).expect("SmolLM2 loads");
    let v = tok.vocabulary();
    assert_eq!(v.len(), 49_152);
    let specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<repo_name>",
        "<reponame>",
        "<file_sep>",
        "<filename>",
        "<gh_stars>",
        "<issue_start>",
        "<issue_comment>",
        "<issue_closed>",
        "<jupyter_start>",
        "<jupyter_text>",
        "<jupyter_code>",
        "<jupyter_output>",
        "<jupyter_script>",
        "<empty_output>",
    ];
    for (id, text) in specials.iter().enumerate() {
        let id = id as TokenId;
        assert_eq!(v.kind(id), Some(TokenKind::Special), "{text}");
        assert_eq!(v.token_bytes(id), Some(text.as_bytes()));
    }
    let specials_count = v.iter().filter(|(_, _, k)| *k == TokenKind::Special).count();
    assert_eq!(specials_count, 17, "all other tokens are Normal");
    assert_eq!(v.iter().filter(|(_, _, k)| *k == TokenKind::Normal).count(), 49_135);
    assert_eq!(v.eos_tokens(), &[2], "EOS is <|im_end|>");
    assert_eq!(v.bos_token(), Some(1), "BOS is <|im_start|>");
    assert!(!tok.add_bos_token());
    for (id, bytes) in [
        (17, &b"!"[..]),
        (198, b"\n"),
        (216, b" "),
        (260, b" the"),
        (1195, b"the"),
        (19556, b"Hello"),
        (28120, b"hello"),
        (38699, b" Hello"),
    ] {
        assert_eq!(v.token_bytes(id), Some(bytes), "token {id}");
    }
    // Surprise: 21 of the 256 bytes have no token (six control characters,
    // bytes that never occur in UTF-8, and the lead bytes 0xF1 and 0xF2),
    // so byte-level BPE cannot spell them at all.
    let mut missing: Vec<u8> = (0..=255).collect();
    missing.retain(|&b| !v.iter().any(|(_, bytes, kind)| kind == TokenKind::Normal && bytes == [b]));
    assert_eq!(
        missing,
        [
            0x04, 0x06, 0x13, 0x14, 0x16, 0x1d, 0xc0, 0xc1, 0xf1, 0xf2, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc,
            0xfd, 0xfe, 0xff
        ]
    );
    let err = tok.encode("ok\u{4}").unwrap_err();
    assert!(matches!(err, VocabError::Unencodable { byte: 0x04, offset: 2, .. }), "{err}");
    assert_eq!(tok.encode_with_special("<|im_start|>").ok(), Some(vec![1]));
    assert_eq!(tok.encode_with_special("<|im_end|>").ok(), Some(vec![2]));
    let template = tok.chat_template().expect("has a chat template");
    assert!(template.contains("<|im_start|>assistant\\n") || template.contains("<|im_start|>assistant\n"));
    assert_eq!(v.fingerprint(), SMOLLM2_FINGERPRINT, "got {:#x}", v.fingerprint());
    // from_spec goes the same way.
    let again = Tokenizer::from_spec(&path.display().to_string()).expect("spec loads");
    assert_eq!(again.vocabulary().fingerprint(), v.fingerprint());
}

/// [`Vocabulary::fingerprint`](crate::Vocabulary::fingerprint) of SmolLM2-135M-Instruct.
const SMOLLM2_FINGERPRINT: u64 = 0xc62c_6a7f_0f86_d961;

/// Compares with the ids llama.cpp gives for the same GGUF file
/// (`tests/fixtures/smollm2_reference.json`, made by the script beside it).
#[test]
fn smollm2_matches_llama_cpp() {
    let Some(path) = trellis_tests::default_model() else {
        return;
    };
    let tok = Tokenizer::from_gguf(&path).expect("SmolLM2 loads");
    let reference = std::fs::read_to_string(fixture("smollm2_reference.json")).expect("fixture");
    let reference: serde_json::Value = serde_json::from_str(&reference).expect("fixture is JSON");
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    let ids = |v: &serde_json::Value| -> Vec<TokenId> {
        v.as_array().expect("id list").iter().map(|id| id.as_u64().expect("id") as TokenId).collect()
    };
    for case in cases {
        let text = case["text"].as_str().expect("text");
        assert_eq!(tok.encode(text).expect("encodes"), ids(&case["ids"]), "encode({text:?})");
        assert_eq!(
            tok.encode_with_special(text).expect("encodes"),
            ids(&case["ids_with_special"]),
            "encode_with_special({text:?})"
        );
        assert_eq!(tok.decode(&ids(&case["ids"])).ok().as_deref(), Some(text.as_bytes()));
    }
}

#[test]
fn smollm2_round_trips() {
    let Some(path) = trellis_tests::default_model() else {
        return;
    };
    let tok = Tokenizer::from_gguf(&path).expect("SmolLM2 loads");
    for text in ROUND_TRIP_TEXTS {
        let ids = tok.encode(text).expect("encodes");
        assert_eq!(tok.decode(&ids).ok().as_deref(), Some(text.as_bytes()), "{text:?}");
    }
    // A chat prompt keeps its control tokens.
    let prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    let ids = tok.encode_with_special(prompt).expect("encodes");
    assert_eq!(ids.iter().filter(|&&id| id == 1).count(), 2);
    assert_eq!(ids.iter().filter(|&&id| id == 2).count(), 1);
    assert_eq!(tok.decode(&ids).ok().as_deref(), Some(prompt.as_bytes()));
}

#[test]
fn smollm2_truncated_and_corrupted_copies_fail_cleanly() {
    let Some(path) = trellis_tests::default_model() else {
        return;
    };
    // The metadata is the first ~1.6 MB; read only what is needed.
    let mut head = vec![0u8; 4 << 20];
    {
        use std::io::Read;
        let mut file = std::fs::File::open(&path).expect("open model");
        file.read_exact(&mut head).expect("model is larger than 4 MiB");
    }
    let whole_metadata = TempFile::new("head.gguf", &head);
    Tokenizer::from_gguf(whole_metadata.path()).expect("the first 4 MiB hold all the metadata");

    for cut in [0, 3, 7, 20, 100, 1_000, 50_000, 700_000, 1_400_000] {
        let file = TempFile::new("cut.gguf", &head[..cut]);
        let err = Tokenizer::from_gguf(file.path()).expect_err("truncated");
        let message = err.to_string();
        assert!(
            matches!(err, VocabError::GgufTruncated { .. } | VocabError::GgufCorrupt { .. }),
            "cut at {cut}: {message}"
        );
        assert!(message.contains("byte offset"), "cut at {cut}: {message}");
    }

    // Bogus huge kv count: rejected before any allocation.
    let mut bad = head.clone();
    bad[16..24].copy_from_slice(&(u64::MAX / 3).to_le_bytes());
    let file = TempFile::new("bad.gguf", &bad);
    let err = Tokenizer::from_gguf(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::GgufCorrupt { offset: 16, .. }), "{err}");
}
