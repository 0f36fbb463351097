//! The `trellis generate` samplers' contract: flags, output lines, --stats,
//! --verify and exit codes, run on the built binary.
//!
//! Tests that run the default model fail when it is missing unless
//! `TRELLIS_SKIP_MODEL_TESTS=1` (as engine/tests/smollm2.rs); they generate
//! a handful of tokens only.

mod common;

use common::{text, trellis};
use trellis_tests::{default_model, default_model_path};

fn have_model() -> bool {
    default_model().is_some()
}

const NUMBER: [&str; 6] =
    ["--grammar-text", "[0-9]{3}", "--format", "regex", "--prompt", "Pick a number between 100 and 999."];

#[test]
fn options_that_do_not_fit_the_sampler_are_refused() {
    let tempered = trellis(&["generate", "--sampler", "smc", "--temperature", "0.5", "--prompt", "x"], b"");
    assert_eq!(tempered.status.code(), Some(2), "{}", text(&tempered.stderr));
    assert!(text(&tempered.stderr).contains("masked decoding only"), "{}", text(&tempered.stderr));
    let no_reward = trellis(&["generate", "--sampler", "tsmc", "--prompt", "x"], b"");
    assert_eq!(no_reward.status.code(), Some(2));
    assert!(text(&no_reward.stderr).contains("--reward"), "{}", text(&no_reward.stderr));
    // A value clap cannot parse is a usage error (exit 64, the table in
    // cli/src/error.rs), apart from invalid settings (exit 2).
    let unknown = trellis(&["generate", "--sampler", "beam", "--prompt", "x"], b"");
    assert_eq!(unknown.status.code(), Some(64));
}

#[test]
fn smc_prints_one_json_object_per_sample_and_writes_stats() {
    if !have_model() {
        return;
    }
    let stats = std::env::temp_dir().join(format!("trellis-generate-stats-{}.json", std::process::id()));
    let stats_arg = stats.to_string_lossy().into_owned();
    let mut args = vec!["generate", "--sampler", "smc", "--particles", "4", "--max-tokens", "6", "--samples", "2"];
    args.extend(["--stats", &stats_arg, "--output", "jsonl"]);
    args.extend(NUMBER);
    let out = trellis(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        let value = object["text"].as_str().expect("text");
        assert!(value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()), "{value:?}");
    }
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("the stats file")).expect("JSON stats");
    let _ =
        std::fs::remove_file(std::env::temp_dir().join(format!("trellis-generate-stats-{}.json", std::process::id())));
    for key in ["log_z", "acceptance_rate", "ess", "resamples", "model_calls", "verifier_calls", "timings"] {
        assert!(stats.get(key).is_some(), "no {key} in {stats}");
    }
    assert!(stats["log_z"].as_f64().is_some_and(|z| z <= 0.0), "{stats}");
    assert_eq!(stats["ess"].as_array().map(Vec::len), Some(2));
}

#[test]
fn rejection_with_a_verifier_only_prints_what_it_accepts() {
    if !have_model() {
        return;
    }
    let mut args = vec!["generate", "--sampler", "rejection", "--max-tokens", "6", "--max-tries", "400"];
    args.extend(["--verify", "grep -qv 0"]);
    args.extend(NUMBER);
    let out = trellis(&args, b"");
    match out.status.code() {
        Some(0) => {
            let line = text(&out.stdout);
            let line = line.trim_end();
            assert!(line.len() == 3 && !line.contains('0'), "{line:?}");
        }
        // The budget ran out: a clear error, nothing on stdout.
        Some(1) => {
            assert!(text(&out.stderr).contains("rejection sampling accepted"), "{}", text(&out.stderr));
            assert!(out.stdout.is_empty());
        }
        code => panic!("exit {code:?}: {}", text(&out.stderr)),
    }
}

#[test]
fn generate_takes_an_index_compiled_for_the_model_and_refuses_another() {
    if !have_model() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trellis-generate-index-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let model = default_model_path();
    let model = model.to_str().expect("utf-8 path");
    for (name, tokenizer) in [("model.idx", model), ("r50k.idx", "tiktoken:r50k_base")] {
        let output = dir.join(name);
        let output = output.to_str().expect("utf-8 path");
        let compiled = trellis(
            &["compile", "--grammar-text", "[0-9]{3}", "--format", "regex", "--tokenizer", tokenizer, "-o", output],
            b"",
        );
        assert_eq!(compiled.status.code(), Some(0), "{}", text(&compiled.stderr));
    }
    let index = dir.join("model.idx");
    let prompt = ["--prompt", "Pick a number between 100 and 999."];
    let mut args = vec!["generate", "--max-tokens", "6", "--index", index.to_str().expect("utf-8")];
    args.extend(prompt);
    let out = trellis(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sample = text(&out.stdout);
    let sample = sample.trim_end();
    assert!(sample.len() == 3 && sample.bytes().all(|b| b.is_ascii_digit()), "{sample:?}");

    let other = dir.join("r50k.idx");
    let mut args = vec!["generate", "--max-tokens", "6", "--index", other.to_str().expect("utf-8")];
    args.extend(prompt);
    let refused = trellis(&args, b"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("vocabulary"), "{}", text(&refused.stderr));
    assert!(refused.stdout.is_empty());
}
