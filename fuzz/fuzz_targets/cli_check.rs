//! `trellis check` on fuzzed flags and input: no panic, no hang, an exit
//! code from the table.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "cli_common.rs"]
mod cli_common;

fn dictionary() -> &'static Vec<String> {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<String> = [
            "--grammar", "--grammar-text", "--format", "gbnf", "lark", "regex", "json-schema", "--json-schema",
            "--json-schema-file", "--lenient", "--whitespace", "compact", "flexible", "--index", "--prefix", "--jsonl",
            "--explain", "--validate", "root ::= [0-9]+", "[a-z]{1,3}", r#"{"type": "integer"}"#, "{}", "-", "",
        ]
        .map(String::from)
        .to_vec();
        for name in ["json.gbnf", "json.lark", "cat.schema.json", "c-like.lark", "csv.gbnf", "json-object.gbnf"] {
            words.push(cli_common::library(name));
        }
        words
    })
}

fuzz_target!(|data: &[u8]| {
    cli_common::scratch();
    let words: Vec<&str> = dictionary().iter().map(String::as_str).collect();
    let (args, stdin) = cli_common::command_line(&["check"], &words, data);
    cli_common::run(&args, &stdin);
});
