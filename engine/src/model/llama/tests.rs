//! The [`LanguageModel`] contract on small random Llamas: batching, forking
//! and reordering must not change any sequence's distribution.
//!
//! The reference for every check is the same sequence run on its own, one
//! token at a time. A batched step may sum in a different order (the
//! matrix kernels block a 5-row product differently from a 1-row one), so
//! batched results are compared within `TOLERANCE`; a fork and its original
//! run the very same arithmetic, so they are compared bit for bit.

use std::sync::Arc;

use trellis_token_index::{TokenId, TokenKind, Vocabulary};

use super::kv_cache::BLOCK_LEN;
use super::*;

const TOLERANCE: f32 = 1e-4;

/// `<eos>` then `len - 1` one-letter tokens.
fn vocabulary(len: usize) -> Arc<Vocabulary> {
    let tokens = (0..len)
        .map(|i| {
            if i == 0 {
                (b"<eos>".to_vec(), TokenKind::Special)
            } else {
                (vec![b'a' + (i - 1) as u8], TokenKind::Normal)
            }
        })
        .collect();
    Arc::new(Vocabulary::from_tokens(tokens, vec![0], None).expect("a valid vocabulary"))
}

fn model(vocab_len: usize, seed: u64) -> Llama {
    Llama::random(&LlamaConfig::tiny(vocab_len), vocabulary(vocab_len), seed).expect("a valid tiny model")
}

/// The log-probabilities after `tokens`, computed one token at a time on a
/// fresh sequence (dropped afterwards).
fn one_at_a_time(model: &mut Llama, tokens: &[TokenId]) -> Vec<f32> {
    let seq = model.start(&tokens[..1]).unwrap();
    for &token in &tokens[1..] {
        model.extend(&[(seq, token)]).unwrap();
    }
    let logprobs = model.logprobs(seq).unwrap().to_vec();
    model.drop_sequence(seq).unwrap();
    logprobs
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    let worst = actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
    assert!(worst <= TOLERANCE, "{what}: max |Δ logprob| = {worst}");
}

#[test]
fn logprobs_are_normalised_over_the_vocabulary() {
    let mut model = model(7, 1);
    let seq = model.start(&[1, 2, 3]).unwrap();
    let logprobs = model.logprobs(seq).unwrap();
    assert_eq!(logprobs.len(), 7);
    let total: f64 = logprobs.iter().map(|&lp| f64::from(lp).exp()).sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
    assert_eq!(model.sequence_len(seq).unwrap(), 3);
}

/// The first test: B sequences of different lengths extended in
/// one batched step give the logits each gives on its own.
#[test]
fn batched_steps_match_sequences_run_one_at_a_time() {
    let mut model = model(9, 2);
    let histories: [&[TokenId]; 5] = [
        &[1],
        &[2, 3],
        &[4, 4, 4, 5],
        &[8; BLOCK_LEN + 1],
        &[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5],
    ];
    let nexts: [[TokenId; 3]; 5] = [[1, 2, 3], [0, 0, 0], [5, 6, 7], [8, 1, 8], [2, 2, 2]];
    let seqs: Vec<SeqId> = histories.iter().map(|h| model.start(h).unwrap()).collect();
    for step in 0..3 {
        let batch: Vec<(SeqId, TokenId)> = seqs.iter().zip(&nexts).map(|(&seq, next)| (seq, next[step])).collect();
        model.extend(&batch).unwrap();
        for (i, &seq) in seqs.iter().enumerate() {
            let mut history = histories[i].to_vec();
            history.extend_from_slice(&nexts[i][..=step]);
            let expected = one_at_a_time(&mut model, &history);
            assert_close(model.logprobs(seq).unwrap(), &expected, &format!("sequence {i} after step {step}"));
        }
    }
}

#[test]
fn prefill_and_append_match_token_by_token_decoding() {
    let mut model = model(6, 3);
    let tokens: Vec<TokenId> = (0..40).map(|i| (i * 7 % 5 + 1) as TokenId).collect();
    let expected = one_at_a_time(&mut model, &tokens);
    let whole = model.start(&tokens).unwrap();
    assert_close(model.logprobs(whole).unwrap(), &expected, "prefill");
    let pieces = model.start(&tokens[..3]).unwrap();
    model.append(pieces, &tokens[3..20]).unwrap();
    model.append(pieces, &tokens[20..]).unwrap();
    assert_close(model.logprobs(pieces).unwrap(), &expected, "append in chunks");
    assert_eq!(model.sequence_len(pieces).unwrap(), 40);
}

/// The second test: a fork continues exactly as the original
/// would, including when the fork point is inside a shared block and both
/// sides then write into their copies of it.
#[test]
fn a_fork_continues_exactly_as_the_original_would() {
    let mut model = model(8, 4);
    let prompt: Vec<TokenId> = (0..BLOCK_LEN as u32 + 5).map(|i| i % 7 + 1).collect();
    let original = model.start(&prompt).unwrap();
    let fork = model.fork(original).unwrap();
    assert_eq!(model.logprobs(fork).unwrap(), model.logprobs(original).unwrap());
    assert_eq!(model.sequence_len(fork).unwrap(), prompt.len());

    // Identical continuations, run separately: bit-identical results.
    for &token in &[3, 1, 4, 1, 5, 2, 6] {
        model.extend(&[(original, token)]).unwrap();
        model.extend(&[(fork, token)]).unwrap();
        assert_eq!(model.logprobs(fork).unwrap(), model.logprobs(original).unwrap());
    }

    // Diverging continuations must not leak into each other through the
    // shared blocks.
    let base = prompt.iter().chain(&[3, 1, 4, 1, 5, 2, 6]).copied();
    let mut left: Vec<TokenId> = base.clone().collect();
    let mut right: Vec<TokenId> = base.collect();
    for step in 0..BLOCK_LEN {
        let (a, b) = ((step % 7 + 1) as TokenId, (step % 5 + 2) as TokenId);
        model.extend(&[(original, a), (fork, b)]).unwrap();
        left.push(a);
        right.push(b);
    }
    let (expected_left, expected_right) = (one_at_a_time(&mut model, &left), one_at_a_time(&mut model, &right));
    assert_close(model.logprobs(original).unwrap(), &expected_left, "original");
    assert_close(model.logprobs(fork).unwrap(), &expected_right, "fork");
}

/// The third test: SMC resampling by ancestor index moves each
/// cache to its new particle.
#[test]
fn reorder_moves_caches_with_their_particles() {
    let mut model = model(8, 5);
    let histories: [Vec<TokenId>; 4] = [vec![1, 2], vec![3; 19], vec![4, 5, 6], vec![7, 1, 7, 1]];
    let seqs: Vec<SeqId> = histories.iter().map(|h| model.start(h).unwrap()).collect();
    let ancestors = [2, 0, 2, 2, 3];
    let particles = model.reorder(&seqs, &ancestors).unwrap();
    assert_eq!(particles.len(), ancestors.len());
    assert_eq!(model.live_sequences(), ancestors.len());
    // Sequence 1 was named by no ancestor: it is gone.
    assert!(matches!(model.logprobs(seqs[1]), Err(ModelError::UnknownSequence { .. })));

    // Every particle now extends by its own token in one batch and must
    // match its ancestor's history plus that token.
    let batch: Vec<(SeqId, TokenId)> =
        particles.iter().enumerate().map(|(i, &seq)| (seq, (i + 1) as TokenId)).collect();
    model.extend(&batch).unwrap();
    for (i, (&particle, &ancestor)) in particles.iter().zip(&ancestors).enumerate() {
        let mut history = histories[ancestor].clone();
        history.push((i + 1) as TokenId);
        assert_eq!(model.sequence_len(particle).unwrap(), history.len());
        let expected = one_at_a_time(&mut model, &history);
        assert_close(model.logprobs(particle).unwrap(), &expected, &format!("particle {i} (ancestor {ancestor})"));
    }
}

#[test]
fn reorder_with_bad_arguments_changes_nothing() {
    let mut model = model(5, 6);
    let a = model.start(&[1]).unwrap();
    let b = model.start(&[2]).unwrap();
    assert!(matches!(model.reorder(&[a, b], &[0, 2]), Err(ModelError::AncestorOutOfRange { index: 2, len: 2 })));
    assert!(matches!(model.reorder(&[a, a], &[0]), Err(ModelError::DuplicateSequence { .. })));
    assert_eq!(model.live_sequences(), 2);
    assert_eq!(model.reorder(&[a, b], &[]).unwrap(), []);
    assert_eq!(model.live_sequences(), 0);
}

#[test]
fn forks_share_cache_blocks_until_written() {
    let mut model = model(5, 7);
    let prompt = vec![1; 4 * BLOCK_LEN];
    let original = model.start(&prompt).unwrap();
    let alone = model.kv_cache_bytes();
    let forks: Vec<SeqId> = (0..10).map(|_| model.fork(original).unwrap()).collect();
    assert_eq!(model.kv_cache_bytes(), alone, "forking copies no blocks");
    // Each fork's first token opens one block of its own.
    let batch: Vec<(SeqId, TokenId)> = forks.iter().map(|&f| (f, 2)).collect();
    model.extend(&batch).unwrap();
    assert_eq!(model.kv_cache_bytes(), alone + forks.len() * alone / 4);
    for fork in forks {
        model.drop_sequence(fork).unwrap();
    }
    assert_eq!(model.kv_cache_bytes(), alone);
}

#[test]
fn bad_calls_are_errors_and_leave_the_model_unchanged() {
    let mut model = model(5, 8);
    assert!(matches!(model.start(&[]), Err(ModelError::EmptyPrompt)));
    assert!(matches!(model.start(&[1, 5]), Err(ModelError::TokenOutOfRange { token: 5, vocab_len: 5 })));
    let seq = model.start(&[1, 2]).unwrap();
    let before = model.logprobs(seq).unwrap().to_vec();
    assert!(matches!(model.extend(&[(seq, 1), (seq, 2)]), Err(ModelError::DuplicateSequence { .. })));
    assert!(matches!(model.extend(&[(seq, 9)]), Err(ModelError::TokenOutOfRange { .. })));
    let too_long = vec![1; model.max_sequence_len()];
    assert!(matches!(model.append(seq, &too_long), Err(ModelError::ContextFull { .. })));
    assert_eq!(model.sequence_len(seq).unwrap(), 2);
    assert_eq!(model.logprobs(seq).unwrap(), before.as_slice());

    model.drop_sequence(seq).unwrap();
    assert!(matches!(model.drop_sequence(seq), Err(ModelError::UnknownSequence { .. })));
    assert!(matches!(model.extend(&[(seq, 1)]), Err(ModelError::UnknownSequence { .. })));
    assert_eq!(model.live_sequences(), 0);
}

/// Padding rows (more output rows than tokens) are dropped; a vocabulary
/// that does not fit is refused.
#[test]
fn padding_rows_are_dropped_and_mismatched_vocabularies_refused() {
    let mut padded = Llama::random(&LlamaConfig::tiny(64), vocabulary(6), 9).unwrap();
    let seq = padded.start(&[1]).unwrap();
    let total: f64 = padded.logprobs(seq).unwrap().iter().map(|&lp| f64::from(lp).exp()).sum();
    assert!((total - 1.0).abs() < 1e-5);

    let err = Llama::random(&LlamaConfig::tiny(4), vocabulary(6), 9).unwrap_err();
    assert!(matches!(err, ModelError::VocabularyMismatch { model_rows: 4, tokenizer_len: 6, .. }), "{err}");
    let err = Llama::random(&LlamaConfig::tiny(6 + 1025), vocabulary(6), 9).unwrap_err();
    assert!(matches!(err, ModelError::VocabularyMismatch { .. }), "{err}");
}

/// Sampler tests enumerate these models and compare against fixed
/// expectations: the same seed must give the same model, different seeds
/// different ones, and the distributions must be far enough from uniform
/// for a biased sampler to show.
#[test]
fn synthetic_models_are_fixed_by_their_seed_and_peaked() {
    let run = |seed| {
        let mut model = model(6, seed);
        let seq = model.start(&[1, 2]).unwrap();
        model.logprobs(seq).unwrap().to_vec()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
    for seed in 0..8 {
        let probabilities: Vec<f32> = run(seed).iter().map(|lp| lp.exp()).collect();
        let max = probabilities.iter().copied().fold(0.0, f32::max);
        let min = probabilities.iter().copied().fold(1.0, f32::min);
        assert!(max > 2.0 / 6.0, "seed {seed}: {probabilities:?} is nearly uniform");
        assert!(min > 1e-6, "seed {seed}: {probabilities:?} starves a token");
    }
}

/// Pins one distribution of one synthetic model, so that a change to the
/// generator, the weight scales or the forward pass (which would silently
/// change every sampler test's expectations) is noticed here first.
#[test]
fn a_synthetic_model_is_pinned() {
    let mut model = model(5, 42);
    let seq = model.start(&[1, 2, 3]).unwrap();
    let probabilities: Vec<f32> = model.logprobs(seq).unwrap().iter().map(|lp| lp.exp()).collect();
    let expected = PINNED_PROBABILITIES;
    let worst = probabilities.iter().zip(expected).map(|(p, e)| (p - e).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{probabilities:?}");
}

const PINNED_PROBABILITIES: [f32; 5] = [0.297_976, 0.004_129_7, 0.077_358_6, 0.011_792_6, 0.608_743];

#[test]
fn unsupported_architectures_and_corrupt_files_name_the_file() {
    use candle_core::quantized::gguf_file;

    let dir = std::env::temp_dir().join(format!("trellis-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let falcon = dir.join("falcon.gguf");
    let mut file = std::fs::File::create(&falcon).unwrap();
    let architecture = gguf_file::Value::String("falcon".into());
    gguf_file::write(&mut file, &[("general.architecture", &architecture)], &[]).unwrap();
    drop(file);
    let err = Llama::load(&falcon).unwrap_err();
    assert!(matches!(err, ModelError::UnsupportedArchitecture { .. }), "{err}");
    assert!(err.to_string().contains("falcon.gguf"), "{err}");

    let garbage = dir.join("garbage.gguf");
    std::fs::write(&garbage, b"GGUF\x03\x00\x00\x00 not really").unwrap();
    let err = Llama::load(&garbage).unwrap_err();
    assert!(matches!(err, ModelError::CorruptFile { .. }), "{err}");
    assert!(err.to_string().contains("garbage.gguf"), "{err}");

    let missing = dir.join("missing.gguf");
    let err = Llama::load(&missing).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.gguf"), "{err}");

    let err = Llama::load(&dir).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
}
