//! Arbitrary text as a JSON Schema: no panic (malformed JSON, unsupported
//! keywords, contradictions and deep `$ref` chains are errors), errors
//! inside the text, and a compiled grammar's matcher consistent on the
//! input itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_grammars::Format;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::compile_and_run(data, Format::JsonSchema));
