//! The quantized kernels against the same weights in `f32`: on the default
//! model (SmolLM2-135M-Instruct Q4_1), the next-token distributions of
//! [`Llama::load`] (8-bit activations, integer dot products) and of
//! [`Llama::load_dequantized`] (every matrix decoded to `f32`, multiplied by
//! candle in `f32`) agree over 500 steps: mean KL(reference ‖ ours) ≤ 1e-3
//! and the same most likely token at ≥ 99 % of steps (issue 16's bounds).
//!
//! Both models read the same context at every step: the reference's own
//! greedy continuation, fed to both.
//!
//! Like the other default-model tests, this **fails** when the model is
//! missing unless `TRELLIS_SKIP_MODEL_TESTS=1`.
//!
//! With llama.cpp's scheme alone (every activation in one 8-bit term per
//! block of 32) this failed: mean KL 1.5e-3 (worst step 2.5e-2), 98.6 %
//! argmax agreement. The normalised inputs of the Q/K/V, gate/up and output
//! products now take two 8-bit terms (`kernels::activations`), which gives
//! 3.1e-4 and 99.4 %. About 95 s in the test profile on the 2-core
//! machine, most of it in the `f32` reference.

use trellis_engine::model::{LanguageModel, Llama};
use trellis_tests::default_model;

const STEPS: usize = 500;

fn argmax(logprobs: &[f32]) -> usize {
    logprobs.iter().enumerate().fold(0, |best, (i, &lp)| if lp > logprobs[best] { i } else { best })
}

/// KL(p ‖ q) in nats, for log-probabilities.
fn kl(p: &[f32], q: &[f32]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(lp, _)| lp.is_finite())
        .map(|(&lp, &lq)| f64::from(lp).exp() * (f64::from(lp) - f64::from(lq)))
        .sum()
}

#[test]
fn quantized_kernels_keep_the_distributions_of_the_f32_weights() {
    let Some(path) = default_model() else { return };
    let mut ours = Llama::load(&path).unwrap_or_else(|e| panic!("loading the default model: {e}"));
    let mut reference = Llama::load_dequantized(&path).unwrap_or_else(|e| panic!("dequantized: {e}"));
    let tokenizer = ours.tokenizer().cloned().expect("a loaded model has its tokenizer");
    let prompt = tokenizer.encode("Once upon a time, in a small village by the sea,").expect("the prompt encodes");

    let seq = ours.start(&prompt).expect("prefill");
    let reference_seq = reference.start(&prompt).expect("reference prefill");
    let (mut total_kl, mut worst_kl, mut agree) = (0.0, 0.0f64, 0);
    for step in 0..STEPS {
        let (p, q) = (reference.logprobs(reference_seq).expect("live"), ours.logprobs(seq).expect("live"));
        let divergence = kl(p, q);
        assert!(divergence.is_finite(), "step {step}: KL is {divergence}");
        total_kl += divergence;
        worst_kl = worst_kl.max(divergence);
        let next = argmax(p);
        agree += usize::from(argmax(q) == next);
        if step + 1 < STEPS {
            reference.extend(&[(reference_seq, next as u32)]).expect("reference step");
            ours.extend(&[(seq, next as u32)]).expect("step");
        }
    }
    let mean_kl = total_kl / STEPS as f64;
    let agreement = agree as f64 / STEPS as f64;
    println!("mean KL {mean_kl:.2e}, worst {worst_kl:.2e}, argmax agreement {agreement:.3} over {STEPS} steps");
    assert!(mean_kl <= 1e-3, "mean KL {mean_kl:.2e} over {STEPS} steps");
    assert!(agreement >= 0.99, "argmax agreement {agreement:.3} over {STEPS} steps");
}
