//! Tests on the default model, SmolLM2-135M-Instruct (GGUF Q4_1).
//!
//! The model is found where `scripts/fetch-model.sh` puts it
//! (`trellis_engine::model::default_model_path`). When it is missing these tests **fail**, so a
//! CI run that forgot to fetch it cannot pass by testing nothing; set
//! `TRELLIS_SKIP_MODEL_TESTS=1` to skip them on purpose.
//!
//! One model is loaded per test binary and shared: loading takes about a
//! second, and the tests run the forward pass on a handful of tokens only,
//! so the whole file stays well under a minute on a 2-core CI machine.

use trellis_tests::default_model;

use std::fs::File;
use std::io::BufReader;
use std::sync::{Mutex, MutexGuard, OnceLock};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use trellis_engine::SeqId;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama, ModelError};
use trellis_token_index::TokenId;

/// The shared model. A test that fails while holding it poisons the lock;
/// the others still get the model (their own sequences are independent).
fn model() -> Option<MutexGuard<'static, Llama>> {
    static MODEL: OnceLock<Mutex<Llama>> = OnceLock::new();
    let path = default_model()?;
    let model = MODEL
        .get_or_init(|| Mutex::new(Llama::load(&path).unwrap_or_else(|e| panic!("loading the default model: {e}"))));
    Some(model.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

fn encode(model: &Llama, text: &str) -> Vec<TokenId> {
    model.tokenizer().expect("a loaded model has its tokenizer").encode(text).unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Half the L1 distance between two distributions given as log-probabilities.
fn total_variation(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| (f64::from(x).exp() - f64::from(y).exp()).abs()).sum::<f64>() / 2.0
}

fn argmax(logprobs: &[f32]) -> TokenId {
    let mut best = 0;
    for (i, &lp) in logprobs.iter().enumerate() {
        if lp > logprobs[best] {
            best = i;
        }
    }
    best as TokenId
}

fn drop_all(model: &mut Llama, seqs: &[SeqId]) {
    for &seq in seqs {
        model.drop_sequence(seq).unwrap();
    }
}

#[test]
fn hyperparameters_and_vocabulary_are_smollm2s() {
    let Some(model) = model() else { return };
    let config = model.config();
    assert_eq!(
        (config.layers, config.hidden_size, config.heads, config.kv_heads, config.head_dim),
        (30, 576, 9, 3, 64)
    );
    assert_eq!(config.vocab_rows, 49_152);
    assert!(config.tie_word_embeddings);
    let tokenizer = model.tokenizer().unwrap();
    assert!(std::sync::Arc::ptr_eq(tokenizer.vocabulary(), model.vocabulary()));
    assert_eq!(model.vocabulary().len(), 49_152);
    assert_eq!(model.vocabulary().eos_tokens(), &[2]);
}

/// Known ids from llama.cpp's own tokenizer on the same file
/// (token_index/tests/fixtures/smollm2_reference.json), and round trips.
#[test]
fn tokenizer_gives_known_ids_and_round_trips() {
    let Some(model) = model() else { return };
    let tokenizer = model.tokenizer().unwrap();
    let known: [(&str, &[TokenId]); 4] = [
        ("Hello, world!", &[19556, 28, 905, 17]),
        ("hello", &[28120]),
        (" the", &[260]),
        ("The quick brown fox jumps over the lazy dog.", &[504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30]),
    ];
    for (text, ids) in known {
        assert_eq!(tokenizer.encode(text).unwrap(), ids, "{text:?}");
    }
    for text in [
        "Write a haiku about rust.",
        "  two  spaces,\ttabs\nand newlines\r\n",
        "ünïcödé — ½ ² 日本語 🦀",
        "<|im_start|> is just text here",
        "{\"key\": [1, 2.5e-3, null]}",
    ] {
        let ids = tokenizer.encode(text).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), text.as_bytes(), "{text:?}");
    }
    // User text never forges a control token; template text does.
    assert!(!tokenizer.encode("<|im_start|>").unwrap().contains(&1));
    assert_eq!(tokenizer.encode_with_special("<|im_start|>user").unwrap()[0], 1);
}

#[test]
fn the_chat_template_comes_from_the_gguf_metadata() {
    let Some(model) = model() else { return };
    let tokenizer = model.tokenizer().unwrap();
    let template = ChatTemplate::for_tokenizer(tokenizer).unwrap().expect("SmolLM2-Instruct has a chat template");
    let prompt = template.render(&[ChatMessage::user("Write a haiku about rust.")], true).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWrite a haiku about rust.<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tokenizer.encode_with_special(&prompt).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|>");
    assert_eq!(ids.iter().filter(|&&id| id == 2).count(), 2, "two <|im_end|>");
}

/// The numerics oracle: candle-transformers' own quantized Llama, run on
/// the same file one token at a time, gives the same next-token
/// distributions as ours at every position of a 40-token prompt. A wrong
/// RoPE layout, norm or head grouping would still produce plausible text,
/// but not these distributions.
///
/// Why a total-variation bound and not 1e-5: both models quantize each
/// activation row to 8 bits before every matrix product (Q8_1, as
/// llama.cpp does), so a last-bit difference in an attention sum can flip
/// a rounding step and move a distribution by a few percent. On short
/// prompts the two agree to 1e-5; a pure-f64 evaluation of the same
/// weights differs from *both* by a total variation of up to 0.07.
#[test]
fn logprobs_match_candle_transformers_quantized_llama() {
    use candle_transformers::models::quantized_llama::ModelWeights;

    let Some(mut model) = model() else { return };
    let path = model.source().to_path_buf();
    let mut reader = BufReader::new(File::open(&path).unwrap());
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut oracle = ModelWeights::from_gguf(content, &mut reader, &Device::Cpu).unwrap();

    // Over 32 tokens: three cache blocks.
    let text = "The capital of France is Paris. The capital of Italy is Rome. \
                The capital of Spain is Madrid, the capital of Portugal is Lisbon, \
                and the capital of Germany is";
    let prompt = encode(&model, text);
    assert!(prompt.len() > 32, "{}", prompt.len());

    let seq = model.start(&prompt[..1]).unwrap();
    let mut worst = 0.0f64;
    for (position, &token) in prompt.iter().enumerate() {
        if position > 0 {
            model.extend(&[(seq, token)]).unwrap();
        }
        let input = Tensor::new(&[token], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = oracle.forward(&input, position).unwrap().squeeze(0).unwrap();
        let expected = candle_nn::ops::log_softmax(&logits, 0).unwrap().to_vec1::<f32>().unwrap();
        let ours = model.logprobs(seq).unwrap();
        worst = worst.max(total_variation(ours, &expected));
        let best = argmax(&expected) as usize;
        assert!(
            ours[best] > ours[argmax(ours) as usize] - 0.5,
            "position {position}: the oracle's top token {best} is far from ours"
        );
    }
    assert!(worst < 0.08, "worst total variation over the prompt: {worst}");
    // Prefill gives what token-by-token decoding gives.
    let whole = model.start(&prompt).unwrap();
    let difference = max_difference(model.logprobs(whole).unwrap(), model.logprobs(seq).unwrap());
    assert!(difference < 1e-3, "prefill vs decode: {difference}");
    drop_all(&mut model, &[seq, whole]);
}

/// SmolLM2-135M is small: asked in chat form for the capital of France it
/// rambles about Paris landmarks (candle-transformers' model does the
/// same), but it completes the plain sentence.
#[test]
fn greedy_decoding_completes_a_simple_fact() {
    let Some(mut model) = model() else { return };
    let tokenizer = model.tokenizer().unwrap().clone();
    let ids = tokenizer.encode("The capital of France is").unwrap();
    let seq = model.start(&ids).unwrap();
    let mut generated = Vec::new();
    for _ in 0..4 {
        let next = argmax(model.logprobs(seq).unwrap());
        generated.push(next);
        model.extend(&[(seq, next)]).unwrap();
    }
    let text = String::from_utf8_lossy(&tokenizer.decode(&generated).unwrap()).into_owned();
    assert!(text.starts_with(" Paris"), "{text:?}");
    drop_all(&mut model, &[seq]);
}

/// The batching test on the real model: prompts of different
/// lengths decoded together give what each gives alone.
#[test]
fn batched_decoding_matches_one_sequence_at_a_time() {
    let Some(mut model) = model() else { return };
    let prompts = ["Once upon a time", "def fibonacci(n):", "The three primary colours are"];
    let continuations: [&[TokenId]; 3] = [&[28, 665, 253], &[198, 268, 4], &[2069, 28, 2254]];
    let prompts: Vec<Vec<TokenId>> = prompts.iter().map(|p| encode(&model, p)).collect();

    let seqs: Vec<SeqId> = prompts.iter().map(|p| model.start(p).unwrap()).collect();
    let mut batched = Vec::new();
    for step in 0..3 {
        let batch: Vec<(SeqId, TokenId)> = seqs.iter().zip(&continuations).map(|(&s, c)| (s, c[step])).collect();
        model.extend(&batch).unwrap();
    }
    for &seq in &seqs {
        batched.push(model.logprobs(seq).unwrap().to_vec());
    }
    drop_all(&mut model, &seqs);

    for (i, prompt) in prompts.iter().enumerate() {
        let seq = model.start(prompt).unwrap();
        for &token in continuations[i] {
            model.extend(&[(seq, token)]).unwrap();
        }
        let alone = model.logprobs(seq).unwrap();
        let worst = max_difference(alone, &batched[i]);
        assert!(worst < 1e-3, "sequence {i}: max |Δ logprob| = {worst}");
        drop_all(&mut model, &[seq]);
    }
}

/// Forks continue exactly as the original; resampling by ancestor index
/// moves caches with their particles.
#[test]
fn forks_and_reordered_particles_continue_their_ancestors() {
    let Some(mut model) = model() else { return };
    let a = encode(&model, "Roses are red,");
    let b = encode(&model, "1, 2, 3,");
    let seq_a = model.start(&a).unwrap();
    let seq_b = model.start(&b).unwrap();
    let fork = model.fork(seq_a).unwrap();
    model.extend(&[(seq_a, 216)]).unwrap();
    model.extend(&[(fork, 216)]).unwrap();
    assert_eq!(model.logprobs(seq_a).unwrap(), model.logprobs(fork).unwrap());
    model.drop_sequence(fork).unwrap();

    // a + [216] and b: resample to [b, a, b].
    let particles = model.reorder(&[seq_a, seq_b], &[1, 0, 1]).unwrap();
    model.extend(&[(particles[0], 33), (particles[1], 33), (particles[2], 34)]).unwrap();
    let histories =
        [[b.clone(), vec![33]].concat(), [a.clone(), vec![216, 33]].concat(), [b.clone(), vec![34]].concat()];
    for (particle, history) in particles.iter().zip(&histories) {
        let reference = model.start(history).unwrap();
        let worst = max_difference(model.logprobs(*particle).unwrap(), model.logprobs(reference).unwrap());
        assert!(worst < 1e-3, "{history:?}: {worst}");
        model.drop_sequence(reference).unwrap();
    }
    drop_all(&mut model, &particles);
}

/// A file whose model has fewer output rows than its tokenizer has tokens
/// is refused, naming the file; so is a truncated file.
#[test]
fn mismatched_and_truncated_files_are_refused_with_their_name() {
    let Some(path) = default_model() else { return };
    let dir = std::env::temp_dir().join(format!("trellis-smollm2-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The real metadata (tokenizer included) with a token embedding of
    // 30,000 rows: 19,152 of SmolLM2's tokens would have no output row.
    let content = gguf_file::Content::read(&mut BufReader::new(File::open(&path).unwrap())).unwrap();
    let zeros = Tensor::zeros((30_000, 576), candle_core::DType::F32, &Device::Cpu).unwrap();
    let embedding = QTensor::quantize(&zeros, GgmlDType::Q4_0).unwrap();
    let mismatched = dir.join("mismatched.gguf");
    let mut out = File::create(&mismatched).unwrap();
    let metadata: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut out, &metadata, &[("token_embd.weight", &embedding)]).unwrap();
    drop(out);
    let err = Llama::load(&mismatched).unwrap_err();
    assert!(matches!(err, ModelError::VocabularyMismatch { model_rows: 30_000, tokenizer_len: 49_152, .. }), "{err}");
    assert!(err.to_string().contains("mismatched.gguf"), "{err}");

    // The first 20 MB of the real file: metadata intact, tensors cut off.
    let truncated = dir.join("truncated.gguf");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &bytes[..20 << 20]).unwrap();
    let err = Llama::load(&truncated).unwrap_err();
    assert!(matches!(err, ModelError::CorruptFile { .. }), "{err}");
    assert!(err.to_string().contains("truncated.gguf"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
}
