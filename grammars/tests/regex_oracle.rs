//! Regex constraints agree with the `regex` crate on membership, and prefix
//! viability agrees with a brute-force search on small regexes.

use proptest::prelude::*;
use trellis_grammars::{CompiledGrammar, Format};

fn oracle(pattern: &str) -> regex::Regex {
    regex::Regex::new(&format!(r"\A(?:{pattern})\z")).unwrap()
}

#[test]
fn shared_workload_regexes_accept_their_documents() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/workloads");
    let docs = std::fs::read_to_string(format!("{root}/regex-docs.jsonl")).unwrap();
    for line in docs.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = format!("{root}/{}", doc["regex"].as_str().unwrap());
        let text = doc["text"].as_str().unwrap();
        let pattern = std::fs::read_to_string(&path).unwrap();
        let grammar = CompiledGrammar::new(&pattern, Format::Regex).unwrap();
        assert!(grammar.accepts(text.as_bytes()), "{path}: {text:?}");
        assert!(oracle(pattern.trim_end_matches('\n')).is_match(text));
        for cut in 0..text.len() {
            assert!(grammar.check(&text.as_bytes()[..cut]).is_prefix(), "{path}: prefix {cut} of {text:?}");
        }
    }
}

/// Small regexes over {a, b, c}: literals, classes, alternation, bounded
/// and unbounded repetition, groups.
fn small_regex() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just("[ab]".to_string()),
        Just("[^a]".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
    ];
    leaf.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(?:{a}|{b})")),
            inner.clone().prop_map(|a| format!("(?:{a})*")),
            inner.clone().prop_map(|a| format!("(?:{a})+")),
            inner.clone().prop_map(|a| format!("(?:{a})?")),
            (inner, 0u32..3, 0u32..3).prop_map(|(a, m, extra)| format!("(?:{a}){{{m},{}}}", m + extra)),
        ]
    })
}

fn strings_up_to(length: usize, alphabet: &[&str]) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut frontier = vec![String::new()];
    for _ in 0..length {
        let mut next = Vec::new();
        for prefix in &frontier {
            for symbol in alphabet {
                next.push(format!("{prefix}{symbol}"));
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn membership_agrees_with_the_regex_crate(pattern in small_regex()) {
        let grammar = match CompiledGrammar::new(&pattern, Format::Regex) {
            Ok(grammar) => grammar,
            Err(error) => {
                // Only a regex with an empty language may be refused.
                prop_assert_eq!(error.kind, trellis_grammars::ErrorKind::EmptyLanguage, "{}", error);
                return Ok(());
            }
        };
        let regex = oracle(&pattern);
        for text in strings_up_to(5, &["a", "b", "c", "\n", "é"]) {
            prop_assert_eq!(grammar.accepts(text.as_bytes()), regex.is_match(&text), "pattern {:?} text {:?}", pattern, text);
        }
    }

    #[test]
    fn viability_agrees_with_brute_force(pattern in small_regex()) {
        let Ok(grammar) = CompiledGrammar::new(&pattern, Format::Regex) else { return Ok(()) };
        let regex = oracle(&pattern);
        // The generator's regexes need at most 8 more characters to finish
        // any viable prefix of length ≤ 4 (bounded nesting and repeats).
        let extensions = strings_up_to(6, &["a", "b", "c"]);
        for prefix in strings_up_to(4, &["a", "b", "c"]) {
            let viable = extensions.iter().any(|suffix| regex.is_match(&format!("{prefix}{suffix}")));
            prop_assert_eq!(grammar.check(prefix.as_bytes()).is_prefix(), viable, "pattern {:?} prefix {:?}", pattern, prefix);
        }
    }
}
