//! Models for tests: the default one, and a tiny synthetic one on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use trellis_engine::model::default_model_path;

/// The default model (SmolLM2-135M-Instruct, put in the cache by
/// `scripts/fetch-model.sh`) for the tests that need a real model file.
/// When it is missing the test fails, naming the fetch script, unless
/// `TRELLIS_SKIP_MODEL_TESTS=1` is set: then this returns `None` (with a
/// notice) and the test skips itself. Failing by default means a machine
/// without the model cannot pass by silently skipping; CI fetches the
/// model first.
pub fn default_model() -> Option<PathBuf> {
    let path = default_model_path();
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("TRELLIS_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
        eprintln!("skipped: the default model is not at {} and TRELLIS_SKIP_MODEL_TESTS=1", path.display());
        return None;
    }
    panic!(
        "the default model is not at {}: run scripts/fetch-model.sh first \
         (or set TRELLIS_SKIP_MODEL_TESTS=1 to skip the tests that need it)",
        path.display()
    );
}

/// The byte-level BPE tokenizer fixture of `trellis-token-index` (266
/// tokens, a ChatML-like template, `<|im_end|>` as EOS).
const TOKENIZER_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../token_index/tests/fixtures/byte_level_bpe");

/// Writes a tiny Llama as a Hugging Face folder under `dir` (created if
/// needed) and returns it: the tokenizer fixture, a 2-layer model of width
/// 32 with seeded random weights, a 1024-token context. It loads in
/// milliseconds and steps in microseconds, so that command-line tests and
/// fuzz targets can run `trellis generate --model DIR` end to end without
/// the default model. Its text is gibberish.
pub fn tiny_model(dir: &Path) -> std::io::Result<PathBuf> {
    const HIDDEN: usize = 32;
    const INTERMEDIATE: usize = 64;
    const LAYERS: usize = 2;
    const HEADS: usize = 4;
    const KV_HEADS: usize = 2;
    const VOCAB: usize = 266;
    std::fs::create_dir_all(dir)?;
    for file in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        std::fs::copy(Path::new(TOKENIZER_FIXTURE).join(file), dir.join(file))?;
    }
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": true,
        "hidden_act": "silu",
        "torch_dtype": "float32",
    });
    std::fs::write(dir.join("config.json"), config.to_string())?;

    let mut state = 0x5EED_u64;
    let mut tensor = |shape: &[usize], scale: f32, offset: f32| {
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| {
                // splitmix64, to a uniform value in [-scale, scale].
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let unit = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
                offset + scale * (2.0 * unit - 1.0)
            })
            .collect();
        candle_core::Tensor::from_vec(values, shape, &candle_core::Device::Cpu)
    };
    let head_dim = HIDDEN / HEADS;
    let mut weights = HashMap::new();
    let mut tensors = || -> candle_core::Result<()> {
        weights.insert("model.embed_tokens.weight".to_string(), tensor(&[VOCAB, HIDDEN], 1.0, 0.0)?);
        weights.insert("model.norm.weight".to_string(), tensor(&[HIDDEN], 0.2, 1.0)?);
        let fan = |inputs: usize| 1.0 / (inputs as f32).sqrt();
        for l in 0..LAYERS {
            let name = |rest: &str| format!("model.layers.{l}.{rest}");
            weights.insert(name("input_layernorm.weight"), tensor(&[HIDDEN], 0.2, 1.0)?);
            weights.insert(name("self_attn.q_proj.weight"), tensor(&[HEADS * head_dim, HIDDEN], fan(HIDDEN), 0.0)?);
            weights.insert(name("self_attn.k_proj.weight"), tensor(&[KV_HEADS * head_dim, HIDDEN], fan(HIDDEN), 0.0)?);
            weights.insert(name("self_attn.v_proj.weight"), tensor(&[KV_HEADS * head_dim, HIDDEN], fan(HIDDEN), 0.0)?);
            weights.insert(name("self_attn.o_proj.weight"), tensor(&[HIDDEN, HEADS * head_dim], fan(HIDDEN), 0.0)?);
            weights.insert(name("post_attention_layernorm.weight"), tensor(&[HIDDEN], 0.2, 1.0)?);
            weights.insert(name("mlp.gate_proj.weight"), tensor(&[INTERMEDIATE, HIDDEN], fan(HIDDEN), 0.0)?);
            weights.insert(name("mlp.up_proj.weight"), tensor(&[INTERMEDIATE, HIDDEN], fan(HIDDEN), 0.0)?);
            weights.insert(name("mlp.down_proj.weight"), tensor(&[HIDDEN, INTERMEDIATE], fan(INTERMEDIATE), 0.0)?);
        }
        Ok(())
    };
    tensors().map_err(std::io::Error::other)?;
    candle_core::safetensors::save(&weights, dir.join("model.safetensors")).map_err(std::io::Error::other)?;
    Ok(dir.to_path_buf())
}
