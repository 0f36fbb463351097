//! The model's hot path on the CPU: quantized matrix products and a thread
//! pool that does not spin.
//!
//! candle 0.11 runs GGUF matrix products with scalar code for most block
//! formats (a profile of `trellis generate` on SmolLM2-135M Q4_1: 35 % in
//! its scalar Q4_1 dot product, 41 % in its thread pool's spin-wait), so
//! the hot path is Trellis's own: weights stay in their GGUF blocks
//! ([`formats`]) — on CPUs with AVX-512 VNNI interleaved eight rows at a
//! time, the same bytes moved ([`packed`]) — activations are quantized to
//! 8 bits per 32 values, in two terms for the inputs that move the
//! distributions most ([`activations`]), and dot products run on
//! integers, in SIMD where the CPU has it ([`packed`], [`x86`]) and in
//! plain Rust otherwise ([`scalar`], also the reference the SIMD kernels
//! are tested against). Matrix products, attention and the elementwise
//! passes of a step run on [`pool`], which spins only within a step.
//!
//! What it bought (`trellis bench-model --threads 2`, SmolLM2-135M Q4_1,
//! 2-core machine): decode at batch 1 from 15.7 to about 150 tok/s,
//! prefill of 128 tokens from 20 to about 450, 64 sequences from 24 to
//! about 430 tok/s; llama.cpp on the same file, alternating, in the
//! README.

pub(crate) mod activations;
pub(crate) mod formats;
pub(crate) mod matmul;
pub(crate) mod packed;
pub(crate) mod pool;
pub(crate) mod scalar;
pub(crate) mod x86;

pub(crate) use formats::Format;
pub(crate) use matmul::QuantMatrix;
