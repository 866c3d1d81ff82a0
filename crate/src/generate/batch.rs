//! How many frames go through the generator at once, found while a job
//! runs. A GPU's time per frame falls as batches grow until its cores are
//! full, then flattens while memory keeps growing; where it flattens
//! depends on the GPU (a software adapter is flat from the start). So the
//! job's own batches are the measurement: each size is tried once, doubling
//! while a frame gets at least 10 % cheaper, and the best is kept. No frame
//! is computed twice and nothing is run just to measure.

/// The least gain per frame worth doubling the batch (and its memory) for.
const WORTH_IT: f64 = 0.9;

#[derive(Clone, Debug, PartialEq)]
pub struct Tuner {
    size: usize,
    max: usize,
    /// The first batch pays for compiling the kernels and is not a measure.
    warm: bool,
    best: Option<(usize, f64)>,
    settled: bool,
}

impl Tuner {
    /// Start at `start` frames, never past `max`.
    pub fn new(start: usize, max: usize) -> Self {
        let max = max.max(1);
        Self { size: start.clamp(1, max), max, warm: false, best: None, settled: false }
    }

    /// The batch size to use next.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the search is over.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// A batch of `frames` took `ms`. Only full batches measure the size
    /// (the last one of a job is often short).
    pub fn record(&mut self, frames: usize, ms: f64) {
        if self.settled || frames != self.size || !ms.is_finite() || ms < 0.0 {
            return;
        }
        if !self.warm {
            self.warm = true;
            return;
        }
        let per_frame = ms / frames as f64;
        match self.best {
            Some((_, best)) if per_frame > best * WORTH_IT => self.settle(),
            _ => {
                self.best = Some((self.size, per_frame));
                if self.size * 2 <= self.max { self.size *= 2 } else { self.settle() }
            }
        }
    }

    fn settle(&mut self) {
        self.settled = true;
        if let Some((size, _)) = self.best {
            self.size = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds full batches timed by `ms_per_frame(size)` until the tuner settles.
    fn tune(mut tuner: Tuner, ms_per_frame: impl Fn(usize) -> f64) -> (usize, Vec<usize>) {
        let mut tried = Vec::new();
        while !tuner.settled() {
            let size = tuner.size();
            tried.push(size);
            tuner.record(size, ms_per_frame(size) * size as f64);
            assert!(tried.len() < 20, "never settles: {tried:?}");
        }
        (tuner.size(), tried)
    }

    #[test]
    fn a_gpu_that_fills_up_settles_where_frames_stop_getting_cheaper() {
        // 20 ms of fixed cost per batch plus 4 ms a frame: 14, 9, 6.5, 5.25, 4.6, 4.3 ms/frame.
        let (size, tried) = tune(Tuner::new(2, 64), |b| 20.0 / b as f64 + 4.0);
        assert_eq!(tried, [2, 2, 4, 8, 16, 32, 64]);
        assert_eq!(size, 32, "64 saves under 10 % a frame");
    }

    #[test]
    fn a_flat_adapter_keeps_the_first_size() {
        let (size, tried) = tune(Tuner::new(2, 32), |_| 6000.0);
        assert_eq!((size, tried), (2, vec![2, 2, 4]));
    }

    #[test]
    fn the_size_never_passes_the_limit() {
        let (size, _) = tune(Tuner::new(4, 16), |b| 100.0 / b as f64);
        assert_eq!(size, 16);
        assert_eq!(Tuner::new(64, 8).size(), 8);
        assert_eq!(Tuner::new(0, 8).size(), 1);
    }

    #[test]
    fn the_warm_up_and_short_batches_do_not_count() {
        let mut tuner = Tuner::new(4, 32);
        tuner.record(4, 1e6); // compiling the kernels
        tuner.record(3, 1.0); // a job's short last batch
        assert_eq!(tuner.size(), 4);
        tuner.record(4, 400.0);
        assert_eq!(tuner.size(), 8);
        tuner.record(8, 1200.0); // slower a frame: back to 4
        assert!(tuner.settled());
        assert_eq!(tuner.size(), 4);
    }
}
