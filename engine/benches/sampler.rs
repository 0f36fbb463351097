//! The samplers' own overhead per step — masks, proposals, weights,
//! resampling, cache reordering — as a fraction of the model's step time,
//! for SMC at 1, 16 and 64 particles on the JSON grammar with the default
//! model (SmolLM2-135M-Instruct). Target: under 5% on the CI CPU.
//!
//! Not a criterion bench: one step of the model at 64 particles takes a
//! sizeable fraction of a second, and the figure wanted is a ratio of two
//! times measured inside the same runs ([`RunStats`]). Run with
//! `cargo bench -p trellis-engine --bench sampler`; `TRELLIS_BENCH_TOKENS`
//! sets the tokens per run (default 32). Without the model it says so and
//! exits 0.

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use trellis_engine::model::default_model_path;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama};
use trellis_engine::sampler::{RunStats, Smc, SmcConfig, Task};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // we need: one quick pass proves the bench still builds and runs.
    let quick = !std::env::args().any(|a| a == "--bench");
    let path = default_model_path();
    if !path.is_file() {
        println!("sampler bench skipped: the default model is not at {}", path.display());
        return Ok(());
    }
    let tokens: usize = std::env::var("TRELLIS_BENCH_TOKENS").ok().and_then(|t| t.parse().ok()).unwrap_or(32);
    let mut model = Llama::load(&path)?;
    let tokenizer = model.tokenizer().cloned().ok_or("the model has no tokenizer")?;
    let template = ChatTemplate::for_tokenizer(&tokenizer)?.ok_or("the model has no chat template")?;
    let text = template.render(&[ChatMessage::user("Describe a cat as a JSON object.")], true)?;
    let prompt = tokenizer.encode_with_special(&text)?;
    let grammar_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library/json.gbnf");
    let grammar = CompiledGrammar::new(&std::fs::read_to_string(grammar_path)?, Format::Gbnf)?;
    let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(model.vocabulary().clone()));
    // Warm the constraint's mask cache, as a long-running server would be.
    {
        let smc = Smc::new(SmcConfig { particles: 4, ..SmcConfig::default() })?;
        let mut task = Task::new(&prompt, &constraint, if quick { 4 } else { tokens });
        smc.run(&mut model, &mut task, &mut StdRng::seed_from_u64(99))?;
    }
    let particle_counts: &[usize] = if quick { &[1] } else { &[1, 16, 64] };
    println!("particles  steps  model ms/step  mask ms/step  other ms/step  overhead");
    for &particles in particle_counts {
        let smc = Smc::new(SmcConfig { particles, ..SmcConfig::default() })?;
        let mut task = Task::new(&prompt, &constraint, if quick { 4 } else { tokens });
        let started = Instant::now();
        let run = smc.run(&mut model, &mut task, &mut StdRng::seed_from_u64(1))?;
        let RunStats { model_calls, model_seconds, mask_seconds, sampler_seconds, .. } = run.stats;
        // The prefill is one model call that is not a step.
        let steps = model_calls.saturating_sub(1).max(1) as f64;
        println!(
            "{particles:>9}  {steps:>5}  {:>13.2}  {:>12.3}  {:>13.3}  {:>7.2}%   ({:.1} s; {} finished, log Ẑ {:.2})",
            model_seconds * 1e3 / steps,
            mask_seconds * 1e3 / steps,
            sampler_seconds * 1e3 / steps,
            100.0 * (mask_seconds + sampler_seconds) / model_seconds,
            started.elapsed().as_secs_f64(),
            run.particles.len(),
            run.log_z,
        );
    }
    Ok(())
}
