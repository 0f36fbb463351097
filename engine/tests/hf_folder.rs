//! The Hugging Face folder loader (`config.json`, `tokenizer.json`,
//! `*.safetensors`), end to end, on tiny synthetic folders.
//!
//! Each test writes a folder under the system temp directory: the
//! byte-level BPE tokenizer fixture of `trellis-token-index`, a
//! `config.json` for a 2-layer model of width 32, and seeded random weights
//! under the tensor names Hugging Face checkpoints use. The folder is
//! loaded through [`Llama::load`] (what `trellis generate --model FOLDER`
//! calls) and its next-token log-probabilities are compared with
//! candle-transformers' own Llama and Qwen2 run on the same
//! `model.safetensors`. Bad folders must give an error that names the file,
//! never a panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::{Value, json};
use trellis_engine::model::{LanguageModel, Llama};
use trellis_token_index::{TokenId, Tokenizer};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../token_index/tests/fixtures/byte_level_bpe");
const HIDDEN: usize = 32;
const INTERMEDIATE: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
/// Log-probabilities of ours and candle's may differ by this much.
const TOLERANCE: f32 = 1e-4;
const PROMPT: [TokenId; 6] = [3, 71, 140, 12, 200, 262];
const NEXT: TokenId = 99;

/// Tokens in the fixture tokenizer (ids 0..=265; 264 is unused).
fn tokenizer_len() -> usize {
    let tokenizer = Tokenizer::from_tokenizer_json(&Path::new(FIXTURE).join("tokenizer.json")).unwrap();
    tokenizer.vocabulary().len()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Arch {
    Llama,
    Qwen2,
}

/// A model folder under the temp directory, removed when dropped.
struct Folder {
    path: PathBuf,
}

impl Folder {
    /// A fresh folder holding the tokenizer fixture (`tokenizer.json`,
    /// `tokenizer_config.json`, `generation_config.json`).
    fn new(name: &str) -> Folder {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("trellis-hf-folder-{}-{id}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        for file in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            std::fs::copy(Path::new(FIXTURE).join(file), path.join(file)).unwrap();
        }
        Folder { path }
    }

    /// A complete folder: `config` as `config.json` and `weights` as
    /// `model.safetensors`.
    fn with_model(name: &str, config: &Value, weights: &HashMap<String, Tensor>) -> Folder {
        let folder = Folder::new(name);
        folder.write_config(config);
        folder.write_weights("model.safetensors", weights);
        folder
    }

    fn write_config(&self, config: &Value) {
        std::fs::write(self.path.join("config.json"), serde_json::to_string_pretty(config).unwrap()).unwrap();
    }

    fn write_weights(&self, file: &str, weights: &HashMap<String, Tensor>) {
        candle_core::safetensors::save(weights, self.path.join(file)).unwrap();
    }

    /// The `Display` of the error loading this folder gives; panics if it
    /// loads.
    fn load_error(&self) -> String {
        match Llama::load(&self.path) {
            Ok(model) => panic!("{} loaded: {model:?}", self.path.display()),
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `config.json` of a tiny model, with every field candle-transformers'
/// configs need (so the same file configures the oracle).
fn config_json(arch: Arch, vocab_size: usize, tied: bool) -> Value {
    let mut config = json!({
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": vocab_size,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "torch_dtype": "float32",
    });
    let extra = match arch {
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "rope_theta": 10000.0,
            "attention_bias": false,
            "mlp_bias": false,
        }),
        Arch::Qwen2 => json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "rope_theta": 1000000.0,
            "sliding_window": 128,
            "max_window_layers": LAYERS,
            "use_sliding_window": false,
        }),
    };
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    config
}

/// splitmix64: the same weights on every machine.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform on [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `offset + scale · U[-1, 1)` in every entry.
    fn tensor(&mut self, shape: &[usize], scale: f32, offset: f32) -> Tensor {
        let len = shape.iter().product();
        let data: Vec<f32> = (0..len).map(|_| offset + scale * self.uniform()).collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    /// A `(rows, columns)` projection with unit-variance outputs.
    fn matrix(&mut self, rows: usize, columns: usize) -> Tensor {
        self.tensor(&[rows, columns], (3.0 / columns as f32).sqrt(), 0.0)
    }
}

/// Seeded random weights under Hugging Face's tensor names. Without
/// `tied`, the output matrix is `lm_head.weight` of its own; Qwen2 gets
/// Q/K/V biases.
fn weights(arch: Arch, vocab_rows: usize, tied: bool, seed: u64) -> HashMap<String, Tensor> {
    let mut rng = Rng(seed);
    let mut w = HashMap::new();
    w.insert("model.embed_tokens.weight".to_string(), rng.tensor(&[vocab_rows, HIDDEN], 1.0, 0.0));
    if !tied {
        w.insert("lm_head.weight".to_string(), rng.matrix(vocab_rows, HIDDEN));
    }
    w.insert("model.norm.weight".to_string(), rng.tensor(&[HIDDEN], 0.2, 1.0));
    let q_out = HEADS * HEAD_DIM;
    let kv_out = KV_HEADS * HEAD_DIM;
    for l in 0..LAYERS {
        let mut put = |name: &str, tensor: Tensor| w.insert(format!("model.layers.{l}.{name}"), tensor);
        put("input_layernorm.weight", rng.tensor(&[HIDDEN], 0.2, 1.0));
        put("self_attn.q_proj.weight", rng.matrix(q_out, HIDDEN));
        put("self_attn.k_proj.weight", rng.matrix(kv_out, HIDDEN));
        put("self_attn.v_proj.weight", rng.matrix(kv_out, HIDDEN));
        put("self_attn.o_proj.weight", rng.matrix(HIDDEN, q_out));
        put("post_attention_layernorm.weight", rng.tensor(&[HIDDEN], 0.2, 1.0));
        put("mlp.gate_proj.weight", rng.matrix(INTERMEDIATE, HIDDEN));
        put("mlp.up_proj.weight", rng.matrix(INTERMEDIATE, HIDDEN));
        put("mlp.down_proj.weight", rng.matrix(HIDDEN, INTERMEDIATE));
        if arch == Arch::Qwen2 {
            put("self_attn.q_proj.bias", rng.tensor(&[q_out], 0.5, 0.0));
            put("self_attn.k_proj.bias", rng.tensor(&[kv_out], 0.5, 0.0));
            put("self_attn.v_proj.bias", rng.tensor(&[kv_out], 0.5, 0.0));
        }
    }
    w
}

/// Every tensor converted to `dtype`, as checkpoints store them.
fn with_dtype(weights: &HashMap<String, Tensor>, dtype: DType) -> HashMap<String, Tensor> {
    weights.iter().map(|(name, t)| (name.clone(), t.to_dtype(dtype).unwrap())).collect()
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&x| f64::from(x - max).exp()).sum();
    let log_norm = f64::from(max) + sum.ln();
    logits.iter().map(|&x| (f64::from(x) - log_norm) as f32).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Ours: the log-probabilities after `PROMPT` and after `PROMPT + NEXT`
/// (the second through a batched decode step).
fn trellis_logprobs(dir: &Path) -> [Vec<f32>; 2] {
    let mut model = Llama::load(dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    assert_eq!(model.source(), dir);
    assert_eq!(model.tokenizer().expect("a folder model has its tokenizer").vocabulary().len(), tokenizer_len());
    let seq = model.start(&PROMPT).unwrap();
    let first = model.logprobs(seq).unwrap().to_vec();
    model.extend(&[(seq, NEXT)]).unwrap();
    let second = model.logprobs(seq).unwrap().to_vec();
    [first, second]
}

/// The oracle's tensors: the folder's `model.safetensors`, read as `f32`.
fn var_builder(dir: &Path) -> VarBuilder<'static> {
    let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

fn read_config<T: serde::de::DeserializeOwned>(dir: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

/// candle-transformers' Llama on the same folder, normalised over the
/// tokenizer's `vocab_len` tokens.
fn candle_llama_logprobs(dir: &Path, vocab_len: usize) -> [Vec<f32>; 2] {
    use candle_transformers::models::llama;
    let config = read_config::<llama::LlamaConfig>(dir).into_config(false);
    let model = llama::Llama::load(var_builder(dir), &config).unwrap();
    let mut cache = llama::Cache::new(true, DType::F32, &config, &Device::Cpu).unwrap();
    let mut run = |tokens: &[TokenId], position: usize| {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = model.forward(&input, position, &mut cache).unwrap().flatten_all().unwrap();
        log_softmax(&logits.to_vec1::<f32>().unwrap()[..vocab_len])
    };
    [run(&PROMPT, 0), run(&[NEXT], PROMPT.len())]
}

/// candle-transformers' Qwen2 on the same folder, normalised over the
/// tokenizer's `vocab_len` tokens.
fn candle_qwen2_logprobs(dir: &Path, vocab_len: usize) -> [Vec<f32>; 2] {
    use candle_transformers::models::qwen2;
    let config = read_config::<qwen2::Config>(dir);
    let mut model = qwen2::ModelForCausalLM::new(&config, var_builder(dir)).unwrap();
    let mut run = |tokens: &[TokenId], position: usize| {
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = model.forward(&input, position).unwrap().flatten_all().unwrap();
        log_softmax(&logits.to_vec1::<f32>().unwrap()[..vocab_len])
    };
    [run(&PROMPT, 0), run(&[NEXT], PROMPT.len())]
}

/// Loads `folder` with both implementations and compares.
fn assert_matches_candle(folder: &Folder, arch: Arch) {
    let vocab_len = tokenizer_len();
    let ours = trellis_logprobs(&folder.path);
    let theirs = match arch {
        Arch::Llama => candle_llama_logprobs(&folder.path, vocab_len),
        Arch::Qwen2 => candle_qwen2_logprobs(&folder.path, vocab_len),
    };
    for (step, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(ours.len(), vocab_len);
        let difference = max_difference(ours, theirs);
        assert!(difference < TOLERANCE, "{arch:?}, step {step}: log-probabilities differ by {difference}");
        // A comparison of near-uniform distributions would prove little.
        let spread =
            ours.iter().copied().fold(f32::NEG_INFINITY, f32::max) - ours.iter().copied().fold(f32::INFINITY, f32::min);
        assert!(spread > 2.0, "{arch:?}, step {step}: log-probabilities span only {spread}");
    }
    assert!(max_difference(&ours[0], &ours[1]) > 0.1, "the appended token changed nothing");
}

#[test]
fn llama_folder_matches_candle_transformers() {
    let vocab = tokenizer_len();
    let folder =
        Folder::with_model("llama", &config_json(Arch::Llama, vocab, false), &weights(Arch::Llama, vocab, false, 1));
    let model = Llama::load(&folder.path).unwrap();
    let config = model.config();
    assert_eq!(
        (config.hidden_size, config.layers, config.heads, config.kv_heads, config.head_dim),
        (HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM)
    );
    assert_eq!(config.vocab_rows, vocab);
    assert!(!config.attention_bias && !config.tie_word_embeddings);
    drop(model);
    assert_matches_candle(&folder, Arch::Llama);
}

#[test]
fn llama_folder_with_tied_embeddings_and_llama3_rope_scaling_matches_candle_transformers() {
    let vocab = tokenizer_len();
    let mut config = config_json(Arch::Llama, vocab, true);
    // With head_dim 8 and θ = 10⁴ the wavelengths are 6.3, 63, 628 and
    // 6283 positions: one kept, one interpolated, two stretched.
    config["rope_scaling"] = json!({
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    });
    // bf16 on disk, as most checkpoints ship: both sides convert to f32.
    let weights = with_dtype(&weights(Arch::Llama, vocab, true, 2), DType::BF16);
    let folder = Folder::with_model("llama-tied", &config, &weights);
    assert!(Llama::load(&folder.path).unwrap().config().rope_scaling.is_some());
    assert_matches_candle(&folder, Arch::Llama);
}

#[test]
fn qwen2_folder_with_biases_matches_candle_transformers() {
    let vocab = tokenizer_len();
    let folder =
        Folder::with_model("qwen2", &config_json(Arch::Qwen2, vocab, false), &weights(Arch::Qwen2, vocab, false, 3));
    assert!(Llama::load(&folder.path).unwrap().config().attention_bias);
    assert_matches_candle(&folder, Arch::Qwen2);
}

#[test]
fn qwen2_folder_with_padded_tied_embeddings_matches_candle_transformers() {
    // Qwen2.5 pads its embedding table past the tokenizer (151,936 rows for
    // 151,665 tokens) and ties it to the output: the padding rows are
    // dropped before normalising.
    let rows = tokenizer_len() + 22;
    let weights = with_dtype(&weights(Arch::Qwen2, rows, true, 4), DType::BF16);
    let folder = Folder::with_model("qwen2-padded", &config_json(Arch::Qwen2, rows, true), &weights);
    let model = Llama::load(&folder.path).unwrap();
    assert_eq!(model.config().vocab_rows, rows);
    assert_eq!(model.vocabulary().len(), tokenizer_len());
    drop(model);
    assert_matches_candle(&folder, Arch::Qwen2);
}

#[test]
fn sharded_weights_are_read_through_their_index() {
    let vocab = tokenizer_len();
    let all = weights(Arch::Llama, vocab, false, 5);
    let folder = Folder::new("sharded");
    folder.write_config(&config_json(Arch::Llama, vocab, false));
    let (first, second): (HashMap<_, _>, HashMap<_, _>) =
        all.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(name, _)| name.contains("layers.0."));
    folder.write_weights("model-00001-of-00002.safetensors", &first);
    folder.write_weights("model-00002-of-00002.safetensors", &second);
    let mut weight_map = serde_json::Map::new();
    for name in first.keys() {
        weight_map.insert(name.clone(), json!("model-00001-of-00002.safetensors"));
    }
    for name in second.keys() {
        weight_map.insert(name.clone(), json!("model-00002-of-00002.safetensors"));
    }
    let index = json!({ "metadata": { "total_size": 0 }, "weight_map": weight_map });
    std::fs::write(folder.path.join("model.safetensors.index.json"), index.to_string()).unwrap();
    // Mistral's repositories also hold `consolidated.safetensors`, the same
    // weights under other names: the index says it is not part of the model.
    std::fs::write(folder.path.join("consolidated.safetensors"), b"not read").unwrap();
    let ours = trellis_logprobs(&folder.path);

    // The same weights in one file give the same numbers.
    let single = Folder::with_model("unsharded", &config_json(Arch::Llama, vocab, false), &all);
    for (ours, single) in ours.iter().zip(&trellis_logprobs(&single.path)) {
        assert!(max_difference(ours, single) < 1e-6);
    }
}

#[test]
fn a_folder_without_config_json_is_refused_naming_it() {
    let vocab = tokenizer_len();
    let folder = Folder::new("no-config");
    folder.write_weights("model.safetensors", &weights(Arch::Llama, vocab, false, 6));
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.starts_with("cannot read"), "{error}");
}

#[test]
fn an_unsupported_architecture_is_refused_naming_config_json() {
    let vocab = tokenizer_len();
    let mut config = config_json(Arch::Llama, vocab, false);
    config["model_type"] = json!("gpt2");
    let folder = Folder::with_model("gpt2", &config, &weights(Arch::Llama, vocab, false, 7));
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.contains("unsupported architecture `gpt2`"), "{error}");
    assert!(error.contains("llama, mistral, qwen2"), "{error}");
}

#[test]
fn a_malformed_config_is_refused_naming_config_json() {
    let vocab = tokenizer_len();
    let mut config = config_json(Arch::Llama, vocab, false);
    config.as_object_mut().unwrap().remove("hidden_size");
    let folder = Folder::with_model("no-hidden-size", &config, &weights(Arch::Llama, vocab, false, 8));
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.contains("hidden_size"), "{error}");

    // Sizes that parse but do not fit together: 4 query heads over 3 KV heads.
    let mut config = config_json(Arch::Llama, vocab, false);
    config["num_key_value_heads"] = json!(3);
    folder.write_config(&config);
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.contains("3 KV heads"), "{error}");

    // Llama's `attention_bias` biases the output projection too, which
    // this loader does not run: refused rather than silently dropped.
    let mut config = config_json(Arch::Llama, vocab, false);
    config["attention_bias"] = json!(true);
    folder.write_config(&config);
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.contains("`attention_bias`"), "{error}");
}

#[test]
fn a_missing_tensor_is_refused_naming_it_and_the_file() {
    let vocab = tokenizer_len();
    let mut weights = weights(Arch::Llama, vocab, false, 9);
    weights.remove("model.layers.1.mlp.down_proj.weight");
    let folder = Folder::with_model("missing-tensor", &config_json(Arch::Llama, vocab, false), &weights);
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("model.safetensors").display().to_string()), "{error}");
    assert!(error.contains("missing tensor `model.layers.1.mlp.down_proj.weight`"), "{error}");

    // Qwen2 needs its Q/K/V biases.
    let mut weights = self::weights(Arch::Qwen2, vocab, false, 9);
    weights.remove("model.layers.0.self_attn.k_proj.bias");
    let folder = Folder::with_model("missing-bias", &config_json(Arch::Qwen2, vocab, false), &weights);
    let error = folder.load_error();
    assert!(error.contains("missing tensor `model.layers.0.self_attn.k_proj.bias`"), "{error}");
}

#[test]
fn a_misshapen_or_corrupt_weight_file_is_refused_naming_it() {
    let vocab = tokenizer_len();
    let mut weights = weights(Arch::Llama, vocab, false, 10);
    weights.insert("model.layers.0.self_attn.k_proj.weight".into(), Rng(0).matrix(HIDDEN, HIDDEN));
    let folder = Folder::with_model("misshapen", &config_json(Arch::Llama, vocab, false), &weights);
    let error = folder.load_error();
    let file = folder.path.join("model.safetensors").display().to_string();
    assert!(error.contains(&file), "{error}");
    assert!(
        error.contains("`model.layers.0.self_attn.k_proj.weight` has shape [32, 32], expected [16, 32]"),
        "{error}"
    );

    // Truncated: the header promises more bytes than there are.
    let bytes = std::fs::read(folder.path.join("model.safetensors")).unwrap();
    std::fs::write(folder.path.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let error = folder.load_error();
    assert!(error.contains(&file), "{error}");
    assert!(error.contains("corrupt"), "{error}");

    // No weights at all.
    std::fs::remove_file(folder.path.join("model.safetensors")).unwrap();
    let error = folder.load_error();
    assert!(error.contains(".safetensors"), "{error}");
}

#[test]
fn a_vocabulary_mismatch_is_refused_naming_config_json() {
    let vocab = tokenizer_len();
    // Fewer rows than the tokenizer has tokens: no padding explains that.
    let rows = 200;
    let folder = Folder::with_model(
        "vocab-mismatch",
        &config_json(Arch::Llama, rows, false),
        &weights(Arch::Llama, rows, false, 11),
    );
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("config.json").display().to_string()), "{error}");
    assert!(error.contains(&format!("{rows} output rows but its tokenizer has {vocab} tokens")), "{error}");

    // A missing tokenizer names tokenizer.json.
    std::fs::remove_file(folder.path.join("tokenizer.json")).unwrap();
    let error = folder.load_error();
    assert!(error.contains(&folder.path.join("tokenizer.json").display().to_string()), "{error}");
}
