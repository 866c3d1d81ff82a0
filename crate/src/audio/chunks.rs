//! Which 16 mel columns (0.2 s) drive each output video frame, and which
//! source frame each output frame shows.

/// Mel columns per second (16 kHz / hop 200) and per chunk.
pub const COLUMNS_PER_SECOND: f64 = 80.0;
pub const CHUNK: usize = 16;

/// When the video's frames are shown.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameClock {
    /// A constant frame rate, e.g. 25, 29.97 (30000/1001), 60.
    Constant { fps: f64 },
    /// Each frame's presentation time in seconds from the first (variable
    /// frame rate); past the last, frames continue at the mean interval.
    Timestamps(Vec<f64>),
}

impl FrameClock {
    /// The first mel column of output frame `i`. For a constant rate this is
    /// the original's `int(i * (80. / fps))`, float rounding included.
    fn start(&self, i: usize) -> usize {
        match self {
            Self::Constant { fps } => (i as f64 * (COLUMNS_PER_SECOND / fps)) as usize,
            Self::Timestamps(times) => {
                let t = match times.get(i) {
                    Some(&t) => t,
                    None => {
                        let (first, last) = (times[0], times[times.len() - 1]);
                        let interval = if times.len() > 1 { (last - first) / (times.len() - 1) as f64 } else { 1.0 / 25.0 };
                        last + interval * (i + 1 - times.len()) as f64
                    }
                };
                ((t - times[0]).max(0.0) * COLUMNS_PER_SECOND) as usize
            }
        }
    }

    fn is_valid(&self) -> bool {
        match self {
            Self::Constant { fps } => fps.is_finite() && *fps > 0.0,
            Self::Timestamps(times) => !times.is_empty() && times.iter().all(|t| t.is_finite()),
        }
    }
}

/// The first column of each output frame's chunk, for a spectrogram of
/// `columns` columns: one frame per chunk until the audio ends; the last
/// chunk is the final 16 columns. The output has exactly this many frames,
/// whatever the video's length (see [`source_frame`]).
pub fn chunk_starts(clock: &FrameClock, columns: usize) -> Result<Vec<usize>, String> {
    if !clock.is_valid() {
        return Err(format!("the video's frame timing is unusable ({clock:?})"));
    }
    long_enough(columns)?;
    let mut starts = Vec::with_capacity((columns as f64 / COLUMNS_PER_SECOND * 60.0) as usize + 1);
    for i in 0.. {
        let start = clock.start(i);
        if start + CHUNK > columns {
            starts.push(columns - CHUNK);
            break;
        }
        starts.push(start);
    }
    Ok(starts)
}

/// A spectrogram of `columns` columns holds at least one chunk.
pub fn long_enough(columns: usize) -> Result<(), String> {
    if columns < CHUNK {
        return Err(format!(
            "the voice recording is {:.2} s long; lip sync needs at least 0.2 s of audio",
            columns.saturating_sub(1) as f64 / COLUMNS_PER_SECOND
        ));
    }
    Ok(())
}

/// The source frame shown as output frame `i` of a video with `frames`
/// frames: forward, then backward, then forward again (a ping-pong loop,
/// which hides the jump the original makes back to frame 0).
pub fn source_frame(i: usize, frames: usize) -> usize {
    if frames <= 1 {
        return 0;
    }
    let period = 2 * (frames - 1);
    let k = i % period;
    if k < frames { k } else { period - k }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original loop from `inference.py`, transcribed.
    fn original(fps: f64, columns: usize) -> Vec<usize> {
        let multiplier = 80.0 / fps;
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            let start = (i as f64 * multiplier) as usize;
            if start + 16 > columns {
                out.push(columns - 16);
                return out;
            }
            out.push(start);
            i += 1;
        }
    }

    #[test]
    fn constant_rates_follow_the_original_formula() {
        for fps in [25.0, 30000.0 / 1001.0, 29.97, 30.0, 60.0, 24.0, 12.5] {
            for columns in [16, 17, 719, 4801, 80 * 3600 + 1] {
                assert_eq!(chunk_starts(&FrameClock::Constant { fps }, columns).unwrap(), original(fps, columns), "{fps} fps, {columns}");
            }
        }
        // 25 fps: 3.2 columns per frame; 719 columns (8.98 s) give 220 frames.
        let starts = chunk_starts(&FrameClock::Constant { fps: 25.0 }, 719).unwrap();
        assert_eq!(&starts[..6], [0, 3, 6, 9, 12, 16]);
        assert_eq!((starts.len(), *starts.last().unwrap()), (221, 703));
        assert_eq!(starts[40], 128);
    }

    #[test]
    fn variable_frame_rate_uses_each_timestamp() {
        // 10 frames at 30 fps, a 0.1 s stall, then 10 at 60 fps; times from the first.
        let mut times: Vec<f64> = (0..10).map(|i| 1.0 + i as f64 / 30.0).collect();
        let resume = times[9] + 0.1;
        times.extend((0..10).map(|i| resume + i as f64 / 60.0));
        let starts = chunk_starts(&FrameClock::Timestamps(times.clone()), 400).unwrap();
        for (i, &t) in times.iter().enumerate() {
            assert_eq!(starts[i], ((t - 1.0) * 80.0) as usize, "frame {i}");
        }
        // Past the last timestamp: the mean interval.
        let interval = (times[19] - times[0]) / 19.0;
        assert_eq!(starts[20], ((times[19] + interval - 1.0) * 80.0) as usize);
        assert_eq!(*starts.last().unwrap(), 400 - 16);
    }

    #[test]
    fn short_audio_and_bad_clocks_are_errors() {
        let e = chunk_starts(&FrameClock::Constant { fps: 25.0 }, 10).unwrap_err();
        assert!(e.contains("at least 0.2 s"), "{e}");
        assert!(chunk_starts(&FrameClock::Constant { fps: 0.0 }, 100).is_err());
        assert!(chunk_starts(&FrameClock::Constant { fps: f64::NAN }, 100).is_err());
        assert!(chunk_starts(&FrameClock::Timestamps(vec![]), 100).is_err());
        // Exactly one chunk of audio: the original's loop takes it, then takes
        // the final 16 columns again as its closing chunk (two frames).
        assert_eq!(chunk_starts(&FrameClock::Constant { fps: 25.0 }, 16).unwrap(), [0, 0]);
    }

    #[test]
    fn long_audio_ping_pongs_through_the_video() {
        let shown: Vec<usize> = (0..12).map(|i| source_frame(i, 4)).collect();
        assert_eq!(shown, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]);
        assert_eq!(source_frame(7, 1), 0);
        assert_eq!(source_frame(5, 2), 1);
    }
}
