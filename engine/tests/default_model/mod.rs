//! The default model for the tests that run it.

use std::path::PathBuf;

use trellis_token_index::default_model_path;

/// The default model's path, or `None` when the tests are skipped on
/// purpose. Panics with the fix when the model is missing.
pub fn model_path() -> Option<PathBuf> {
    let path = default_model_path();
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("TRELLIS_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
        eprintln!("skipped: {} is missing and TRELLIS_SKIP_MODEL_TESTS=1", path.display());
        return None;
    }
    panic!(
        "the default model is missing at {}: run scripts/fetch-model.sh first \
         (or set TRELLIS_SKIP_MODEL_TESTS=1 to skip the tests that need it)",
        path.display()
    );
}
