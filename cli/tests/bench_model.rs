//! `trellis bench-model`: the settings are checked before the model is
//! loaded, and a run prints the figures it promises.

mod common;

use common::{text, trellis};
use trellis_tests::default_model;

#[test]
fn absurd_settings_are_refused_before_loading() {
    for args in [
        &["bench-model", "--batch", "0", "--model", "/nonexistent.gguf"][..],
        &["bench-model", "--new-tokens", "0", "--model", "/nonexistent.gguf"],
        &["bench-model", "--repeat", "0", "--model", "/nonexistent.gguf"],
    ] {
        let out = trellis(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("at least 1"), "{args:?}: {}", text(&out.stderr));
    }
    let missing = trellis(&["bench-model", "--model", "/nonexistent.gguf"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent.gguf"), "{}", text(&missing.stderr));
}

#[test]
fn a_short_run_reports_prefill_decode_and_memory() {
    let Some(model) = default_model() else { return };
    let out = trellis(
        &[
            "bench-model",
            "--model",
            model.to_str().expect("utf-8 path"),
            "--batch",
            "1,2",
            "--prompt-tokens",
            "8",
            "--new-tokens",
            "2",
            "--threads",
            "1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(report["prefill_tok_s"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    let decode = report["decode"].as_array().expect("decode figures");
    assert_eq!(decode.iter().map(|d| d["batch"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
    assert!(decode.iter().all(|d| d["decode_tok_s"].as_f64().is_some_and(|v| v > 0.0)), "{report}");
    assert_eq!(report["threads"], 1);
}
