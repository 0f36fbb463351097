//! The samplers on the default model, SmolLM2-135M-Instruct, with the JSON
//! grammar: every output is accepted by the byte-level matcher.
//!
//! Like `smollm2.rs`, this test **fails** when the model is missing unless
//! `TRELLIS_SKIP_MODEL_TESTS=1`. It is kept short (a few dozen tokens per
//! sampler: CI runs the model at about 40 tokens/s).

use trellis_tests::default_model;

use rand::SeedableRng;
use rand::rngs::StdRng;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama};
use trellis_engine::sampler::{Decoding, MaskedDecoder, SamplerError, Smc, SmcConfig, Task};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenIndex};

#[test]
fn masked_and_smc_outputs_are_json() {
    let Some(path) = default_model() else { return };
    let mut model = Llama::load(&path).unwrap_or_else(|e| panic!("loading the default model: {e}"));
    let tokenizer = model.tokenizer().cloned().expect("a loaded model has its tokenizer");
    let template = ChatTemplate::for_tokenizer(&tokenizer).expect("a template").expect("an instruct model");
    let text = template
        .render(&[ChatMessage::user("Reply with a JSON object with one key \"n\" holding a number.")], true)
        .expect("the template renders");
    let prompt = tokenizer.encode_with_special(&text).expect("the prompt encodes");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library/json.gbnf");
    let grammar = CompiledGrammar::new(&std::fs::read_to_string(path).expect("json.gbnf"), Format::Gbnf)
        .expect("json.gbnf compiles");
    let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(model.vocabulary().clone()));
    let mut rng = StdRng::seed_from_u64(0);
    let mut task = Task::new(&prompt, &constraint, 24);

    let mut outputs = 0;
    let masked = MaskedDecoder::new(Decoding { temperature: 0.5, jump_forward: true, ..Decoding::default() })
        .expect("valid")
        .sample(&mut model, &mut task, &mut rng);
    match masked {
        Ok(out) => {
            println!("masked: {}", String::from_utf8_lossy(&out.sample.text));
            assert!(grammar.accepts(&out.sample.text));
            outputs += 1;
        }
        Err(SamplerError::Unfinished { .. }) => println!("masked: unfinished within 24 tokens"),
        Err(error) => panic!("masked decoding: {error}"),
    }
    let smc = Smc::new(SmcConfig { particles: 4, ..SmcConfig::default() }).expect("valid");
    let run = smc.run(&mut model, &mut task, &mut rng).expect("an SMC run");
    for particle in &run.particles {
        println!("smc (w̄ = {:.3}): {}", particle.log_weight.exp(), String::from_utf8_lossy(&particle.sample.text));
        assert!(grammar.accepts(&particle.sample.text));
        outputs += 1;
    }
    println!("smc: log Ẑ = {:.3}, ESS trace {:?}, {} model calls", run.log_z, run.ess, run.stats.model_calls);
    assert!(outputs > 0, "neither sampler finished a JSON value in 24 tokens");
    assert_eq!(model.live_sequences(), 0);
}
