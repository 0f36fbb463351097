//! The mask walk over the token trie: the flat DFS array [`TokenTrie`]
//! against the design's first choice, an `fst` map walked depth-first.
//!
//! Each benchmark computes one mask the way design.md §3 does for a regex
//! state: walk the trie and a `regex-automata` dense DFA together, with a
//! state stack indexed by depth, prune a subtree at the first dead state,
//! and set the bit of every token reached. Both tries answer the same
//! `walk(enter, on_token)` contract and get the same closures, so the only
//! difference measured is the trie layout. The workloads:
//!
//! - `all`: no pruning (every node entered): the raw traversal cost;
//! - `in_json_string`: `([^"\\]|\\.)*"`, the state inside a JSON string,
//!   where nearly every token stays alive (the expensive case);
//! - `identifier`: `[a-z_][a-z0-9_]*`, moderate pruning;
//! - `number`: `-?[0-9]+(\.[0-9]+)?`, almost everything pruned at depth 1.
//!
//! Run (SmolLM2 is skipped if `scripts/fetch-model.sh` has not run):
//!
//! ```text
//! cargo bench -p trellis-token-index --bench trie_walk
//! ```
//!
//! Medians on the 2-core development machine (shared, load ≈ 4, so treat
//! the absolute numbers as rough; the ratios were stable), one mask each:
//!
//! | vocabulary | workload | allowed | flat | fst |
//! | --- | --- | ---: | ---: | ---: |
//! | o200k | all | 199,998 | 1.58 ms | 8.05 ms |
//! | o200k | in_json_string | 198,958 | 2.46 ms | 11.9 ms |
//! | o200k | identifier | 28,460 | 209 µs | 1.34 ms |
//! | o200k | number | 1,111 | 4.4 µs | 22.7 µs |
//! | SmolLM2 | all | 49,135 | 525 µs | 2.85 ms |
//! | SmolLM2 | in_json_string | 49,012 | 649 µs | 2.76 ms |
//! | SmolLM2 | identifier | 11,667 | 55 µs | 534 µs |
//! | SmolLM2 | number | 11 | 0.61 µs | 2.5 µs |
//!
//! Building: o200k 26 ms (flat) vs 75 ms (fst); SmolLM2 6.5 ms (flat).
//! Memory: o200k 5.9 MB (flat) vs 2.7 MB (fst + id groups). The flat array
//! won every walk, which is why it is the public [`TokenTrie`]; the `fst`
//! walk stays here, and only here, so that the choice can be re-measured.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fst::raw::{Node, Output};
use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use trellis_tests::default_model_path;
use trellis_token_index::{TokenId, TokenTrie, Tokenizer, Vocabulary};

/// The same tokens as [`TokenTrie`], in an `fst::Map` from each distinct
/// byte string to its group of token ids (several ids can share bytes: a
/// SentencePiece `<0x61>` and `a`).
struct FstTrie {
    map: fst::Map<Vec<u8>>,
    /// `ids[group_starts[g]..group_starts[g + 1]]` are group g's tokens.
    group_starts: Vec<u32>,
    ids: Vec<TokenId>,
    max_depth: usize,
}

impl FstTrie {
    fn new(vocabulary: &Vocabulary) -> FstTrie {
        let mut tokens: Vec<(&[u8], TokenId)> =
            vocabulary.iter().filter(|(_, _, kind)| kind.is_text()).map(|(id, bytes, _)| (bytes, id)).collect();
        tokens.sort_unstable();
        let mut builder = fst::MapBuilder::memory();
        let mut group_starts = Vec::new();
        let mut ids = Vec::with_capacity(tokens.len());
        let mut previous: Option<&[u8]> = None;
        for &(bytes, id) in &tokens {
            if previous != Some(bytes) {
                builder.insert(bytes, group_starts.len() as u64).expect("sorted, distinct keys");
                group_starts.push(ids.len() as u32);
                previous = Some(bytes);
            }
            ids.push(id);
        }
        group_starts.push(ids.len() as u32);
        FstTrie {
            map: builder.into_map(),
            group_starts,
            ids,
            max_depth: tokens.iter().map(|(b, _)| b.len()).max().unwrap_or(0),
        }
    }

    /// [`TokenTrie::walk`]'s contract, over the fst: a DFS with an explicit
    /// stack of (node, next transition, output so far).
    #[inline]
    fn walk(&self, mut enter: impl FnMut(usize, u8) -> bool, mut on_token: impl FnMut(TokenId)) {
        let fst = self.map.as_fst();
        let mut stack: Vec<(Node<'_>, usize, Output)> = Vec::with_capacity(self.max_depth + 1);
        stack.push((fst.root(), 0, Output::zero()));
        while let Some(top) = stack.last_mut() {
            let (node, next, output) = *top;
            if next == node.len() {
                stack.pop();
                continue;
            }
            top.1 += 1;
            let transition = node.transition(next);
            if enter(stack.len(), transition.inp) {
                let child = fst.node(transition.addr);
                let output = output.cat(transition.out);
                if child.is_final() {
                    let group = output.cat(child.final_output()).value() as usize;
                    let (start, end) = (self.group_starts[group], self.group_starts[group + 1]);
                    for &id in &self.ids[start as usize..end as usize] {
                        on_token(id);
                    }
                }
                stack.push((child, 0, output));
            }
        }
    }
}

/// A workload: a regex whose start state the mask is computed for, or
/// `None` for the unpruned walk.
const WORKLOADS: &[(&str, Option<&str>)] = &[
    ("all", None),
    ("in_json_string", Some(r#"([^"\\]|\\.)*""#)),
    ("identifier", Some("[a-z_][a-z0-9_]*")),
    ("number", Some(r"-?[0-9]+(\.[0-9]+)?")),
];

struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Dfa {
    fn new(pattern: &str) -> Dfa {
        let dfa = dense::Builder::new()
            .configure(dense::Config::new().match_kind(MatchKind::All))
            .build(pattern)
            .expect("bench regex compiles");
        let start =
            dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).expect("no look-around in bench regexes");
        Dfa { dfa, start }
    }
}

/// The walk contract both tries implement, so one mask function drives
/// either.
trait Walk {
    fn walk_with(&self, enter: impl FnMut(usize, u8) -> bool, on_token: impl FnMut(TokenId));
}

impl Walk for TokenTrie {
    #[inline]
    fn walk_with(&self, enter: impl FnMut(usize, u8) -> bool, on_token: impl FnMut(TokenId)) {
        self.walk(enter, on_token)
    }
}

impl Walk for FstTrie {
    #[inline]
    fn walk_with(&self, enter: impl FnMut(usize, u8) -> bool, on_token: impl FnMut(TokenId)) {
        self.walk(enter, on_token)
    }
}

/// One mask: sets the bit of every allowed token and returns their number.
fn mask(trie: &impl Walk, dfa: Option<&Dfa>, stack: &mut [StateID], bits: &mut [u64]) -> u32 {
    bits.fill(0);
    let mut allowed = 0;
    let set = |token: TokenId| {
        bits[token as usize / 64] |= 1 << (token % 64);
        allowed += 1;
    };
    match dfa {
        None => trie.walk_with(|_, _| true, set),
        Some(d) => {
            stack[0] = d.start;
            trie.walk_with(
                |depth, byte| {
                    let next = d.dfa.next_state(stack[depth - 1], byte);
                    stack[depth] = next;
                    !d.dfa.is_dead_state(next)
                },
                set,
            );
        }
    }
    allowed
}

fn vocabularies() -> Vec<(&'static str, Tokenizer)> {
    let mut list = vec![("o200k", Tokenizer::tiktoken("o200k_base").expect("built in"))];
    let smollm2 = default_model_path();
    if smollm2.is_file() {
        list.push(("smollm2", Tokenizer::from_gguf(&smollm2).expect("SmolLM2 loads")));
    } else {
        eprintln!("skipping SmolLM2: no model at {} (run scripts/fetch-model.sh)", smollm2.display());
    }
    list
}

fn bench_walk(c: &mut Criterion) {
    for (name, tokenizer) in vocabularies() {
        let vocabulary = tokenizer.vocabulary();
        let flat = TokenTrie::new(vocabulary);
        let fst = FstTrie::new(vocabulary);
        eprintln!(
            "{name}: {} text tokens, {} trie nodes, flat trie {:.1} MB, fst {:.1} MB",
            flat.num_tokens(),
            flat.num_nodes(),
            flat.memory_bytes() as f64 / 1e6,
            (fst.map.as_fst().as_bytes().len() + 4 * (fst.group_starts.len() + fst.ids.len())) as f64 / 1e6,
        );
        let mut bits = vec![0u64; vocabulary.len().div_ceil(64)];
        let mut stack = vec![StateID::ZERO; flat.max_depth() + 1];
        let mut group = c.benchmark_group(format!("trie_walk/{name}"));
        for &(workload, pattern) in WORKLOADS {
            let dfa = pattern.map(Dfa::new);
            // Both walks must agree before their speed means anything.
            let flat_allowed = mask(&flat, dfa.as_ref(), &mut stack, &mut bits);
            let flat_bits = bits.clone();
            let fst_allowed = mask(&fst, dfa.as_ref(), &mut stack, &mut bits);
            assert_eq!((flat_allowed, &flat_bits), (fst_allowed, &bits), "{name}/{workload}");
            eprintln!("{name}/{workload}: {flat_allowed} tokens allowed");

            group.bench_function(BenchmarkId::new("flat", workload), |b| {
                b.iter(|| mask(&flat, black_box(dfa.as_ref()), &mut stack, &mut bits))
            });
            group.bench_function(BenchmarkId::new("fst", workload), |b| {
                b.iter(|| mask(&fst, black_box(dfa.as_ref()), &mut stack, &mut bits))
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("trie_build/{name}"));
        group.sample_size(10);
        group.bench_function("flat", |b| b.iter(|| TokenTrie::new(black_box(vocabulary))));
        group.bench_function("fst", |b| b.iter(|| FstTrie::new(black_box(vocabulary))));
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_walk
}
criterion_main!(benches);
