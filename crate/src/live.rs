//! Live: the face speaks what the microphone hears, as it happens.
//!
//! The sound arrives in small pieces ([`LiveVoice::hear`]) and its
//! spectrogram is computed as it comes; frames (from a camera, or a photo or
//! video shown in a loop) go through a live [`Job`](crate::job::Job::live)
//! one at a time.
//!
//! Time is the sound's: `t` is seconds from the first sample heard. As in
//! the original, the frame at `t` is driven by the 16 mel columns from
//! `int(80 t)` on: the 0.2 s of sound from `t`. So a frame can be made only
//! once that sound has arrived: 0.2 s (and the STFT's half window, 25 ms,
//! and up to 48 ms of resampling from 48 kHz) after its moment, plus the
//! compute. The caller delays what it shows
//! and plays by as much, so that picture and sound stay together.

use crate::audio::chunks::{CHUNK, COLUMNS_PER_SECOND};
use crate::audio::voice::VoiceBuilder;
use crate::generate::MEL_VALUES;

/// A voice heard live: its spectrogram so far, older columns forgotten as
/// frames move past them (memory stays flat however long it runs).
pub struct LiveVoice {
    builder: VoiceBuilder,
}

impl LiveVoice {
    /// Sound of `channels` interleaved channels at `sample_rate` Hz.
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, String> {
        Ok(Self { builder: VoiceBuilder::live(sample_rate, channels)? })
    }

    /// The next piece of sound, any length.
    pub fn hear(&mut self, interleaved: &[f32]) -> Result<(), String> {
        self.builder.push(interleaved)
    }

    /// The latest moment whose frame can be made now (seconds from the
    /// first sample): its 0.2 s of sound have arrived. None before that.
    pub fn ready_until(&mut self) -> Option<f64> {
        let columns = self.builder.mel().columns();
        (columns >= CHUNK).then(|| (columns - CHUNK) as f64 / COLUMNS_PER_SECOND)
    }

    /// The generator's sound input for the frame at `t` (`[80, 16]`
    /// row-major). Frames come in time order: the sound before this frame's
    /// is forgotten. An error says the sound is not there (yet, or any more).
    pub fn window(&mut self, t: f64) -> Result<Vec<f32>, String> {
        // The original's int(i * 80 / fps) for a frame at i / fps.
        let start = (t.max(0.0) * COLUMNS_PER_SECOND) as usize;
        let mel = self.builder.mel();
        let mut window = vec![0.0; MEL_VALUES];
        if !mel.window_into(start, CHUNK, &mut window) {
            let ready = mel.columns().saturating_sub(CHUNK) as f64 / COLUMNS_PER_SECOND;
            return Err(format!("no sound for the frame at {t:.3} s: sound is there for frames up to {ready:.3} s, and only from the last frame made on"));
        }
        mel.forget_before(start);
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::audio::chunks::FrameClock;
    use crate::audio::voice::VoiceBuilder;
    use crate::framing::Options;
    use crate::job::Job;
    use crate::testdata::{block_on, detector};

    /// The speech fixture at 16 kHz, as a microphone would send it: in
    /// pieces of 128 samples (an audio worklet's).
    fn heard_in_pieces(voice: &mut LiveVoice, samples: &[f32]) {
        for piece in samples.chunks(128) {
            voice.hear(piece).unwrap();
        }
    }

    #[test]
    fn live_windows_are_the_whole_recordings_and_old_sound_is_forgotten() {
        let speech = crate::testdata::speech16k();
        let whole = {
            let mut b = VoiceBuilder::new(16_000, 1).unwrap();
            b.push(&speech).unwrap();
            b.finish().mel
        };
        let mut live = LiveVoice::new(16_000, 1).unwrap();
        assert_eq!(live.ready_until(), None);
        // Half a second in: frames up to 0.3 s minus the half window can be made.
        heard_in_pieces(&mut live, &speech[..8000]);
        let ready = live.ready_until().unwrap();
        assert!((0.25..=0.3).contains(&ready), "{ready}");
        assert!(live.window(ready + 0.02).unwrap_err().contains("no sound for the frame"));
        heard_in_pieces(&mut live, &speech[8000..]);
        // Frames at 25 fps, every other one (frames dropped): each window is
        // the whole recording's, to the bit.
        let fps = 25.0;
        let mut expected = vec![0.0; MEL_VALUES];
        let mut made = 0;
        for i in (0..).step_by(2) {
            let t = i as f64 / fps;
            if t > live.ready_until().unwrap() {
                break;
            }
            let window = live.window(t).unwrap();
            whole.window_into((i as f64 * (80.0 / fps)) as usize, CHUNK, &mut expected);
            assert_eq!(window, expected, "frame {i}");
            made += 1;
        }
        assert!(made > 10, "{made} frames");
        // What came before the last frame is gone: memory does not grow.
        assert!(live.window(0.0).unwrap_err().contains("only from the last frame"));
        assert!(live.builder.mel().columns() > 100);
    }

    /// A live job gives the frame a file job gives for the same face and the
    /// same 0.2 s of sound, one frame per push.
    #[test]
    fn a_live_frame_is_the_file_jobs_frame_for_the_same_sound() {
        let (photo, w, h) = crate::testdata::astronaut();
        let speech = crate::testdata::speech16k();
        let generator = crate::generate::Generator::on_cpu(crate::formula::weights(7)).unwrap();
        let detector = detector();
        let whole = {
            let mut b = VoiceBuilder::new(16_000, 1).unwrap();
            b.push(&speech[..16_000]).unwrap();
            b.finish().mel
        };
        let options = Options { smoothing: 1, still: false, ..Options::default() };
        let mut file = Job::new(options.clone(), (w, h), &FrameClock::Constant { fps: 25.0 }, whole, 1, None).unwrap();
        let mut expected = Vec::new();
        for _ in 0..6 {
            file.push(photo.clone(), Some(&detector), None).unwrap();
            expected.extend(block_on(file.drain(&generator)).unwrap());
        }

        let mut voice = LiveVoice::new(16_000, 1).unwrap();
        heard_in_pieces(&mut voice, &speech[..16_000]);
        let mut live = Job::live(options, (w, h), None).unwrap();
        assert!(live.push(photo.clone(), Some(&detector), None).is_err(), "a live frame needs its sound");
        // Frames 0, 2 and 5 (the others dropped), each out as soon as it is in.
        for i in [0, 2, 5] {
            live.push_live(photo.clone(), i as f64 / 25.0, voice.window(i as f64 / 25.0).unwrap(), Some(&detector), None).unwrap();
            let out = block_on(live.drain(&generator)).unwrap();
            assert_eq!(out.len(), 1);
            assert!(out[0] == expected[i], "frame {i}");
        }
        assert!(expected[0] != expected[5], "the mouth moves with the sound");
    }

    /// Detecting every third frame, the face's mesh following it between:
    /// a third of the detections, crops within a few pixels of detecting
    /// every frame on a moving face.
    #[test]
    fn the_mesh_follows_the_face_between_detections() {
        let (width, height) = (640, 360);
        let clip = crate::testdata::pan_zoom_clip(12, width, height);
        let (detector, mesh) = (detector(), crate::testdata::mesh());
        let crops = |every: usize| {
            let options = Options { smoothing: 1, detect_every: every, ..Options::default() };
            let mut job = Job::live(options, (width, height), None).unwrap();
            let mut crops = Vec::new();
            for (i, frame) in clip.iter().enumerate() {
                job.push_live(frame.clone(), i as f64 / 25.0, vec![0.0; MEL_VALUES], Some(&detector), Some(&mesh)).unwrap();
                let batch = job.next_batch().unwrap();
                crops.push(batch.frames[0].1.as_ref().expect("a face in every frame").crop);
            }
            (crops, job.timings())
        };
        let (every, all) = crops(1);
        let (third, some) = crops(3);
        assert_eq!((all.detections, some.detections), (12, 4));
        let off: Vec<i32> = every.iter().zip(&third).map(|(a, b)| (0..4).map(|k| (a[k] - b[k]).abs()).max().unwrap()).collect();
        let step: Vec<i32> = every.windows(2).map(|w| (0..4).map(|k| (w[0][k] - w[1][k]).abs()).max().unwrap()).collect();
        println!("crop corners off by {off:?} px detecting every third frame; the crop moves {step:?} px a frame");
        // The clip pans fast (the crop moves 7–20 px a frame): holding the
        // box would be off by one or two frames' motion; followed, it is
        // off by less than one frame's, about as much as the detector's own
        // frame-to-frame tremble.
        let side = every[0][2] - every[0][0];
        assert!(off.iter().all(|&d| d <= side / 8), "{off:?} (crop {side} px)");
        let mean = |v: &[i32]| v.iter().sum::<i32>() as f32 / v.len() as f32;
        let tracked: Vec<i32> = off.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, &d)| d).collect();
        assert!(mean(&tracked) < mean(&step), "off by {} px on followed frames; it moves {} px a frame", mean(&tracked), mean(&step));
    }

    /// A still camera in a silence: the generated mouth holds still. The
    /// camera's frames differ only by sensor noise; the detector runs on
    /// one frame in three and the mesh follows between, whose boxes differ
    /// by a pixel or two, which without steadying gave the generator a new
    /// crop and a new mouth on about a third of the frames.
    #[test]
    fn a_still_camera_in_silence_gives_a_still_mouth() {
        let (w, h) = (640, 360);
        let still = crate::testdata::wide_shot(150.0, [330.0, 170.0], w, h);
        let generator = crate::generate::Generator::on_cpu(crate::formula::weights(7)).unwrap();
        let (detector, mesh) = (detector(), crate::testdata::mesh());
        let face = detector.detect(&crate::detect::Rgba { pixels: &still, width: w, height: h }).unwrap().remove(0);
        let [mx, my] = face.keypoints[3];
        let half = (face.bbox[2] - face.bbox[0]) / 4.0;
        let (x1, x2, y1, y2) = ((mx - half) as usize, (mx + half) as usize, (my - half / 2.0) as usize, (my + half) as usize);
        // Mean absolute change of the mouth's region from one frame to the next.
        let change = |a: &[u8], b: &[u8]| {
            let mut sum = 0.0;
            for y in y1..y2 {
                for x in x1..x2 {
                    for c in 0..3 {
                        sum += (a[(y * w + x) * 4 + c] as f32 - b[(y * w + x) * 4 + c] as f32).abs();
                    }
                }
            }
            sum / (3 * (x2 - x1) * (y2 - y1)) as f32
        };
        let options = Options { detect_every: 3, ..Options::default() };
        let mut job = Job::live(options, (w, h), None).unwrap();
        let silence = vec![-4.0; MEL_VALUES];
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for i in 0..24 {
            // Sensor noise of ±2 grey levels.
            let noise = crate::testdata::pseudo(still.len(), 99 + i);
            let frame: Vec<u8> = still.iter().zip(noise).map(|(&v, n)| (v as f32 + (4.0 * n).round()).clamp(0.0, 255.0) as u8).collect();
            // Six frames a second, as this machine's CPU path makes them.
            job.push_live(frame.clone(), i as f64 / 6.0, silence.clone(), Some(&detector), Some(&mesh)).unwrap();
            outputs.extend(block_on(job.drain(&generator)).unwrap());
            inputs.push(frame);
        }
        // Past the first frames (the filter settling), how much more the
        // mouth changes than the camera's own noise does.
        let excess: Vec<f32> = (4..inputs.len()).map(|i| change(&outputs[i], &outputs[i - 1]) - change(&inputs[i], &inputs[i - 1])).collect();
        let moved = excess.iter().filter(|&&e| e > 1.0).count();
        println!("the mouth's change beyond the camera's noise, frame to frame: {excess:.2?} grey levels");
        assert!(moved * 10 <= excess.len(), "{moved} of {} silent frames change the mouth by more than 1 grey level", excess.len());
    }
}

