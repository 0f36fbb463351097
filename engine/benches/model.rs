//! Throughput of the default model (SmolLM2-135M-Instruct, GGUF Q4_1) on
//! the CPU: prompt processing, one-sequence decoding, batched decoding at
//! 1–64 sequences, and the cost of forking a sequence.
//!
//! Needs the model where `scripts/fetch-model.sh` puts it. Run with
//! `cargo bench -p trellis-engine --bench model`; criterion reports
//! tokens/s as "elem/s".

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use trellis_engine::SeqId;
use trellis_engine::model::default_model_path;
use trellis_engine::model::{LanguageModel, Llama};
use trellis_token_index::TokenId;

/// Cached positions every decode benchmark starts from: a typical chat
/// prompt (the template alone is about 30 tokens).
const CONTEXT: usize = 64;

fn load() -> Llama {
    let path = default_model_path();
    Llama::load(&path)
        .unwrap_or_else(|e| panic!("{e}\n(the benchmark needs the default model: run scripts/fetch-model.sh)"))
}

/// A fixed, ordinary token stream (ids of common English tokens).
fn tokens(len: usize) -> Vec<TokenId> {
    (0..len).map(|i| 260 + (i as TokenId * 7919) % 20_000).collect()
}

fn bench(c: &mut Criterion) {
    let mut model = load();

    let mut group = c.benchmark_group("prompt");
    for len in [16, 128] {
        let prompt = tokens(len);
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function(format!("prefill_{len}_tokens"), |b| {
            b.iter(|| {
                let seq = model.start(black_box(&prompt)).unwrap();
                model.drop_sequence(seq).unwrap();
            })
        });
    }
    group.finish();

    let base = model.start(&tokens(CONTEXT)).unwrap();
    let mut group = c.benchmark_group("decode");
    for batch in [1usize, 8, 32, 64] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}_at_{CONTEXT}"), |b| {
            // Each timed step extends fresh forks of the same context, so
            // every iteration does the same work; forking and dropping are
            // not timed.
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let seqs: Vec<SeqId> = (0..batch).map(|_| model.fork(base).unwrap()).collect();
                    let step: Vec<(SeqId, TokenId)> = seqs
                        .iter()
                        .enumerate()
                        .map(|(j, &s)| (s, 300 + ((i as usize + j) % 1000) as TokenId))
                        .collect();
                    let start = Instant::now();
                    model.extend(black_box(&step)).unwrap();
                    total += start.elapsed();
                    for seq in seqs {
                        model.drop_sequence(seq).unwrap();
                    }
                }
                total
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("fork");
    for len in [CONTEXT, 512] {
        let seq = model.start(&tokens(len)).unwrap();
        group.bench_function(format!("fork_and_drop_{len}_positions"), |b| {
            b.iter(|| {
                let fork = model.fork(black_box(seq)).unwrap();
                model.drop_sequence(fork).unwrap();
            })
        });
        // The copy-on-write half of a fork's cost: its first append copies
        // the shared partial block.
        group.bench_function(format!("fork_first_append_{len}_positions"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let fork = model.fork(seq).unwrap();
                    model.extend(&[(fork, 300)]).unwrap();
                    model.drop_sequence(fork).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
        model.drop_sequence(seq).unwrap();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
