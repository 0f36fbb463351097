//! `trellis synthesize` on the built binary, with the tiny synthetic model
//! (`trellis_tests::tiny_model`: milliseconds per candidate) and stub
//! commands in `sh`: its output lines, clusters, --stats, repairs, and that
//! hanging tests and bad input end in clear errors, never a crash.

mod common;

use std::path::PathBuf;

use common::{text, trellis};
use serde_json::Value;

/// A scratch folder with the tiny model and the files a test writes.
struct Scratch {
    dir: PathBuf,
    model: String,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("trellis-synthesize-{name}-{}", std::process::id()));
        let model = trellis_tests::tiny_model(&dir.join("model")).expect("the tiny model");
        Scratch { model: model.to_string_lossy().into_owned(), dir }
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("a scratch file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sums of 1, 2 and 3: what `sh` arithmetic can evaluate.
const SUMS: [&str; 4] = ["--grammar-text", r"[1-3](\+[1-3]){0,3}", "--format", "regex"];

fn sum(text: &str) -> i64 {
    text.split('+').map(|term| term.parse::<i64>().expect("a digit")).sum()
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    text(stdout).lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

#[test]
fn representatives_are_clustered_by_their_outputs() {
    let scratch = Scratch::new("clusters");
    let inputs = scratch.file("inputs.jsonl", "3\n\"4\"\n");
    let stats = scratch.dir.join("stats.json");
    let stats_arg = stats.to_string_lossy().into_owned();
    let mut args = vec!["synthesize", "--model", &scratch.model, "--prompt", "Add.", "--max-tokens", "8"];
    args.extend(SUMS);
    // The tiny model's sums are mostly alike: every one passes, so that
    // there is something to cluster (filtering is the next test's).
    args.extend(["--test", "cat > /dev/null"]);
    args.extend(["--inputs", &inputs, "--run", r#"echo $(( $(cat "$TRELLIS_CANDIDATE") % $(cat) ))"#]);
    args.extend(["--candidates", "40", "--clusters", "100", "--stats", &stats_arg, "--seed", "2"]);
    let out = trellis(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = lines(&out.stdout);
    assert!(!lines.is_empty());
    let mut members = Vec::new();
    let mut previous_size = u64::MAX;
    for (rank, line) in lines.iter().enumerate() {
        assert_eq!(line["rank"].as_u64(), Some(rank as u64 + 1));
        let size = line["cluster_size"].as_u64().expect("a size");
        assert!(size <= previous_size, "largest first: {lines:?}");
        previous_size = size;
        let value = line["text"].as_str().expect("text");
        let total = sum(value);
        let outputs: Vec<&str> =
            line["outputs"].as_array().expect("outputs").iter().filter_map(Value::as_str).collect();
        assert_eq!(outputs, [format!("{}\n", total % 3), format!("{}\n", total % 4)], "{line}");
        members.extend(line["members"].as_array().expect("members").iter().filter_map(Value::as_u64));
        assert_eq!(line["members"].as_array().map(Vec::len), Some(size as usize));
    }
    // Distinct clusters have distinct outputs.
    let behaviours: std::collections::HashSet<String> = lines.iter().map(|l| l["outputs"].to_string()).collect();
    assert_eq!(behaviours.len(), lines.len());
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("JSON stats");
    assert_eq!(stats["passed"].as_u64(), Some(members.len() as u64), "{stats}");
    assert_eq!(stats["passed"], stats["valid"], "{stats}");
    assert_eq!(stats["clusters"].as_u64(), Some(lines.len() as u64));
    assert_eq!(stats["candidates"].as_u64(), Some(40));
    for key in
        ["sampled", "valid", "repairs_tried", "repairs_succeeded", "test_seconds", "run_seconds", "model_seconds"]
    {
        assert!(stats.get(key).is_some(), "no {key} in {stats}");
    }
}

#[test]
fn repairs_are_counted_and_stop_at_the_first_pass() {
    let scratch = Scratch::new("repair");
    let template = scratch.file("template.txt", "{prompt} Not {candidate}: {error}.");
    let mut args = vec!["synthesize", "--model", &scratch.model, "--prompt", "Add.", "--max-tokens", "8"];
    args.extend(SUMS);
    // Passes one candidate in three or so.
    args.extend(["--test", r#"[ $(( $(cat) % 3 )) -eq 0 ] || { echo "not a multiple of 3" >&2; exit 1; }"#]);
    args.extend(["--candidates", "12", "--repair", "2", "--repair-template", &template, "--stats", "--seed", "5"]);
    let out = trellis(&args, b"");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let stats: Value = serde_json::from_str(stderr.lines().find(|l| l.starts_with('{')).expect("stats on stderr"))
        .expect("JSON stats");
    let count = |key: &str| stats[key].as_u64().unwrap_or_else(|| panic!("{key} in {stats}"));
    assert!(count("repairs_tried") > 0, "{stats}");
    assert_eq!(count("sampled"), 12 + count("repairs_tried"));
    assert_eq!(count("passed"), count("passed_first") + count("repairs_succeeded"));
    // Every failed candidate used both rounds; a repaired one stopped when it passed.
    assert!(count("repairs_tried") <= 2 * (12 - count("passed_first")));
    for line in lines(&out.stdout) {
        assert_eq!(sum(line["text"].as_str().expect("text")) % 3, 0, "{line}");
    }
}

#[test]
fn a_hanging_or_crashing_test_fails_the_candidates_not_trellis() {
    let scratch = Scratch::new("hang");
    for (test, needle) in [("sleep 30", "timed out after 0.2 s"), ("kill -SEGV $$", "killed by signal 11")] {
        let mut args = vec!["synthesize", "--model", &scratch.model, "--prompt", "Add.", "--max-tokens", "8"];
        args.extend(SUMS);
        args.extend(["--test", test, "--test-timeout", "0.2", "--candidates", "2"]);
        let out = trellis(&args, b"");
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("no candidate passed --test") && stderr.contains(needle), "{stderr}");
    }
}

#[test]
fn bad_settings_and_files_are_clear_errors() {
    let scratch = Scratch::new("bad");
    let malformed = scratch.file("bad.jsonl", "1\n{oops\n");
    let template = scratch.file("bad-template.txt", "{prompt} {eror}");
    let base = ["synthesize", "--model", scratch.model.as_str(), "--prompt", "x", "--test", "true"];
    for (extra, code, needle) in [
        (&["--candidates", "0"][..], 2, "--candidates must be between 1 and"),
        (&["--clusters", "0"][..], 2, "--clusters must be at least 1"),
        (&["--test-timeout", "1e300"][..], 2, "--test-timeout must be a positive number"),
        (&["--repair-template", &template][..], 2, "applies with --repair"),
        (&["--repair", "1", "--repair-template", &template][..], 2, "unknown placeholder {eror}"),
        (&["--repair", "99999"][..], 2, "at most 1000"),
        (&["--inputs", &malformed, "--run", "cat"][..], 2, "bad.jsonl:2: not a JSON value"),
        (&["--inputs", &malformed][..], 64, "--run"),
        (&["--sampler", "smc", "--temperature", "0.5"][..], 2, "masked decoding only"),
        (&["--block-candidates", "3"][..], 2, "--block-candidates applies to --sampler best-of-k only"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let out = trellis(&args, b"");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
    }
}
