use super::is_reserved_name;
use crate::vocab::test_support::{ROUND_TRIP_TEXTS, TempFile, fixture};
use crate::vocab::{TokenId, TokenKind, Tokenizer, VocabError};

fn byte_level() -> Tokenizer {
    Tokenizer::from_tokenizer_json(&fixture("byte_level_bpe/tokenizer.json")).expect("fixture loads")
}

fn sentencepiece() -> Tokenizer {
    Tokenizer::from_tokenizer_json(&fixture("sentencepiece/tokenizer.json")).expect("fixture loads")
}

#[test]
fn byte_level_vocabulary() {
    let tok = byte_level();
    let v = tok.vocabulary();
    // 256 bytes + 6 merged tokens, two special tokens, a gap, a reserved token.
    assert_eq!(v.len(), 266);
    for b in 0..=255u8 {
        assert_eq!(v.token_bytes(TokenId::from(b)), Some(&[b][..]));
        assert_eq!(v.kind(TokenId::from(b)), Some(TokenKind::Normal));
    }
    assert_eq!(v.token_bytes(258), Some(&b" the"[..]));
    assert_eq!(v.token_bytes(261), Some(&b" and"[..]));
    assert_eq!(v.kind(262), Some(TokenKind::Special));
    assert_eq!(v.token_bytes(263), Some(&b"<|im_end|>"[..]));
    assert_eq!((v.kind(264), v.token_bytes(264)), (Some(TokenKind::Unused), Some(&[][..])));
    assert_eq!(v.kind(265), Some(TokenKind::Unused), "reserved special tokens are unused");
    // EOS from generation_config.json and tokenizer_config.json; BOS is null there.
    assert_eq!(v.eos_tokens(), &[262, 263]);
    assert_eq!(v.bos_token(), None);
    assert!(!tok.add_bos_token());
    assert!(tok.chat_template().is_some_and(|t| t.contains("<|im_start|>")));
}

#[test]
fn byte_level_encoding_ignores_truncation_and_parses_special_only_when_asked() {
    let tok = byte_level();
    // The fixture asks for truncation to 4 tokens; encoding must not truncate.
    let ids = tok.encode(" the and the and the").expect("encodes");
    assert_eq!(ids, vec![258, 261, 258, 261, 258]);
    assert_eq!(tok.encode_with_special(" the<|im_end|>").ok(), Some(vec![258, 263]));
    let plain = tok.encode(" the<|im_end|>").expect("encodes");
    assert_eq!(plain[0], 258);
    assert!(!plain.contains(&263));
    assert_eq!(tok.decode(&plain).ok(), Some(b" the<|im_end|>".to_vec()));
    for text in ROUND_TRIP_TEXTS {
        let ids = tok.encode(text).expect("encodes");
        assert_eq!(tok.decode(&ids).ok().as_deref(), Some(text.as_bytes()), "{text:?}");
    }
}

#[test]
fn sentencepiece_vocabulary() {
    let tok = sentencepiece();
    let v = tok.vocabulary();
    assert_eq!(v.len(), 3 + 256 + 8);
    assert_eq!(v.kind(0), Some(TokenKind::Special), "<unk>");
    assert_eq!(v.kind(1), Some(TokenKind::Special));
    assert_eq!(v.kind(3 + 0x41), Some(TokenKind::ByteFallback));
    assert_eq!(v.token_bytes(3 + 0x41), Some(&b"A"[..]));
    assert_eq!(v.token_bytes(259), Some(&b" "[..]), "▁ is a space");
    assert_eq!(v.token_bytes(264), Some(&b" ab"[..]));
    assert_eq!(v.token_bytes(266), Some("é".as_bytes()));
    // No configuration files: EOS and BOS come from their well-known names.
    assert_eq!(v.eos_tokens(), &[2]);
    assert_eq!(v.bos_token(), Some(1));
    assert!(tok.add_bos_token(), "the post-processor adds <s>");
    assert_eq!(tok.chat_template(), None);
}

#[test]
fn sentencepiece_encoding() {
    let tok = sentencepiece();
    // No BOS even though the post-processor would add one.
    let ids = tok.encode("ab ab é x").expect("encodes");
    assert_eq!(ids, vec![264, 264, 259, 266, 259, 3 + u32::from(b'x')]);
    // The dummy prefix makes decode(encode(t)) = " " + t.
    assert_eq!(tok.decode(&ids).ok(), Some(" ab ab é x".as_bytes().to_vec()));
    // Unknown characters fall back to bytes.
    let ids = tok.encode("日").expect("encodes");
    assert_eq!(ids, vec![259, 3 + 0xE6, 3 + 0x97, 3 + 0xA5]);
    assert_eq!(tok.encode_with_special("</s>").ok(), Some(vec![2]));
}

#[test]
fn malformed_tokenizer_json_is_an_error_naming_the_file() {
    let file = TempFile::new("tokenizer.json", b"{\"model\": {\"type\": \"BPE\", \"vocab\": ");
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::TokenizerFile { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json") && err.to_string().contains("malformed JSON"), "{err}");

    let file = TempFile::new("tokenizer.json", b"{\"version\": \"1.0\"}");
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(err.to_string().contains("no `model`"), "{err}");

    // Valid JSON that the tokenizers crate rejects (merge of unknown tokens).
    let file = TempFile::new(
        "tokenizer.json",
        br#"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "model":{"type":"BPE","vocab":{"a":0},"merges":["x y"]}}"#,
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::TokenizerFile { .. }), "{err}");

    let file = TempFile::new(
        "tokenizer.json",
        br#"{"version":"1.0","added_tokens":[],"model":{"type":"WordPiece","vocab":{"a":0},"unk_token":"a"}}"#,
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(&err, VocabError::UnsupportedModel { model, .. } if model == "WordPiece"), "{err}");

    let err = Tokenizer::from_tokenizer_json(std::path::Path::new("no/such/tokenizer.json")).unwrap_err();
    assert!(matches!(err, VocabError::Io { .. }), "{err}");
}

#[test]
fn added_token_ids_must_match_the_tokenizers_crate() {
    // "<x>" claims id 5, but the tokenizers crate would number it 1.
    let file = TempFile::new(
        "tokenizer.json",
        br#"{"version":"1.0","normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "added_tokens":[{"id":5,"content":"<x>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
            "model":{"type":"BPE","vocab":{"a":0},"merges":[]}}"#,
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(err.to_string().contains("\"<x>\" has id 5"), "{err}");
}

#[test]
fn bad_byte_level_token_and_duplicate_ids_are_named() {
    // "▁x" is not byte-level text, yet the pipeline is byte-level.
    let file = TempFile::new(
        "tokenizer.json",
        r#"{"version":"1.0","added_tokens":[],"normalizer":null,
            "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
            "post_processor":null,"decoder":null,
            "model":{"type":"BPE","vocab":{"a":0,"▁x":1},"merges":[]}}"#
            .as_bytes(),
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::NotByteLevel { id: 1, ch: '▁', .. }), "{err}");

    let file = TempFile::new(
        "tokenizer.json",
        br#"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "model":{"type":"BPE","vocab":{"a":0,"b":0},"merges":[]}}"#,
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::DuplicateId { id: 0, .. }), "{err}");
    assert!(err.to_string().contains("\"a\" and \"b\""), "{err}");
}

#[test]
fn empty_and_duplicate_tokens_are_named() {
    // Plain flavour: token strings are their own bytes, so "" is an empty
    // Normal token.
    let file = TempFile::new(
        "tokenizer.json",
        br#"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "model":{"type":"BPE","vocab":{"a":0,"":1},"merges":[]}}"#,
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::EmptyNormalToken { id: 1 }), "{err}");

    // Metaspace flavour: "▁a" and the non-special added token " a" are both
    // the bytes " a".
    let file = TempFile::new(
        "tokenizer.json",
        r#"{"version":"1.0","normalizer":null,"post_processor":null,
            "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
            "decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
            "added_tokens":[{"id":2,"content":" a","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}],
            "model":{"type":"BPE","vocab":{"a":0,"▁a":1},"merges":[]}}"#
            .as_bytes(),
    );
    let err = Tokenizer::from_tokenizer_json(file.path()).unwrap_err();
    assert!(matches!(err, VocabError::DuplicateNormalToken { first: 1, second: 2, .. }), "{err}");
}

#[test]
fn spec_picks_the_loader() {
    let dir = fixture("sentencepiece");
    let tok = Tokenizer::from_spec(&dir.display().to_string()).expect("directory with tokenizer.json");
    assert_eq!(tok.vocabulary().fingerprint(), sentencepiece().vocabulary().fingerprint());
    let tok = Tokenizer::from_spec(&fixture("byte_level_bpe/tokenizer.json").display().to_string()).expect("json path");
    assert_eq!(tok.vocabulary().len(), 266);
}

#[test]
fn reserved_names() {
    assert!(is_reserved_name("<|reserved_special_token_12|>"));
    assert!(is_reserved_name("<unused0>"));
    assert!(is_reserved_name("[unused17]"));
    assert!(is_reserved_name("<|reserved_200000|>"));
    assert!(!is_reserved_name("<|im_end|>"));
    assert!(!is_reserved_name("<unused>"));
    assert!(!is_reserved_name("reserved_1"));
}
