//! Does SMC's estimate of the acceptance rate agree with rejection
//! sampling's measurement? (issue 5, "AR agreement")
//!
//! With the default model (SmolLM2-135M-Instruct) and a constraint that
//! plain sampling meets often enough to measure — a three-digit number —
//! this measures Z = P_model(output matches) two ways:
//!
//! - rejection sampling: `--tries` unconstrained samples, Z = accepted /
//!   tries with a 95% Wilson interval;
//! - SMC: `--runs` independent runs of `--particles` particles; Ẑ is
//!   unbiased, so the mean over runs ± 1.96 standard errors is an interval
//!   for Z;
//! - and, for comparison, masked decoding's importance weights Π Z_t (SMC
//!   with one particle and no resampling).
//!
//! ```text
//! cargo run --release -p trellis-engine --example acceptance_rate -- \
//!     [--tries 2000] [--runs 50] [--particles 16] [--max-tokens 8] [--regex '[0-9]{3}'] [--prompt TEXT]
//! ```

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use trellis_engine::model::default_model_path;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama};
use trellis_engine::sampler::{RejectionConfig, RejectionSampler, Smc, SmcConfig, Task};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenIndex};

struct Options {
    tries: u64,
    runs: usize,
    particles: usize,
    max_tokens: usize,
    regex: String,
    prompt: String,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        tries: 2000,
        runs: 50,
        particles: 16,
        max_tokens: 8,
        regex: "[0-9]{3}".into(),
        prompt: "Pick a random number between 100 and 999. Reply with the number only.".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--tries" => options.tries = number(&value)?,
            "--runs" => options.runs = number(&value)? as usize,
            "--particles" => options.particles = number(&value)? as usize,
            "--max-tokens" => options.max_tokens = number(&value)? as usize,
            "--regex" => options.regex = value,
            "--prompt" => options.prompt = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let mut model = Llama::load(&default_model_path())?;
    let tokenizer = model.tokenizer().cloned().ok_or("the model has no tokenizer")?;
    let template = ChatTemplate::for_tokenizer(&tokenizer)?.ok_or("the model has no chat template")?;
    let text = template.render(&[ChatMessage::user(options.prompt.as_str())], true)?;
    let prompt = tokenizer.encode_with_special(&text)?;
    let grammar = CompiledGrammar::new(&options.regex, Format::Regex)?;
    let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(model.vocabulary().clone()));
    println!("prompt {:?}, regex {:?}, max {} tokens before EOS", options.prompt, options.regex, options.max_tokens);

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(1);
    let mut task = Task::new(&prompt, &constraint, options.max_tokens);
    let rejection = RejectionSampler::new(RejectionConfig { max_tries: options.tries, batch: 16 })?;
    let run = rejection.measure(&mut model, &mut task, options.tries, &mut rng)?;
    let acceptance = run.stats.acceptance();
    println!(
        "rejection: {} / {} accepted: Z = {:.4}, 95% Wilson [{:.4}, {:.4}] ({} cut short early, {} too long; {:.1} s)",
        run.stats.accepted,
        run.stats.tries,
        acceptance.rate,
        acceptance.low,
        acceptance.high,
        run.stats.early_rejections,
        run.stats.length_rejections,
        started.elapsed().as_secs_f64()
    );
    let mut examples: Vec<String> =
        run.samples.iter().take(8).map(|s| String::from_utf8_lossy(&s.text).into_owned()).collect();
    examples.dedup();
    println!("  accepted examples: {examples:?}");

    for (label, particles, threshold) in
        [("smc", options.particles, 0.5), ("masked importance (N=1, no resampling)", 1, 0.0)]
    {
        let started = Instant::now();
        let smc = Smc::new(SmcConfig { particles, ess_threshold: threshold, ..SmcConfig::default() })?;
        let runs = if particles == 1 { options.runs * 4 } else { options.runs };
        let mut estimates = Vec::with_capacity(runs);
        let mut resamples = 0;
        for _ in 0..runs {
            let run = smc.run(&mut model, &mut task, &mut rng)?;
            estimates.push(run.log_z.exp());
            resamples += run.resamples;
        }
        let mean = estimates.iter().sum::<f64>() / runs as f64;
        let variance = estimates.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / (runs as f64 - 1.0).max(1.0);
        let se = (variance / runs as f64).sqrt();
        println!(
            "{label}: N = {particles}, {runs} runs: mean Ẑ = {mean:.4} ± {se:.4} (SE), 95% [{:.4}, {:.4}], {} \
             resamples; {:.1} s",
            mean - 1.96 * se,
            mean + 1.96 * se,
            resamples,
            started.elapsed().as_secs_f64()
        );
    }
    assert_eq!(model.live_sequences(), 0);
    Ok(())
}
