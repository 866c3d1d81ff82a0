//! Four f32 lanes, as the machine does them: wasm's `simd128`, x86-64's
//! SSE (always present there), or plain arrays elsewhere. The detector's and
//! the generator's convolution tiles are written once against these; LLVM does not vectorize
//! the plain loop reliably (it stayed scalar for wasm, and spilled on
//! x86-64 once the tile's loops were arranged differently).
//!
//! In wasm, functions using these carry `#[target_feature(enable =
//! "simd128")]` (and `relaxed-simd` in that build) so that they inline; an
//! engine without SIMD refuses the whole module at load time, so no call
//! can reach an unsupported instruction.

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32 as arch;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64 as arch;

#[derive(Clone, Copy)]
pub struct F32x4(
    #[cfg(target_arch = "wasm32")] arch::v128,
    #[cfg(target_arch = "x86_64")] arch::__m128,
    #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))] [f32; 4],
);

impl F32x4 {
    /// The first four values of `v`.
    #[inline(always)]
    pub fn load(v: &[f32]) -> Self {
        let v: &[f32; 4] = v[..4].try_into().expect("four values");
        // SAFETY (both): reads the 16 bytes of `v`; unaligned loads.
        #[cfg(target_arch = "wasm32")]
        return Self(unsafe { arch::v128_load(v.as_ptr().cast()) });
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_loadu_ps(v.as_ptr()) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self(*v)
    }

    /// `*a` in all four lanes, loaded straight into the register (one
    /// `v128.load32_splat` in wasm, where a scalar load + splat is two).
    #[inline(always)]
    pub fn load_splat(a: &f32) -> Self {
        // SAFETY (both): reads the 4 bytes of `a`.
        #[cfg(target_arch = "wasm32")]
        return Self(unsafe { arch::v128_load32_splat((a as *const f32).cast()) });
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_load1_ps(a) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self([*a; 4])
    }

    #[inline(always)]
    pub fn splat(a: f32) -> Self {
        #[cfg(target_arch = "wasm32")]
        return Self(arch::f32x4_splat(a));
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_set1_ps(a) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self([a; 4])
    }

    /// `self + a * b`: rounded twice (no fused multiply-add in baseline
    /// wasm SIMD or SSE), or in the relaxed-SIMD build one
    /// `f32x4.relaxed_madd`, fused where the machine has FMA (rounded once:
    /// results differ in the last bits, within the parity tests' bounds).
    #[inline(always)]
    pub fn mul_add(self, a: Self, b: Self) -> Self {
        #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
        return Self(arch::f32x4_relaxed_madd(a.0, b.0, self.0));
        #[cfg(not(all(target_arch = "wasm32", feature = "relaxed-simd")))]
        self.add(a.mul(b))
    }

    #[inline(always)]
    pub fn mul(self, b: Self) -> Self {
        #[cfg(target_arch = "wasm32")]
        return Self(arch::f32x4_mul(self.0, b.0));
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_mul_ps(self.0, b.0) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self(std::array::from_fn(|i| self.0[i] * b.0[i]))
    }

    #[inline(always)]
    pub fn add(self, b: Self) -> Self {
        #[cfg(target_arch = "wasm32")]
        return Self(arch::f32x4_add(self.0, b.0));
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_add_ps(self.0, b.0) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self(std::array::from_fn(|i| self.0[i] + b.0[i]))
    }

    /// The larger of each pair (inputs are never NaN here).
    #[inline(always)]
    pub fn max(self, b: Self) -> Self {
        #[cfg(target_arch = "wasm32")]
        return Self(arch::f32x4_pmax(self.0, b.0));
        #[cfg(target_arch = "x86_64")]
        return Self(unsafe { arch::_mm_max_ps(self.0, b.0) });
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        Self(std::array::from_fn(|i| self.0[i].max(b.0[i])))
    }

    #[inline(always)]
    pub fn relu(self) -> Self {
        Self::splat(0.0).max(self)
    }

    /// Into the first four values of `out`.
    #[inline(always)]
    pub fn store(self, out: &mut [f32]) {
        out[..4].copy_from_slice(&self.to_array());
    }

    #[inline(always)]
    fn to_array(self) -> [f32; 4] {
        let mut out = [0.0; 4];
        // SAFETY (both): writes the 16 bytes of `out`.
        #[cfg(target_arch = "wasm32")]
        unsafe {
            arch::v128_store(out.as_mut_ptr().cast(), self.0)
        };
        #[cfg(target_arch = "x86_64")]
        unsafe {
            arch::_mm_storeu_ps(out.as_mut_ptr(), self.0)
        };
        #[cfg(not(any(target_arch = "wasm32", target_arch = "x86_64")))]
        {
            out = self.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // Also in Chromium: there `F32x4` is wasm's simd128 (and relaxed SIMD
    // in that build), which the native tests never reach.
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn lanes_match_scalar_arithmetic() {
        let a = [1.5f32, -2.25, 3.0e-3, 7.0];
        let b = [-0.5f32, 4.0, 1.0e3, -3.5];
        let c = [0.125f32, -1.0, 2.5, 0.0];
        let lanes = |v: F32x4| v.to_array();
        let (va, vb, vc) = (F32x4::load(&a), F32x4::load(&b), F32x4::load(&c));
        for i in 0..4 {
            assert_eq!(lanes(va.add(vb))[i], a[i] + b[i]);
            assert_eq!(lanes(va.mul(vb))[i], a[i] * b[i]);
            assert_eq!(lanes(va.max(vb))[i], a[i].max(b[i]));
            assert_eq!(lanes(va.relu())[i], a[i].max(0.0));
            assert_eq!(lanes(F32x4::splat(b[1]))[i], b[1]);
            assert_eq!(lanes(F32x4::load_splat(&c[2]))[i], c[2]);
            // Fused (relaxed SIMD, where the machine has FMA) or not: the
            // exact value, rounded once or twice.
            let exact = c[i] as f64 + a[i] as f64 * b[i] as f64;
            let got = lanes(vc.mul_add(va, vb))[i] as f64;
            assert!((got - exact).abs() <= exact.abs() * 2.0 * f32::EPSILON as f64, "lane {i}: {got} vs {exact}");
        }
        let mut out = [9.0f32; 6];
        va.store(&mut out[1..]);
        assert_eq!(out, [9.0, a[0], a[1], a[2], a[3], 9.0]);
    }
}
