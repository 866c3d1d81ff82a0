//! A face held still in live mode, without waiting for later frames.
//!
//! A file job steadies its crop as the original does, by averaging 5
//! frames around each one, which looks 4 frames ahead. Live mode cannot
//! wait, so it filters causally: the One Euro filter (Casiez, Roussel and
//! Vogel, CHI 2012; MediaPipe steadies its face landmarks with it), whose
//! cutoff rises with the face's speed — heavy smoothing while the face is
//! still, little lag once it moves. Any change of the crop, even by a pixel,
//! gives the generator a different input and a different mouth, so on top
//! of the filter the face is held where it was until the filtered face has
//! moved by more than [`HOLD`] of its height.

use crate::detect::Face;

/// Cutoff (Hz) of a still face's position.
const MIN_CUTOFF: f32 = 0.3;
/// How fast the cutoff rises with speed (per face height per second).
const BETA: f32 = 10.0;
/// Cutoff (Hz) of the speed estimate itself.
const SPEED_CUTOFF: f32 = 1.0;
/// A held face moves once the filtered one is this far off (a fraction of
/// its height, and at least 1.5 px).
const HOLD: f32 = 0.01;

/// One Euro filter over one value (in face heights, so its settings hold
/// for a face of any size).
#[derive(Clone, Debug, Default)]
struct OneEuro {
    value: Option<f32>,
    speed: f32,
}

/// The low-pass weight of a new sample `dt` seconds after the last at `cutoff` Hz.
fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    fn filter(&mut self, x: f32, dt: f32) -> f32 {
        let Some(last) = self.value else {
            self.value = Some(x);
            return x;
        };
        let speed = (x - last) / dt;
        self.speed += alpha(SPEED_CUTOFF, dt) * (speed - self.speed);
        let cutoff = MIN_CUTOFF + BETA * self.speed.abs();
        let value = last + alpha(cutoff, dt) * (x - last);
        self.value = Some(value);
        value
    }
}

/// Box and keypoints: 4 + 12 values.
const VALUES: usize = 16;

fn values(face: &Face) -> [f32; VALUES] {
    let mut v = [0.0; VALUES];
    v[..4].copy_from_slice(&face.bbox);
    for (k, p) in face.keypoints.iter().enumerate() {
        v[4 + 2 * k] = p[0];
        v[5 + 2 * k] = p[1];
    }
    v
}

fn with_values(face: &Face, v: &[f32; VALUES]) -> Face {
    let mut out = face.clone();
    out.bbox.copy_from_slice(&v[..4]);
    for (k, p) in out.keypoints.iter_mut().enumerate() {
        *p = [v[4 + 2 * k], v[5 + 2 * k]];
    }
    out
}

/// One face's box and keypoints through time.
#[derive(Debug, Default)]
pub struct Steady {
    filters: [OneEuro; VALUES],
    last_time: Option<f64>,
    held: Option<Face>,
}

impl Steady {
    /// The face to use for a frame at `time` seconds, given where it was
    /// found (frames in time order).
    pub fn push(&mut self, face: &Face, time: f64) -> Face {
        let height = (face.bbox[3] - face.bbox[1]).max(1.0);
        let dt = match self.last_time {
            // Frames at the same moment (or out of order) count as 1 ms apart.
            Some(last) => ((time - last) as f32).max(1e-3),
            None => 1.0,
        };
        self.last_time = Some(time);
        let raw = values(face);
        let filtered: [f32; VALUES] = std::array::from_fn(|i| self.filters[i].filter(raw[i] / height, dt) * height);
        let limit = (HOLD * height).max(1.5);
        let still = self.held.as_ref().is_some_and(|held| values(held).iter().zip(filtered).all(|(a, b)| (a - b).abs() <= limit));
        if !still {
            self.held = Some(with_values(face, &filtered));
        }
        self.held.clone().expect("held above")
    }

    /// The face is gone: the next one starts afresh.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;

    fn face(x: f32, y: f32) -> Face {
        Face { score: 0.9, bbox: [x, y, x + 100.0, y + 120.0], keypoints: [[x + 50.0, y + 90.0]; crate::detect::blazeface::KEYPOINTS] }
    }

    #[test]
    fn a_still_face_that_trembles_is_held_exactly() {
        let mut steady = Steady::default();
        let mut out = Vec::new();
        for i in 0..60 {
            // ±2 px of detector tremble, alternating as detector and mesh frames do.
            let jitter = [0.0, 2.0, -1.5, 1.0, -2.0][i % 5];
            out.push(steady.push(&face(300.0 + jitter, 200.0 - jitter), i as f64 / 6.0));
        }
        let changes = out.windows(2).skip(5).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 0, "{:?}", out.iter().map(|f| f.bbox[0]).collect::<Vec<_>>());
    }

    #[test]
    fn a_moving_face_is_followed_with_little_lag() {
        let mut steady = Steady::default();
        // 100 px a second (a head turning to look aside), 6 frames a second.
        let mut lag = 0.0f32;
        for i in 0..30 {
            let t = i as f64 / 6.0;
            let x = 300.0 + 100.0 * t as f32;
            lag = x - steady.push(&face(x, 200.0), t).bbox[0];
        }
        assert!((0.0..12.0).contains(&lag), "{lag} px behind");
    }
}
