//! Helpers shared by the unit tests of this module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file under the system temp directory holding `bytes`, removed on drop.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn new(name: &str, bytes: &[u8]) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "trellis-token-index-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        TempFile(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The fixture file `name` under `token_index/tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Texts for round trips: ASCII, accents, CJK, emoji, newlines, leading
/// and trailing spaces, digits, code.
pub(crate) const ROUND_TRIP_TEXTS: &[&str] = &[
    "",
    "Hello, world!",
    " leading space",
    "   three leading spaces and two trailing  ",
    "line one\nline two\r\n\n\ttabbed\n",
    "Café naïve résumé Ångström straße",
    "日本語のテキスト、中文文本，한국어",
    "emoji 🦀🚀👍🏽 👨‍👩‍👧 ✓",
    "Numbers 0 42 2024 3.14159 -17 1,000,000",
    "{\"key\": [1, 2, {\"nested\": null}], \"t\": true}",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    "<|im_start|> looks special but is ordinary text",
    "Ελληνικά русский עברית العربية हिन्दी",
];
