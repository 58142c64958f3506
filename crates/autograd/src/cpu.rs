//! The instruction sets the hot loops run on, chosen once at run time.
//!
//! descent is built for the baseline of its target (SSE2 on x86-64), which is
//! what a project depending on it gets without build flags. The loops that
//! matter are written once and compiled again for wider instruction sets:
//! [`vectorized`] runs a closure inside a function compiled with AVX2 + FMA or
//! AVX-512 enabled, so that the compiler vectorises it (once inlined) for the
//! CPU's widest registers. The matrix product has hand-written kernels per
//! level instead (`gemm/avx2.rs`, `gemm/avx512.rs`).
//!
//! The level is the CPU's, detected once with `is_x86_feature_detected!`,
//! unless the environment variable `DESCENT_CPU` (`avx512`, `avx2` or
//! `baseline`) asks for a lower one: an AVX-512 machine can test and measure
//! the AVX2 and baseline paths. It can only lower the level, never raise it.
//!
//! Which bits depend on the level: none of the elementwise loops, reductions,
//! softmax, losses or optimizer updates. Rust never fuses a multiplication and
//! an addition into an FMA unless the code asks for one (`mul_add`, which is
//! exact on every path), and never reorders a floating-point sum, so wider
//! registers compute the same values. The matrix products do differ in their
//! last bits between levels: each kernel sums in its own order.

use std::fmt;
use std::sync::OnceLock;

/// The name of the environment variable that lowers the level.
pub const CPU_LEVEL_VARIABLE: &str = "DESCENT_CPU";

/// An instruction-set level, from the narrowest to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuLevel {
    /// The target's baseline (SSE2 on x86-64): 4-wide vectors, no FMA.
    Baseline,
    /// AVX2 and FMA (x86-64-v3): 8-wide vectors.
    Avx2,
    /// AVX-512 F, BW, DQ and VL with AVX2 and FMA (x86-64-v4): 16-wide vectors.
    Avx512,
}

impl CpuLevel {
    /// The level's name, as `DESCENT_CPU` spells it.
    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::Baseline => "baseline",
            CpuLevel::Avx2 => "avx2",
            CpuLevel::Avx512 => "avx512",
        }
    }

    /// The level named `name` (as [`CpuLevel::name`] spells it, any case).
    pub fn from_name(name: &str) -> Result<CpuLevel, CpuLevelError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "baseline" => Ok(CpuLevel::Baseline),
            "avx2" => Ok(CpuLevel::Avx2),
            "avx512" => Ok(CpuLevel::Avx512),
            _ => Err(CpuLevelError {
                value: name.to_owned(),
            }),
        }
    }
}

impl fmt::Display for CpuLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `DESCENT_CPU` value that names no level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuLevelError {
    /// The value as given.
    pub value: String,
}

impl fmt::Display for CpuLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{CPU_LEVEL_VARIABLE}={:?} names no CPU level: expected avx512, avx2 or baseline",
            self.value
        )
    }
}

impl std::error::Error for CpuLevelError {}

/// The widest level this CPU supports.
pub fn detected_level() -> CpuLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        // Every feature `with_avx2` compiles for: a virtual machine may
        // report AVX2 and hide one of the others.
        let avx2_level = has!("avx2")
            && has!("fma")
            && has!("bmi1")
            && has!("bmi2")
            && has!("lzcnt")
            && has!("popcnt")
            && has!("f16c");
        if avx2_level {
            if has!("avx512f")
                && has!("avx512bw")
                && has!("avx512dq")
                && has!("avx512vl")
                && has!("avx512cd")
            {
                return CpuLevel::Avx512;
            }
            return CpuLevel::Avx2;
        }
    }
    CpuLevel::Baseline
}

/// The level `DESCENT_CPU` asks for: `None` when it is not set.
pub fn requested_level() -> Result<Option<CpuLevel>, CpuLevelError> {
    match std::env::var(CPU_LEVEL_VARIABLE) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => CpuLevel::from_name(&value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(CpuLevelError {
            value: value.to_string_lossy().into_owned(),
        }),
    }
}

/// The level every hot loop runs at: the CPU's, or the lower one
/// `DESCENT_CPU` asks for. Decided on the first call and fixed for the life
/// of the process (the cache holds a fact about the machine, written once).
///
/// A value of `DESCENT_CPU` that names no level, or a level above the CPU's,
/// is reported once on standard error and the CPU's level is used (an
/// environment variable is outside input, so it does not panic);
/// [`requested_level`] returns the same error to a caller that wants to fail.
pub fn level() -> CpuLevel {
    static LEVEL: OnceLock<CpuLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let detected = detected_level();
        match requested_level() {
            Ok(None) => detected,
            Ok(Some(requested)) if requested <= detected => requested,
            Ok(Some(requested)) => {
                eprintln!(
                    "descent: {CPU_LEVEL_VARIABLE}={requested} is above what this CPU \
                     supports; running at {detected}"
                );
                detected
            }
            Err(error) => {
                eprintln!("descent: {error}; running at {detected}");
                detected
            }
        }
    })
}

/// Runs `work`, compiled for the widest instruction set of [`level`].
///
/// `work` is inlined into a copy of this function built with that level's
/// features enabled, so the loops in it (and in what it inlines: closures,
/// `ndarray` iterators, slice loops) are vectorised for that level; a call
/// it does not inline runs baseline code. The results are the same at every
/// level for code that asks for no FMA (see the module's documentation).
///
/// Two rules make that hold; without them the hot loops ran 2x slower than
/// the build for the native CPU, even with `target-cpu=native` (issue 19):
///
/// - `work` must be marked `#[inline(always)]`. It is called from three
///   places (one per level), and the compiler's cost model would not copy a
///   loop three times: it left the closure out of line, compiled for the
///   baseline only, and called it from every level.
/// - A loop must take the slices it writes as function (or closure)
///   parameters, in an `#[inline(always)]` function called from `work`, not
///   reach them through captures. Only a parameter tells the compiler that
///   the output overlaps nothing else the loop reads; through captures,
///   every scalar the loop uses was reloaded each iteration and the loop ran
///   one element at a time.
///
/// The copies are tuned for a generic x86-64, not for the CPU at hand as
/// `target-cpu=native` would: a loop that stores an element and then
/// rewrites it conditionally becomes a masked store (`vmaskmovps`), which
/// AMD's Zen cores run many times slower than a plain one. Compute each
/// value in a local and store it once.
#[inline]
pub fn vectorized<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: `level` only reports a level whose features the CPU has.
        CpuLevel::Avx512 => return unsafe { with_avx512(work) },
        CpuLevel::Avx2 => return unsafe { with_avx2(work) },
        CpuLevel::Baseline => {}
    }
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c")]
#[inline]
unsafe fn with_avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx,avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512cd"
)]
#[inline]
unsafe fn with_avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_named() {
        assert!(CpuLevel::Baseline < CpuLevel::Avx2 && CpuLevel::Avx2 < CpuLevel::Avx512);
        for level in [CpuLevel::Baseline, CpuLevel::Avx2, CpuLevel::Avx512] {
            assert_eq!(CpuLevel::from_name(level.name()), Ok(level));
        }
        assert_eq!(CpuLevel::from_name(" AVX2 "), Ok(CpuLevel::Avx2));
        let error = CpuLevel::from_name("sse9").unwrap_err();
        assert_eq!(
            error.to_string(),
            "DESCENT_CPU=\"sse9\" names no CPU level: expected avx512, avx2 or baseline"
        );
    }

    #[test]
    fn the_level_never_exceeds_the_cpu() {
        assert!(level() <= detected_level());
        assert_eq!(
            vectorized(
                #[inline(always)]
                || 6 * 7
            ),
            42
        );
    }
}
