//! What the benchmark binaries share: llguidance's view of a Trellis
//! tokenizer, and the percentiles every table prints. The criterion
//! benchmarks live in `benches/`; the binaries in `src/bin/` (`peers`: the
//! shared workloads side by side; `maskbench`: the JSONSchemaBench dev set
//! by the MaskBench protocol).

use std::sync::Arc;

use llguidance::toktrie::{TokEnv, TokRxInfo, TokTrie, TokenizerEnv};
use trellis_token_index::{TokenKind, Tokenizer};

/// llguidance's tokenizer environment over Trellis's tokenizer (canonical
/// tokenization; llguidance uses it only for forced tokens, not for masks).
struct LlgEnv {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl TokenizerEnv for LlgEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        match std::str::from_utf8(s).ok().and_then(|text| self.tokenizer.encode(text).ok()) {
            Some(tokens) => tokens,
            None => self.trie.greedy_tokenize(s),
        }
    }
}

/// llguidance's token environment for `tokenizer`'s vocabulary: the same
/// ids and bytes, special tokens behind llguidance's marker byte so that
/// they never match text, unused ids empty.
pub fn llg_env(tokenizer: &Arc<Tokenizer>) -> TokEnv {
    let vocabulary = tokenizer.vocabulary();
    let words: Vec<Vec<u8>> = vocabulary
        .iter()
        .map(|(_, bytes, kind)| match kind {
            TokenKind::Normal | TokenKind::ByteFallback => bytes.to_vec(),
            TokenKind::Special => {
                let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                w.extend_from_slice(bytes);
                w
            }
            TokenKind::Unused => Vec::new(),
        })
        .collect();
    let eos = vocabulary.eos_tokens();
    let info = TokRxInfo::new(words.len() as u32, eos[0]);
    let trie = TokTrie::from(&info, &words).with_eos_tokens(eos);
    Arc::new(LlgEnv { trie, tokenizer: tokenizer.clone() })
}

/// The `p`-quantile (0 < p ≤ 1, nearest rank) of sorted nanoseconds, in
/// microseconds; NaN when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// Microseconds as a table shows them: three significant figures or so,
/// `-` for none.
pub fn fmt_us(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
