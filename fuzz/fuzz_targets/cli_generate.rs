//! `trellis generate` on fuzzed flags, with a tiny model: no panic, no
//! hang, an exit code from the table. The model is the tiny synthetic one
//! of `trellis-tests` (milliseconds a run), so that what is fuzzed is the
//! flags' validation, the set-up, every sampler and the output formats.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "cli_common.rs"]
mod cli_common;

fn dictionary() -> &'static Vec<String> {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<String> = [
            "--prompt", "--prompt-file", "--messages", "--system", "--raw", "--grammar", "--grammar-text", "--format",
            "gbnf", "lark", "regex", "json-schema", "--json-schema", "--lenient", "--whitespace", "flexible",
            "--max-tokens", "--sampler", "masked", "rejection", "smc", "tsmc", "best-of-k", "--temperature", "--top-k",
            "--top-p", "--jump-forward", "--particles", "--ess-threshold", "--resampling", "multinomial", "residual",
            "--max-tries", "--candidates", "--block-tokens", "--reward", "--reward-weight", "--samples", "--output",
            "text", "json", "jsonl", "--stats", "stats.json", "--seed", "--memory-limit", "--quiet", "0", "1", "2",
            "8", "0.5", "-1", "[a-z]+", "(ab|c)*d", r#"{"type": "array", "items": {"type": "integer"}}"#, "-",
        ]
        .map(String::from)
        .to_vec();
        for name in ["json.gbnf", "json-object.gbnf", "cat.schema.json", "arithmetic.lark"] {
            words.push(cli_common::library(name));
        }
        words
    })
}

fuzz_target!(|data: &[u8]| {
    let model = cli_common::scratch().join("tiny-model");
    let model = model.to_string_lossy().into_owned();
    let words: Vec<&str> = dictionary().iter().map(String::as_str).collect();
    let (args, stdin) = cli_common::command_line(&["generate", "--model", &model], &words, data);
    cli_common::run(&args, &stdin);
});
