//! Shared helpers for the integration tests of every crate: the bundled
//! grammars, the default model, a small seeded random number generator,
//! random walks through a grammar's viable prefixes, and the compact form
//! of a JSON document.

use std::path::Path;

use trellis_grammars::{CompiledGrammar, Config, Format, Matcher};

/// Every grammar of `grammars/library/`, compiled, with its file name, in
/// file-name order.
pub fn library_grammars() -> Vec<(String, CompiledGrammar)> {
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grammars/library");
    let mut paths: Vec<_> = std::fs::read_dir(&library)
        .expect("grammars/library")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| Format::from_path(path).is_some())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let grammar = CompiledGrammar::from_file(path, None, &Config::default()).expect("bundled grammar");
            (path.file_name().expect("name").to_string_lossy().into_owned(), grammar)
        })
        .collect()
}

/// The compact form of a JSON document, as the JSON Schema grammars'
/// compact whitespace policy writes it: `", "` and `": "`, keys in the
/// order written.
pub fn compact_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(compact_json).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!("{}: {}", Value::String(key.clone()), compact_json(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(feature = "model")]
mod model;
#[cfg(feature = "model")]
pub use model::{default_model, default_model_path, tiny_model};

/// SplitMix64: a few lines of deterministic randomness driven by a
/// proptest-chosen seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The bytes that may come next.
pub fn viable_bytes(matcher: &Matcher) -> Vec<u8> {
    (0..=255u8).filter(|&byte| matcher.accepts_prefix(&[byte])).collect()
}

/// A random walk of up to `max_len` viable bytes from the start of
/// `grammar`, each step a uniformly chosen viable byte; at a complete
/// string it stops with probability `1 / stop_one_in`. Panics at a dead end
/// (a viable prefix with no next byte that is not complete). Returns the
/// matcher after the walk and the bytes.
pub fn random_walk(grammar: &CompiledGrammar, rng: &mut Rng, max_len: usize, stop_one_in: usize) -> (Matcher, Vec<u8>) {
    let mut matcher = grammar.matcher();
    let mut text = Vec::new();
    while text.len() < max_len {
        let next = viable_bytes(&matcher);
        if next.is_empty() {
            assert!(matcher.is_complete(), "dead end after {:?}", String::from_utf8_lossy(&text));
            break;
        }
        if matcher.is_complete() && rng.below(stop_one_in) == 0 {
            break;
        }
        let byte = next[rng.below(next.len())];
        matcher.advance(&[byte]).expect("a viable byte is accepted");
        text.push(byte);
    }
    (matcher, text)
}
