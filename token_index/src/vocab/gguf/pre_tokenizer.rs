//! The split rules behind `tokenizer.ggml.pre`.
//!
//! Byte-level BPE first splits text into pieces with regexes and only then
//! merges bytes inside each piece, so the same vocabulary and merges give
//! different ids under different split rules. GGUF names the rules; the
//! regexes here are llama.cpp's (`llama_vocab::impl::load`, the
//! `regex_exprs` table), applied in order, each to the pieces the previous
//! one left. An unknown name is an error rather than a guess: a wrong split
//! silently changes every prompt's ids.

/// The GPT-2 split (Radford et al. 2019), as Hugging Face's `ByteLevel`
/// pre-tokenizer writes it. llama.cpp's copy lacks the final `|\s+`, which
/// only matters for a single whitespace character before a non-space; such
/// a character is a piece of its own either way (llama.cpp keeps unmatched
/// text as a piece), so the two agree.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's split: case-insensitive contractions, numbers in groups of
/// up to three digits, newlines kept apart.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's split: as Llama 3's but one digit per piece.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// One digit per piece, then GPT-2's split: StarCoder's tokenizer, which
/// SmolLM and SmolLM2 reuse (their `tokenizer.json` says
/// `Digits(individual_digits) + ByteLevel`).
const DIGITS: &str = r"\p{N}";

/// A pre-tokenizer: its regexes, in order, and whether BPE first looks up a
/// whole piece in the vocabulary (`ignore_merges`, Llama 3).
pub(super) struct PreTokenizer {
    pub(super) regexes: &'static [&'static str],
    pub(super) ignore_merges: bool,
}

/// The names accepted, for error messages.
pub(super) const SUPPORTED: &str = "gpt-2, mpt, olmo, jais, starcoder, refact, command-r, smollm, \
     codeshell, exaone, minerva-7b, llama-bpe, llama3, llama-v3, qwen2, stablelm2";

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre = name`.
pub(super) fn for_name(name: &str) -> Option<PreTokenizer> {
    let (regexes, ignore_merges): (&'static [&'static str], bool) = match name {
        "gpt-2" | "mpt" | "olmo" | "jais" => (&[GPT2], false),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            (&[DIGITS, GPT2], false)
        }
        "llama-bpe" | "llama3" | "llama-v3" => (&[LLAMA3], true),
        "qwen2" | "stablelm2" => (&[QWEN2], false),
        _ => return None,
    };
    Some(PreTokenizer { regexes, ignore_merges })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer as _, SplitDelimiterBehavior};

    fn pieces(name: &str, text: &str) -> Vec<String> {
        let pre = for_name(name).expect("known name");
        let steps = pre
            .regexes
            .iter()
            .map(|r| {
                Split::new(SplitPattern::Regex((*r).to_string()), SplitDelimiterBehavior::Isolated, false)
                    .expect("regex compiles")
                    .into()
            })
            .collect();
        let mut s = PreTokenizedString::from(text);
        Sequence::new(steps).pre_tokenize(&mut s).expect("splits");
        s.get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(piece, _, _)| piece.to_string())
            .collect()
    }

    #[test]
    fn smollm_isolates_digits() {
        assert_eq!(
            pieces("smollm", "I'm 2024 years  old!\n"),
            ["I", "'m", " ", "2", "0", "2", "4", " years", " ", " old", "!", "\n"]
        );
    }

    #[test]
    fn gpt2_keeps_numbers_together() {
        assert_eq!(pieces("gpt-2", "in 2024, x"), ["in", " 2024", ",", " x"]);
    }

    #[test]
    fn llama3_groups_three_digits() {
        assert_eq!(pieces("llama-bpe", "12345 HELLO'S"), ["123", "45", " HELLO", "'S"]);
        assert_eq!(pieces("qwen2", "12 a"), ["1", "2", " a"]);
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(for_name("default").is_none());
        assert!(for_name("deepseek-llm").is_none());
    }
}
