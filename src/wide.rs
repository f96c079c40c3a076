//! Hot loops run with the widest vector instructions the processor has, chosen at run time.
//!
//! The crate is built for baseline x86-64, whose vectors are SSE2's: four `f32` or `i32` lanes, and no
//! 32-bit integer multiply. [`wide`] runs a closure compiled a second time for x86-64-v3 (AVX2: eight lanes, a
//! 32-bit multiply, variable shifts) when the processor has it, and as built otherwise; the loops inlined into
//! the closure are what the compiler vectorises with those instructions.
//!
//! Both versions give the same bits. Integer arithmetic is exact in any instruction set. For `f32`/`f64`,
//! Rust compiles each operation as written: it never fuses a multiply and an add into an FMA, nor reorders a
//! sum, unless the source asks for it (`mul_add`), so a loop vectorised across pixels performs per pixel the
//! same operations in the same order as the scalar loop. `examples/corruption_digests.rs` checks it: its
//! digests are the same with `LCR_VERIFY_PORTABLE=1` in the environment, which keeps the baseline version.

use std::sync::OnceLock;

/// Whether `LCR_VERIFY_PORTABLE` (set, and not `0`) asks for the baseline instructions everywhere.
fn portable_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("LCR_VERIFY_PORTABLE").is_some_and(|v| v != "0"))
}

/// Whether [`wide`] runs the x86-64-v3 version on this machine.
pub fn is_wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    if !portable_forced() {
        return pulp::x86::V3::is_available();
    }
    false
}

/// The x86-64-v3 token of [`pulp`] when [`wide`] would use it: code written with its AVX2 intrinsics runs
/// inside `token.vectorize(…)`. Decided once per process (the row loops of the JPEG code ask for every row).
#[cfg(target_arch = "x86_64")]
pub(crate) fn v3() -> Option<pulp::x86::V3> {
    static TOKEN: OnceLock<Option<pulp::x86::V3>> = OnceLock::new();
    *TOKEN.get_or_init(|| if portable_forced() { None } else { pulp::x86::V3::try_new() })
}

/// Runs `f` compiled for x86-64-v3 when the processor supports it (and `LCR_VERIFY_PORTABLE` is not set), as
/// built otherwise. Only code inlined into `f` gets the wider instructions, so `f` is a type whose
/// [`pulp::NullaryFnOnce::call`] and the loops it runs are `#[inline(always)]`: a closure would be compiled on
/// its own, for the baseline, and only called from the x86-64-v3 function.
#[inline(always)]
pub(crate) fn wide<F: pulp::NullaryFnOnce>(f: F) -> F::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = v3() {
        return v3.vectorize(f);
    }
    f.call()
}
