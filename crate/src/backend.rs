//! Which compute backend runs the model, and why.
//!
//! The choice is a pure function of what the browser reports about its WebGPU
//! adapter, so it is decided (and tested) in one place, natively, without a GPU.

use serde::{Deserialize, Serialize};

/// What `GPUAdapter.info` says about a WebGPU adapter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    /// `GPUAdapterInfo.isFallbackAdapter`: the browser's own word that the
    /// adapter is a software implementation.
    pub is_fallback_adapter: bool,
}

/// Software rasterisers that present themselves as GPUs. Browsers do not
/// always set `isFallbackAdapter` for them (Chromium's SwiftShader under
/// `--enable-unsafe-webgpu` reports `architecture: "swiftshader"` only).
const SOFTWARE_ADAPTERS: [&str; 4] = ["swiftshader", "llvmpipe", "lavapipe", "warp"];

impl AdapterInfo {
    /// True when the "GPU" is a CPU emulating one: such an adapter runs
    /// Wav2Lip orders of magnitude slower than the wasm CPU path.
    pub fn is_software(&self) -> bool {
        self.is_fallback_adapter
            || [&self.vendor, &self.architecture, &self.device, &self.description]
                .iter()
                .any(|field| {
                    let field = field.to_ascii_lowercase();
                    SOFTWARE_ADAPTERS.iter().any(|name| field.contains(name))
                })
    }

    /// A short human name, e.g. "nvidia / ampere" or "google / swiftshader".
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [&self.vendor, &self.architecture, &self.description]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() { "unnamed adapter".into() } else { parts.join(" / ") }
    }
}

/// What the user (or a test) asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    /// WebGPU on whatever adapter the browser offers, software ones included.
    Webgpu,
    Cpu,
}

impl std::str::FromStr for Preference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "" | "auto" => Ok(Self::Auto),
            "webgpu" | "gpu" => Ok(Self::Webgpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!(
                "unknown backend \"{other}\": use \"auto\", \"webgpu\" or \"cpu\""
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Webgpu,
    Cpu,
}

/// The decision and the sentence that explains it to the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub backend: Backend,
    pub reason: String,
}

/// Decide the backend from the preference and the adapter the browser offers
/// (`None`: no WebGPU, or no adapter).
pub fn choose(preference: Preference, adapter: Option<&AdapterInfo>) -> Choice {
    let choice = |backend, reason: String| Choice { backend, reason };
    match (preference, adapter) {
        (Preference::Cpu, _) => choice(Backend::Cpu, "the CPU path was requested".into()),
        (_, None) => choice(
            Backend::Cpu,
            "this browser offers no WebGPU adapter, so the model runs on the CPU (WebAssembly)"
                .into(),
        ),
        (Preference::Webgpu, Some(a)) => choice(
            Backend::Webgpu,
            format!("WebGPU was requested; adapter: {}", a.label()),
        ),
        (Preference::Auto, Some(a)) if a.is_software() => choice(
            Backend::Cpu,
            format!(
                "the WebGPU adapter ({}) is a software adapter, slower than the CPU path",
                a.label()
            ),
        ),
        (Preference::Auto, Some(a)) => {
            choice(Backend::Webgpu, format!("hardware WebGPU adapter: {}", a.label()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swiftshader() -> AdapterInfo {
        AdapterInfo { vendor: "google".into(), architecture: "swiftshader".into(), ..Default::default() }
    }

    fn nvidia() -> AdapterInfo {
        AdapterInfo { vendor: "nvidia".into(), architecture: "ampere".into(), ..Default::default() }
    }

    #[test]
    fn software_adapters_are_recognised_by_name_or_flag() {
        assert!(swiftshader().is_software());
        assert!(AdapterInfo { is_fallback_adapter: true, ..nvidia() }.is_software());
        assert!(AdapterInfo { description: "llvmpipe (LLVM 15.0.6)".into(), ..Default::default() }.is_software());
        assert!(!nvidia().is_software());
    }

    #[test]
    fn auto_prefers_hardware_gpu_and_avoids_software_ones() {
        assert_eq!(choose(Preference::Auto, Some(&nvidia())).backend, Backend::Webgpu);
        let soft = choose(Preference::Auto, Some(&swiftshader()));
        assert_eq!(soft.backend, Backend::Cpu);
        assert!(soft.reason.contains("software adapter"), "{}", soft.reason);
        assert_eq!(choose(Preference::Auto, None).backend, Backend::Cpu);
    }

    #[test]
    fn explicit_preferences_are_honoured_when_possible() {
        assert_eq!(choose(Preference::Webgpu, Some(&swiftshader())).backend, Backend::Webgpu);
        assert_eq!(choose(Preference::Webgpu, None).backend, Backend::Cpu);
        assert_eq!(choose(Preference::Cpu, Some(&nvidia())).backend, Backend::Cpu);
    }

    #[test]
    fn preference_parsing_names_the_valid_values() {
        assert_eq!("webgpu".parse::<Preference>(), Ok(Preference::Webgpu));
        let err = "cuda".parse::<Preference>().unwrap_err();
        assert!(err.contains("\"auto\", \"webgpu\" or \"cpu\""), "{err}");
    }
}
