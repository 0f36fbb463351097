//! Index files: a constraint saved with its precomputed masks and loaded
//! back gives exactly the masks of a freshly compiled one, and every kind
//! of bad file is refused with its own error.

use std::sync::Arc;

use trellis_grammars::{CompiledGrammar, Config, Format, Source};
use trellis_tests::{Rng, random_walk};
use trellis_token_index::{
    IndexFile, IndexFileError, TokenConstraint, TokenIndex, TokenKind, TokenSet, Tokenizer, Vocabulary,
};

const JSON: &str = include_str!("../../grammars/library/json.gbnf");

fn source(text: &str, format: Format) -> Source {
    Source::new(format, text)
}

/// A GBNF grammar compiled with every lexer state built up front, as index
/// files need.
fn eager(text: &str) -> CompiledGrammar {
    let mut config = Config::default();
    config.lexer.eager = true;
    CompiledGrammar::with_config(text, Format::Gbnf, &config).expect("grammar")
}

fn r50k() -> TokenIndex {
    let tokenizer = Tokenizer::from_spec("tiktoken:r50k_base").expect("embedded encoding");
    TokenIndex::new(tokenizer.vocabulary().clone())
}

fn small_vocabulary(extra: &str) -> TokenIndex {
    let mut tokens = vec![(b"<eos>".to_vec(), TokenKind::Special)];
    for text in ["{", "}", "\"", "a", "1", ":", ",", "[", "]", " ", "\"a\"", extra] {
        tokens.push((text.as_bytes().to_vec(), TokenKind::Normal));
    }
    TokenIndex::new(Arc::new(Vocabulary::from_tokens(tokens, vec![0], None).expect("vocabulary")))
}

fn saved(grammar: &CompiledGrammar, index: &TokenIndex, text: &str) -> Vec<u8> {
    let constraint = TokenConstraint::new(grammar, index);
    let precomputed = constraint.precompute(|_, _| {});
    assert!(precomputed.keys > 0 && precomputed.distinct_sets <= precomputed.keys);
    // Some subtree masks too, as real use leaves them.
    let mut matcher = constraint.matcher();
    let mut mask = TokenSet::new(index.vocabulary().len());
    matcher.mask(&mut mask).expect("the mask is decided");
    let first = mask.iter().next();
    if let Some(token) = first {
        matcher.commit(token).expect("allowed token");
        matcher.mask(&mut mask).expect("the mask is decided");
    }
    constraint.to_index_file(&source(text, Format::Gbnf))
}

#[test]
fn loaded_masks_equal_fresh_masks() {
    let grammar = eager(JSON);
    let index = r50k();
    let file = saved(&grammar, &index, JSON);
    let parsed = IndexFile::parse(&file).expect("valid file");
    assert_eq!(parsed.source(), &source(JSON, Format::Gbnf));
    assert_eq!(parsed.vocabulary_fingerprint(), index.vocabulary().fingerprint());
    assert_eq!(&parsed.vocabulary().expect("stored vocabulary"), index.vocabulary().as_ref());
    let (lexeme_parts, _) = parsed.stored_parts();
    assert!(lexeme_parts > 0);
    let recompiled = eager(&parsed.source().text);
    let loaded = parsed.into_constraint(&recompiled, &index).expect("same grammar and vocabulary");
    let fresh = TokenConstraint::new(&grammar, &index);

    let mut rng = Rng(7);
    let (mut expected, mut actual) = (TokenSet::new(index.vocabulary().len()), TokenSet::new(index.vocabulary().len()));
    for _ in 0..40 {
        let (state, _) = random_walk(&grammar, &mut rng, 60, 8);
        let bytes_so_far = state.consumed();
        let (fresh_matcher, loaded_matcher) = (fresh.matcher_from(state.clone()), loaded.matcher_from(state));
        fresh_matcher.mask(&mut expected).expect("the mask is decided");
        loaded_matcher.mask(&mut actual).expect("the mask is decided");
        assert_eq!(expected, actual, "masks differ after {bytes_so_far} bytes");
    }
}

#[test]
fn refuses_another_vocabulary() {
    let grammar = eager(JSON);
    let file = saved(&grammar, &small_vocabulary("x"), JSON);
    let parsed = IndexFile::parse(&file).expect("valid file");
    let error = parsed.into_constraint(&grammar, &small_vocabulary("y")).expect_err("other vocabulary");
    assert!(matches!(error, IndexFileError::VocabularyMismatch { .. }), "{error}");
}

#[test]
fn refuses_another_grammar() {
    let grammar = eager(JSON);
    let index = small_vocabulary("x");
    let file = saved(&grammar, &index, JSON);
    let other = eager("root ::= \"a\"+");
    let error =
        IndexFile::parse(&file).expect("valid file").into_constraint(&other, &index).expect_err("other grammar");
    assert!(matches!(error, IndexFileError::GrammarMismatch { .. }), "{error}");
}

/// Stored masks are keyed by lexer state numbers, which only an eagerly
/// built lexer keeps from one compile to the next.
#[test]
fn stored_masks_need_an_eager_lexer_on_both_sides() {
    let index = small_vocabulary("x");
    let file = saved(&eager(JSON), &index, JSON);
    let lazy = CompiledGrammar::new(JSON, Format::Gbnf).expect("json grammar");
    assert!(!lazy.has_stable_states());
    let error = IndexFile::parse(&file).expect("valid file").into_constraint(&lazy, &index).expect_err("lazy lexer");
    assert!(error.to_string().contains("eager"), "{error}");

    // A lazily compiled grammar's file holds no masks, and loads into a
    // lazily compiled grammar.
    let constraint = TokenConstraint::new(&lazy, &index);
    assert_eq!(constraint.precompute(|_, _| {}).keys, 0);
    let parsed = IndexFile::parse(&constraint.to_index_file(&source(JSON, Format::Gbnf))).expect("valid file");
    assert_eq!(parsed.stored_parts(), (0, 0));
    parsed.into_constraint(&lazy, &index).expect("no stored masks to disagree with");
}

#[test]
fn refuses_damaged_files() {
    let grammar = eager(JSON);
    let file = saved(&grammar, &small_vocabulary("x"), JSON);

    assert_eq!(IndexFile::parse(b"{\"not\": \"an index\"}").unwrap_err(), IndexFileError::NotAnIndex);
    assert_eq!(IndexFile::parse(b"").unwrap_err(), IndexFileError::NotAnIndex);
    for cut in [10, 32, file.len() / 2, file.len() - 1] {
        let error = IndexFile::parse(&file[..cut]).expect_err("truncated");
        assert!(matches!(error, IndexFileError::Truncated { .. }), "cut at {cut}: {error}");
    }
    // Every payload byte is covered by the checksum.
    for position in [32, 40, file.len() / 3, file.len() - 1] {
        let mut damaged = file.clone();
        damaged[position] ^= 0x10;
        let error = IndexFile::parse(&damaged).expect_err("flipped bit");
        assert!(matches!(error, IndexFileError::Checksum { .. }), "byte {position}: {error}");
    }
    let mut newer = file.clone();
    newer[8] = 99;
    assert_eq!(IndexFile::parse(&newer).unwrap_err(), IndexFileError::UnsupportedVersion { found: 99 });
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(IndexFile::parse(&longer).unwrap_err(), IndexFileError::Malformed { .. }));
}

/// A file whose checksum is right but whose numbers are not (written by
/// something else than Trellis) is refused, never trusted.
#[test]
fn refuses_well_checksummed_nonsense() {
    let grammar = eager(JSON);
    let index = small_vocabulary("x");
    let file = saved(&grammar, &index, JSON);
    let mut accepted = 0;
    let mut rng = Rng(3);
    for _ in 0..300 {
        let mut damaged = file.clone();
        let position = 32 + rng.below(file.len() - 32);
        damaged[position] = damaged[position].wrapping_add(1 + rng.below(255) as u8);
        let checksum = crc32(&damaged[32..]);
        damaged[24..28].copy_from_slice(&checksum.to_le_bytes());
        // Must not panic; may be accepted when the byte was, say, grammar
        // text that still compiles to the same shape.
        if let Ok(parsed) = IndexFile::parse(&damaged) {
            let text = parsed.source().text.clone();
            let mut config = Config::default();
            config.lexer.eager = true;
            if let Ok(grammar) = CompiledGrammar::with_config(&text, Format::Gbnf, &config)
                && parsed.into_constraint(&grammar, &index).is_ok()
            {
                accepted += 1;
            }
        }
    }
    assert!(accepted < 300);
}

/// CRC-32 (IEEE), bit by bit: the test's own, independent of the crate's.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The file keeps the grammar's source as it was given: format, text,
/// origin and the options of its language.
#[test]
fn keeps_the_typed_source() {
    let mut source = Source::new(Format::JsonSchema, r#"{"type": "array", "uniqueItems": true}"#);
    source.options.json_schema.lenient = true;
    source.options.json_schema.whitespace = trellis_grammars::Whitespace::Flexible;
    source.origin = "schemas/tags.schema.json".to_string();
    let mut config = Config::default();
    config.lexer.eager = true;
    let (grammar, warnings) = source.compile(&config).expect("lenient schema");
    assert_eq!(warnings.len(), 1);
    let index = small_vocabulary("x");
    let file = TokenConstraint::new(&grammar, &index).to_index_file(&source);
    let parsed = IndexFile::parse(&file).expect("valid file");
    assert_eq!(parsed.source(), &source);
    let (again, _) = parsed.source().compile(&config).expect("compiles again");
    parsed.into_constraint(&again, &index).expect("the same grammar");
}
