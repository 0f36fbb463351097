//! The guarantee, for every sampler (design.md §2): whatever a sampler
//! returns is in the language — on every bundled grammar
//! (`grammars/library/*`), over many seeds, with a model that knows nothing
//! about the grammars.
//!
//! The model is a seeded random bigram table over a byte-level vocabulary
//! (every printable ASCII byte, newline, and a few multi-byte tokens that
//! cross lexeme boundaries), with EOS made likely enough that outputs end.
//! A sampler may fail to produce an output (a budget, no survivors); it may
//! never produce a wrong one. Each output is checked by the byte-level
//! matcher, `CompiledGrammar::accepts`, which knows nothing of tokens.

mod sampler_support;

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trellis_engine::model::TableModel;
use trellis_engine::sampler::{
    BestOfK, BestOfKConfig, Decoding, MaskedDecoder, RejectionConfig, RejectionSampler, Sample, SamplerError, Smc,
    SmcConfig, Task,
};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenIndex, Vocabulary};

fn byte_vocabulary() -> Arc<Vocabulary> {
    let mut texts: Vec<String> = (0x20u8..0x7f).map(|b| (b as char).to_string()).collect();
    texts.push("\n".into());
    for extra in ["{\"", "\": ", ", ", "\"}", "true", "null", "12", "e4", "O-O", " 1-0", "SELECT", " FROM", "x,y", "()"]
    {
        texts.push(extra.into());
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    sampler_support::vocabulary(&refs)
}

fn model(vocabulary: Arc<Vocabulary>, seed: u64) -> TableModel {
    let mut rng = StdRng::seed_from_u64(seed);
    let len = vocabulary.len();
    TableModel::from_fn(vocabulary, 1, |_| {
        (0..len).map(|t| if t == 0 { 2.5 } else { (rng.random::<f32>() - 0.5) * 4.0 }).collect()
    })
    .expect("a small table")
}

fn library() -> Vec<(String, CompiledGrammar)> {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library");
    let mut grammars = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(folder).expect("the grammar library").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(format) = Format::from_path(&path) else { continue };
        let text = std::fs::read_to_string(&path).expect("a readable grammar");
        let grammar = CompiledGrammar::new(&text, format).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        grammars.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), grammar));
    }
    assert!(grammars.len() >= 5, "the library should hold the bundled grammars");
    grammars
}

/// Failures a sampler may report instead of an output.
fn allowed_failure(error: &SamplerError) -> bool {
    matches!(
        error,
        SamplerError::Unfinished { .. }
            | SamplerError::NoSurvivors
            | SamplerError::BudgetExhausted { .. }
            | SamplerError::NoMass { .. }
    )
}

#[test]
fn every_output_of_every_sampler_is_in_the_language() {
    let vocabulary = byte_vocabulary();
    let index = TokenIndex::new(Arc::clone(&vocabulary));
    let digits = |text: &[u8]| 0.3 * text.iter().filter(|b| b.is_ascii_digit()).count() as f64;
    let mut outputs = 0;
    let mut failures = 0;
    let started = std::time::Instant::now();
    for (name, grammar) in library() {
        let constraint = TokenConstraint::new(&grammar, &index);
        for seed in 0..3u64 {
            let mut model = model(Arc::clone(&vocabulary), seed);
            let mut rng = StdRng::seed_from_u64(seed);
            let max_tokens = 24;
            let mut results: Vec<(&str, Result<Sample, SamplerError>)> = Vec::new();
            let mut task = Task::new(&[], &constraint, max_tokens);

            let masked = MaskedDecoder::new(Decoding::default()).expect("valid");
            results.push(("masked", masked.sample(&mut model, &mut task, &mut rng).map(|o| o.sample)));
            let truncated = MaskedDecoder::new(Decoding {
                temperature: 0.8,
                top_k: Some(5),
                top_p: 0.9,
                jump_forward: true,
                ..Decoding::default()
            })
            .expect("valid");
            results
                .push(("masked top-k/top-p/jump", truncated.sample(&mut model, &mut task, &mut rng).map(|o| o.sample)));
            let greedy = MaskedDecoder::new(Decoding::greedy()).expect("valid");
            results.push(("greedy", greedy.sample(&mut model, &mut task, &mut rng).map(|o| o.sample)));

            let rejection = RejectionSampler::new(RejectionConfig { max_tries: 300, batch: 8 }).expect("valid");
            match rejection.run(&mut model, &mut task, 3, &mut rng) {
                Ok(run) => results.extend(run.samples.into_iter().map(|s| ("rejection", Ok(s)))),
                Err(error) => results.push(("rejection", Err(error))),
            }

            let smc = Smc::new(SmcConfig { particles: 8, ..SmcConfig::default() }).expect("valid");
            match smc.run(&mut model, &mut task, &mut rng) {
                Ok(run) => results.extend(run.particles.into_iter().map(|p| ("smc", Ok(p.sample)))),
                Err(error) => results.push(("smc", Err(error))),
            }
            let twisted = smc.with_twist(&digits);
            match twisted.run(&mut model, &mut task, &mut rng) {
                Ok(run) => results.extend(run.particles.into_iter().map(|p| ("tsmc", Ok(p.sample)))),
                Err(error) => results.push(("tsmc", Err(error))),
            }
            let best = BestOfK::new(BestOfKConfig { candidates: 3, block_tokens: 4 }, &digits).expect("valid");
            results.push(("best-of-k", best.run(&mut model, &mut task, &mut rng).map(|(s, _)| s)));

            for (sampler, result) in results {
                match result {
                    Ok(sample) => {
                        outputs += 1;
                        assert!(
                            sample.eos.is_some() && grammar.accepts(&sample.text),
                            "{name}, seed {seed}, {sampler}: output {:?} is not in the language",
                            String::from_utf8_lossy(&sample.text)
                        );
                        assert!(sample.tokens.len() <= max_tokens);
                    }
                    Err(error) => {
                        failures += 1;
                        assert!(allowed_failure(&error), "{name}, seed {seed}, {sampler}: {error}");
                    }
                }
            }
            assert_eq!(trellis_engine::model::LanguageModel::live_sequences(&model), 0, "{name}: leaked sequences");
        }
    }
    println!("{outputs} outputs checked, {failures} runs without output; {:.2} s", started.elapsed().as_secs_f64());
    assert!(outputs > 100, "too few outputs to mean anything: {outputs}");
}
