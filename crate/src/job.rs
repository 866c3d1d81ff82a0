//! One lip-sync job, the whole pipeline on a stream of frames: each source
//! frame in output order → shrunk ([`framing::shrink`]) → faces
//! ([`detect`]) → where the face is ([`framing`]) → the generator's inputs
//! ([`crop`]) → a batch through the generator ([`Runner`]) → blended back ([`blend`])
//! → the disclosure [`label`] → out, in order.
//!
//! The job holds only the frames still waiting: those whose face box the
//! smoothing has not settled yet and one batch. Memory does not grow with
//! the video's length; the caller decodes and encodes around it.
//!
//! The sound sets the length: there is one output frame per mel chunk
//! ([`chunk_starts`]), and the caller feeds source frames in the order
//! [`Job::sources`] gives (a video shorter than the voice plays forward and
//! back; a photo is one frame shown throughout). A live job ([`Job::live`])
//! has no length: each frame comes with its own 0.2 s of sound
//! ([`crate::live`]).

use std::collections::VecDeque;
use std::rc::Rc;

use crate::audio::chunks::{CHUNK, FrameClock, chunk_starts, source_frame};
use crate::audio::mel::Mel;
use crate::blend::{Mask, MaskShape, blend};
use crate::crop::{FACE, generator_input_turned};
use crate::detect::{Detector, Rgba};
use crate::framing::{self, Framing, MaskKind, Options, Placement, Shape};
use crate::landmarks::{Landmarks, Mesh, Roi};
use crate::generate::batch::Tuner;
use crate::generate::{FACE_VALUES, MEL_VALUES, Runner};
use crate::label::Label;

/// A frame waiting in the job: RGBA pixels at the output size.
type Frame = Vec<u8>;

/// Where a job's time went, in ms summed over its frames (when it has a
/// clock, [`Job::time_with`]): what the CPU does around the generator, and
/// the generator.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Timings {
    /// Shrinking and face detection.
    pub detect: f64,
    /// Following the face: the mesh, framing, smoothing.
    pub mesh: f64,
    /// The generator's inputs: crops and mel windows.
    pub inputs: f64,
    pub generate: f64,
    /// Blending the faces back, and the label.
    pub blend: f64,
    /// Frames the detector ran on (the others followed by the mesh, or
    /// without detection at all: a fixed box, a still).
    pub detections: usize,
}

/// The largest frame a job works on: 4096×2304 pixels (4K and a little
/// more). A job holds about fifteen frames at once (the smoothing's five,
/// a batch, the one being encoded), each 4 bytes a pixel: 600 MB here,
/// already much of what a browser tab gets; 8K frames would need 2 GB.
pub const MAX_FRAME_PIXELS: usize = 4096 * 2304;

/// While no face is followed, the search for small faces (the detector's
/// tiles) runs on one frame in this many at least (0.2 s at 25 frames a
/// second), or in half as many as it takes looks (a 4K search is 70 looks:
/// one frame in 36), so that a long shot without a face costs about three
/// looks a frame; the frames between get one look at the whole frame.
const SEARCH_EVERY: usize = 5;

/// `batch` if a batch can hold it: one frame or more.
fn batch_size(batch: usize) -> Result<usize, String> {
    if batch == 0 {
        return Err("the batch size must be 1 or more".into());
    }
    Ok(batch)
}

/// The smallest resize factor that brings `width`×`height` frames within
/// [`MAX_FRAME_PIXELS`] (1 for most videos).
pub fn shrink_needed(width: usize, height: usize) -> usize {
    (1..).find(|f| (width / f) * (height / f) <= MAX_FRAME_PIXELS).expect("a large enough factor fits")
}

/// The sound the lips follow.
enum Sound {
    /// A whole recording: frame `i` uses the chunk from column `starts[i]`.
    Voice { mel: Rc<Mel>, starts: Vec<usize> },
    /// Live: each frame brings its generator input (`[80, 16]`);
    /// `windows[0]` is output frame `first`'s.
    Live { windows: VecDeque<Vec<f32>>, first: usize },
}

pub struct Job {
    framing: Framing,
    factor: usize,
    /// Source frame size, and output frame size (shrunk by `factor`).
    source: (usize, usize),
    width: usize,
    height: usize,
    /// The voice's spectrogram (shared with whoever else holds it), or a
    /// live voice's windows.
    sound: Sound,
    batch: usize,
    /// When the batch size is being found (in place of `batch`): the
    /// tuner, and a clock in ms.
    tuner: Option<(Tuner, fn() -> f64)>,
    label: Option<Label>,
    mask: MaskKind,
    sharpen: bool,
    /// Where the mesh looks next: the square around the last frame's mesh
    /// (MediaPipe's tracking).
    mesh_roi: Option<Roi>,
    /// Frames since the detector last ran ([`Options::detect_every`]).
    since_detection: usize,
    /// Frames without a followed face since the last whole search (the
    /// first frame gets one).
    since_search: usize,
    /// A clock in ms, and the time spent so far by stage.
    clock: Option<fn() -> f64>,
    timings: Timings,
    /// Frames whose placement the smoothing has not settled yet.
    unplaced: VecDeque<Frame>,
    placed: VecDeque<(Frame, Option<Placement>)>,
    pushed: usize,
    /// Output index of the first frame in `placed`.
    next_out: usize,
    finished: bool,
}

/// Frames on their way through the generator: `mel` and `face` are its
/// inputs for the `faces` frames that have a face, in order.
pub struct Batch {
    pub(crate) frames: Vec<(Frame, Option<Placement>)>,
    pub mel: Vec<f32>,
    pub face: Vec<f32>,
    pub faces: usize,
}

impl Job {
    /// A job for source frames of `width`×`height` shown on `clock`, lips
    /// following `mel`, `batch` frames per generator run.
    pub fn new(
        options: Options,
        (width, height): (usize, usize),
        clock: &FrameClock,
        mel: impl Into<Rc<Mel>>,
        batch: usize,
        label: Option<Label>,
    ) -> Result<Self, String> {
        Self::with_sound(options, (width, height), batch, label, || {
            let mel: Rc<Mel> = mel.into();
            let starts = chunk_starts(clock, mel.columns())?;
            Ok(Sound::Voice { mel, starts })
        })
    }

    /// A job on frames of `width`×`height` once they are found workable,
    /// following the sound `sound` gives (checked after the frames).
    fn with_sound(options: Options, (width, height): (usize, usize), batch: usize, label: Option<Label>, sound: impl FnOnce() -> Result<Sound, String>) -> Result<Self, String> {
        if width == 0 || height == 0 {
            return Err(format!("the video's frames are {width}×{height} pixels"));
        }
        let batch = batch_size(batch)?;
        let factor = options.resize_factor.max(1);
        let (out_w, out_h) = (width / factor, height / factor);
        if out_w * out_h > MAX_FRAME_PIXELS {
            let needed = shrink_needed(width, height);
            return Err(format!(
                "frames of {width}×{height}{} are more than a browser tab can hold while they are worked on (up to {:.1} megapixels, 4K); choose “Shrink frames by {needed}” in Options",
                if factor > 1 { format!(" shrunk by {factor}") } else { String::new() },
                MAX_FRAME_PIXELS as f64 / 1e6,
            ));
        }
        if out_w < FACE / 2 || out_h < FACE / 2 {
            return Err(format!(
                "frames of {width}×{height} shrunk by {factor} are {out_w}×{out_h} pixels, too small for a face; use a smaller resize factor"
            ));
        }
        let sound = sound()?;
        let (mask, sharpen) = (options.mask, options.sharpen);
        let framing = Framing::new(options, out_w, out_h)?;
        Ok(Self {
            framing,
            factor,
            source: (width, height),
            width: out_w,
            height: out_h,
            sound,
            batch,
            tuner: None,
            label,
            mask,
            sharpen,
            mesh_roi: None,
            since_detection: 0,
            since_search: 0,
            clock: None,
            timings: Timings::default(),
            unplaced: VecDeque::new(),
            placed: VecDeque::new(),
            pushed: 0,
            next_out: 0,
            finished: false,
        })
    }

    /// A live job: frames of `width`×`height` come one at a time, each with
    /// its own 0.2 s of sound ([`Job::push_live`]), and each leaves at once,
    /// one generator run per frame. No smoothing: it would hold each frame
    /// back until later frames arrived (the original looks 4 frames ahead).
    pub fn live(options: Options, (width, height): (usize, usize), label: Option<Label>) -> Result<Self, String> {
        let options = Options { smoothing: 1, ..options };
        let mut job = Self::with_sound(options, (width, height), 1, label, || Ok(Sound::Live { windows: VecDeque::new(), first: 0 }))?;
        job.framing = job.framing.steadied();
        Ok(job)
    }

    /// How many frames the output has: one per chunk of the voice
    /// (`usize::MAX` live: as many as come).
    pub fn frames(&self) -> usize {
        match &self.sound {
            Sound::Voice { starts, .. } => starts.len(),
            Sound::Live { .. } => usize::MAX,
        }
    }

    /// The output's frame size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Which source frame each output frame shows, for a video of
    /// `source_frames` frames.
    pub fn sources(&self, source_frames: usize) -> Vec<usize> {
        (0..self.frames()).map(|i| source_frame(i, source_frames)).collect()
    }

    /// The next source frame (RGBA at the source size); `detector` is
    /// needed unless the options fixed the box; with `mesh`, the face's
    /// mesh shapes the mask (when the options ask for it).
    pub fn push(&mut self, rgba: Vec<u8>, detector: Option<&Detector>, mesh: Option<&Mesh>) -> Result<(), String> {
        match &self.sound {
            Sound::Live { .. } => return Err("a live job's frames come with their sound (push_live)".into()),
            Sound::Voice { starts, .. } if self.pushed == starts.len() => {
                return Err(format!("the job takes {} frames, one per chunk of the voice; this one is extra", starts.len()));
            }
            Sound::Voice { .. } => {}
        }
        self.push_frame(rgba, detector, mesh)
    }

    /// The next frame of a live job, at `seconds` on the sound's clock, and
    /// the generator's sound input for it (`[80, 16]` row-major,
    /// [`crate::live::LiveVoice::window`]).
    pub fn push_live(&mut self, rgba: Vec<u8>, seconds: f64, mel: Vec<f32>, detector: Option<&Detector>, mesh: Option<&Mesh>) -> Result<(), String> {
        if mel.len() != MEL_VALUES {
            return Err(format!("a frame's sound is {MEL_VALUES} mel values, got {}", mel.len()));
        }
        if !matches!(self.sound, Sound::Live { .. }) {
            return Err("this job follows a whole recording; its frames come without sound (push)".into());
        }
        self.framing.at(seconds);
        self.push_frame(rgba, detector, mesh)?;
        if let Sound::Live { windows, .. } = &mut self.sound {
            windows.push_back(mel);
        }
        Ok(())
    }

    fn push_frame(&mut self, rgba: Vec<u8>, detector: Option<&Detector>, mesh: Option<&Mesh>) -> Result<(), String> {
        let (w, h) = self.source;
        if rgba.len() != w * h * 4 {
            return Err(format!("a {w}×{h} frame needs {} RGBA bytes, got {}", w * h * 4, rgba.len()));
        }
        let started = self.now();
        let frame = if self.factor > 1 { framing::shrink(&rgba, w, h, self.factor).0 } else { rgba };
        let mesh = mesh.filter(|_| self.mask == MaskKind::Landmarks);
        let image = Rgba { pixels: &frame, width: self.width, height: self.height };
        // Between detections the face's mesh follows the face (below).
        let tracked = if self.framing.needs_detection() && self.since_detection + 1 < self.framing.options().detect_every.max(1) {
            self.track(&image, mesh)
        } else {
            None
        };
        let faces = match &tracked {
            Some((face, _)) => {
                self.since_detection += 1;
                vec![face.clone()]
            }
            None if self.framing.needs_detection() => {
                self.since_detection = 0;
                self.timings.detections += 1;
                let detector = detector.ok_or("the face detector is not loaded")?;
                self.find(detector, &image)?
            }
            None => Vec::new(),
        };
        self.pushed += 1;
        let detected = self.now();
        self.timings.detect += detected - started;
        // The square to look in next: around this frame's mesh, only if
        // the face was followed here (else it is found afresh).
        let (previous, mut next) = (self.mesh_roi.take(), None);
        // A mesh that fails (it cannot, on a frame of the right size) only
        // costs this frame its outline: the ellipse stands in.
        let settled = self.framing.push_with(&faces, |face| {
            let marks = match tracked {
                Some((_, marks)) => marks,
                None => mesh?.follow(&image, face, previous.as_ref()).ok()??,
            };
            next = Some(Roi::from_points(&marks.points));
            Some(Shape { outline: marks.lower_face(), pose: marks.pose })
        });
        self.mesh_roi = next;
        self.timings.mesh += self.now() - detected;
        self.unplaced.push_back(frame);
        self.settle(settled);
        Ok(())
    }

    /// The faces the detector finds for this frame: around the followed
    /// face when there is one (the only faces the tracker would take), else
    /// a search of the whole frame — its tiles for small faces only now and
    /// then ([`SEARCH_EVERY`]), since a frame without a face would
    /// otherwise cost the search on every frame of a long face-less shot.
    fn find(&mut self, detector: &Detector, image: &Rgba<'_>) -> Result<Vec<crate::detect::Face>, String> {
        if let Some(face) = self.framing.followed() {
            return detector.detect_near(image, &face.bbox);
        }
        let search = self.since_search == 0;
        let every = (detector.looks(self.width, self.height) / 2).max(SEARCH_EVERY);
        self.since_search = (self.since_search + 1) % every;
        if search { detector.detect(image) } else { detector.detect_whole(image) }
    }

    /// The followed face in a frame the detector skips: the last frame's
    /// face moved as its mesh moved (MediaPipe's tracking: the mesh is
    /// looked for where it was), with this frame's mesh. None when there is
    /// no mesh to follow it by (the ellipse mask) or the mesh lost it: then
    /// the detector runs.
    fn track(&self, image: &Rgba<'_>, mesh: Option<&Mesh>) -> Option<(crate::detect::Face, Landmarks)> {
        let last = self.framing.followed()?;
        let (Some(mesh), Some(previous)) = (mesh, self.mesh_roi.as_ref()) else {
            return None;
        };
        let marks = mesh.follow(image, last, Some(previous)).ok()??;
        // The face moves and grows as the square around its mesh does.
        let now = Roi::from_points(&marks.points);
        let scale = now.side / previous.side;
        let moved = |[x, y]: [f32; 2]| [now.centre[0] + (x - previous.centre[0]) * scale, now.centre[1] + (y - previous.centre[1]) * scale];
        let mut face = last.clone();
        let ([x1, y1], [x2, y2]) = (moved([face.bbox[0], face.bbox[1]]), moved([face.bbox[2], face.bbox[3]]));
        face.bbox = [x1, y1, x2, y2];
        for point in &mut face.keypoints {
            *point = moved(*point);
        }
        Some((face, marks))
    }

    /// Every frame is in: settle the rest, or say why nothing can be done.
    pub fn finish(&mut self) -> Result<(), String> {
        if self.pushed != self.frames() {
            return Err(format!("the job ended after {} of its {} frames", self.pushed, self.frames()));
        }
        let settled = self.framing.finish()?;
        self.settle(settled);
        self.finished = true;
        Ok(())
    }

    fn settle(&mut self, placements: Vec<Option<Placement>>) {
        for placement in placements {
            let frame = self.unplaced.pop_front().expect("framing settles only frames it was given");
            self.placed.push_back((frame, placement));
        }
    }

    /// From now on, time each stage by `clock` (ms): [`Job::timings`].
    pub fn time_with(&mut self, clock: fn() -> f64) {
        self.clock = Some(clock);
    }

    /// The time spent so far by stage (zero without a clock).
    pub fn timings(&self) -> Timings {
        self.timings
    }

    fn now(&self) -> f64 {
        self.clock.map_or(0.0, |clock| clock())
    }

    /// From now on, find the batch size ([`Tuner`]) from the current one up
    /// to `max`, timing batches by `clock` (ms).
    pub fn tune(&mut self, max: usize, clock: fn() -> f64) {
        self.tuner = Some((Tuner::new(self.batch, max), clock));
    }

    /// From now on, `batch` frames a batch (any search stops): for the rest
    /// of a job moved to another generator.
    pub fn set_batch(&mut self, batch: usize) -> Result<(), String> {
        self.batch = batch_size(batch)?;
        self.tuner = None;
        Ok(())
    }

    /// The batch size in use (it changes while [`Job::tune`] searches).
    pub fn batch(&self) -> usize {
        self.tuner.as_ref().map_or(self.batch, |(tuner, _)| tuner.size())
    }

    /// The next batch when one is due: `batch` settled frames, or the last
    /// few once the job is finished.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let batch = self.batch();
        let take = if self.placed.len() >= batch { batch } else if self.finished { self.placed.len() } else { 0 };
        if take == 0 {
            return None;
        }
        let frames: Vec<_> = self.placed.drain(..take).collect();
        let faces = frames.iter().filter(|(_, p)| p.is_some()).count();
        let mut mel = vec![0.0; faces * MEL_VALUES];
        let mut face = vec![0.0; faces * FACE_VALUES];
        let mut k = 0;
        // A live voice's windows are kept until their frames leave for the
        // generator for good: a batch that fails is put back ([`Job::requeue`]).
        if let Sound::Live { windows, first } = &mut self.sound {
            windows.drain(..self.next_out - *first);
            *first = self.next_out;
        }
        for (i, (frame, placement)) in frames.iter().enumerate() {
            if let Some(placement) = placement {
                let out = &mut mel[k * MEL_VALUES..][..MEL_VALUES];
                match &self.sound {
                    Sound::Voice { mel, starts } => mel.window_into(starts[self.next_out + i], CHUNK, out),
                    Sound::Live { windows, .. } => out.copy_from_slice(&windows[i]),
                }
                generator_input_turned(frame, self.width, placement.crop, placement.turn(), &mut face[k * FACE_VALUES..][..FACE_VALUES])
                    .expect("framing keeps crops inside the frame");
                k += 1;
            }
        }
        self.next_out += take;
        Some(Batch { frames, mel, face, faces })
    }

    /// The generator's output for a batch (`[faces, 3, 96, 96]`, BGR 0..1)
    /// → its finished frames, in order.
    pub fn complete(&self, batch: Batch, generated: &[f32]) -> Result<Vec<Frame>, String> {
        let values = 3 * FACE * FACE;
        if generated.len() != batch.faces * values {
            return Err(format!("the generator returned {} values for {} faces", generated.len(), batch.faces));
        }
        // Each frame's generated face, if it has one.
        let mut outputs = generated.chunks_exact(values);
        let mut frames: Vec<_> = batch.frames.into_iter().map(|(frame, placement)| (frame, placement.map(|p| (p, outputs.next().expect("one output per face"))))).collect();
        // Frames are independent: each is a task for the thread pool.
        let (width, height, sharpen, label) = (self.width, self.height, self.sharpen, &self.label);
        crate::pool::for_each_mut(&mut frames, |_, (frame, face)| {
            if let Some((placement, out)) = face.take() {
                let turn = placement.turn();
                let Placement { crop, mouth, shape } = placement;
                let mask = match &shape {
                    Some(shape) => Mask::Outline(&shape.outline),
                    None => Mask::Ellipse(MaskShape::around(mouth)),
                };
                blend(frame, width, crop, turn, out, mask, sharpen);
            }
            if let Some(label) = label {
                label.stamp(frame, width, height);
            }
        });
        Ok(frames.into_iter().map(|(frame, _)| frame).collect())
    }

    /// Run every due batch through `generator`: the finished frames, in order.
    ///
    /// When the generator fails (a GPU lost mid-job), the batch it was given
    /// goes back to the front of the queue, so a later `drain` — on another
    /// generator — starts from that batch: no frame is lost or repeated. The
    /// batches finished before it are lost with the error, so the caller
    /// drains after each frame it pushes (a frame's batch is then the only
    /// one due).
    pub async fn drain(&mut self, generator: &impl Runner) -> Result<Vec<Frame>, String> {
        let mut done = Vec::new();
        loop {
            let started = self.now();
            let Some(mut batch) = self.next_batch() else { break };
            let generating = self.now();
            self.timings.inputs += generating - started;
            let generated = if batch.faces > 0 {
                let (mel, face) = (std::mem::take(&mut batch.mel), std::mem::take(&mut batch.face));
                let started = self.tuner.as_ref().map(|(_, clock)| clock());
                match generator.run(mel, face, batch.faces).await {
                    Ok(generated) => {
                        if let (Some((tuner, clock)), Some(started)) = (&mut self.tuner, started) {
                            tuner.record(batch.faces, clock() - started);
                        }
                        generated
                    }
                    Err(error) => {
                        self.requeue(batch);
                        return Err(error);
                    }
                }
            } else {
                Vec::new()
            };
            let blending = self.now();
            self.timings.generate += blending - generating;
            done.extend(self.complete(batch, &generated)?);
            self.timings.blend += self.now() - blending;
        }
        Ok(done)
    }

    /// Put a batch's frames back where [`Job::next_batch`] took them from.
    fn requeue(&mut self, batch: Batch) {
        self.next_out -= batch.frames.len();
        for frame in batch.frames.into_iter().rev() {
            self.placed.push_front(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;
    use crate::testdata::block_on;
    use crate::testdata::{detector, pan_zoom_clip};
    use crate::detect::Rgba;

    fn cpu_generator() -> crate::generate::Generator {
        crate::generate::Generator::on_cpu(crate::formula::weights(7)).unwrap()
    }

    /// A mel whose chunks differ from frame to frame, so mouths differ too.
    fn mel(columns: usize) -> Mel {
        Mel { values: (0..columns * 80).map(|i| (i as f32 * 0.37).sin() * 2.0 - 2.0).collect() }
    }

    /// The check: the test clip turned by ±20°, through the job
    /// with the face's mesh: the generator's input is upright (the eyes'
    /// outer corners level within 3°), where the original's crop leaves
    /// the face leaning by the clip's turn.
    #[test]
    fn a_leaning_face_reaches_the_generator_upright() {
        use crate::crop::Turned;
        let (width, height) = (640, 360);
        let (detector, mesh) = (detector(), crate::testdata::mesh());
        for degrees in [20.0f32, -20.0] {
            let clip: Vec<Vec<u8>> = pan_zoom_clip(8, width, height).iter().map(|f| crate::testdata::turned(f, width, height, degrees)).collect();
            let mut job = Job::new(Options::default(), (width, height), &FrameClock::Constant { fps: 25.0 }, mel(8 * 16 / 5 + 16), 4, None).unwrap();
            for s in job.sources(clip.len()) {
                job.push(clip[s].clone(), Some(&detector), Some(&mesh)).unwrap();
            }
            job.finish().unwrap();
            let (mut upright, mut original) = (Vec::new(), Vec::new());
            while let Some(batch) = job.next_batch() {
                for (frame, placement) in &batch.frames {
                    let placement = placement.as_ref().expect("a face in every frame");
                    let image = Rgba { pixels: frame, width, height };
                    let face = detector.detect(&image).unwrap().remove(0);
                    let marks = mesh.follow(&image, &face, None).unwrap().unwrap();
                    // The eyes' outer corners where the generator sees them (96×96).
                    let [x1, y1, x2, y2] = placement.crop;
                    let (sx, sy) = (FACE as f32 / (x2 - x1) as f32, FACE as f32 / (y2 - y1) as f32);
                    let eye_line = |turn: f32| {
                        let turned = Turned::new(placement.crop, turn);
                        let [a, b] = [33, 263].map(|i| turned.to_box([marks.points[i][0], marks.points[i][1]]));
                        ((b[1] - a[1]) * sy).atan2((b[0] - a[0]) * sx).to_degrees()
                    };
                    upright.push(eye_line(placement.turn()));
                    original.push(eye_line(0.0));
                }
            }
            println!("turned {degrees}°: eye line in the generator's input {upright:.1?} (the original's crop: {original:.1?})");
            assert!(upright.iter().all(|a| a.abs() < 3.0), "{upright:?}");
            assert!(original.iter().all(|a| (a - degrees).abs() < 6.0), "{original:?}");
        }
    }

    #[test]
    fn a_clip_goes_through_in_order_with_only_the_mouth_changed() {
        let (width, height) = (640, 360);
        let clip = pan_zoom_clip(10, width, height);
        // 48 columns at 3.2 a frame: chunks start at 0, 3, 6, … 32, then
        // the original's extra last chunk (the final 16 columns).
        let mut job = Job::new(Options::default(), (width, height), &FrameClock::Constant { fps: 25.0 }, mel(48), 4, None).unwrap();
        assert_eq!(job.frames(), 12);
        let sources = job.sources(clip.len());
        assert_eq!(sources, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7]);
        let (detector, generator) = (detector(), cpu_generator());
        let mut out = Vec::new();
        for &s in &sources {
            job.push(clip[s].clone(), Some(&detector), None).unwrap();
            out.extend(block_on(job.drain(&generator)).unwrap());
        }
        assert!(out.len() < sources.len(), "the smoothing holds a few frames back");
        job.finish().unwrap();
        out.extend(block_on(job.drain(&generator)).unwrap());
        assert_eq!(out.len(), 12);
        assert!(job.push(clip[0].clone(), Some(&detector), None).is_err(), "a 13th frame is refused");

        for (frame, &s) in out.iter().zip(&sources) {
            let before = &clip[s];
            let changed = |x0: usize, y0: usize, x1: usize, y1: usize| {
                let mut n = 0;
                for y in y0..y1 {
                    for x in x0..x1 {
                        let i = (y * width + x) * 4;
                        n += usize::from((0..3).any(|c| frame[i + c] != before[i + c]));
                    }
                }
                n as f32 / ((x1 - x0) * (y1 - y0)) as f32
            };
            // The face sits around x 250–450, y 60–300 in this clip.
            let faces = detector.detect(&Rgba { pixels: before, width, height }).unwrap();
            let [x1, y1, x2, y2] = faces[0].bbox.map(|v| v as usize);
            let mouth_rows = (y1 + (y2 - y1) * 3 / 4, y2);
            assert!(changed(x1 + (x2 - x1) / 4, mouth_rows.0, x2 - (x2 - x1) / 4, mouth_rows.1) > 0.5, "the mouth changes");
            assert_eq!(changed(0, 0, 40, height), 0.0, "far from the face nothing changes");
            assert_eq!(changed(x1, 0, x2, y1.saturating_sub(5)), 0.0, "above the face nothing changes");
        }
    }

    #[test]
    fn frames_without_a_face_pass_through_and_a_video_without_any_says_so() {
        let (width, height) = (320, 240);
        let blank = vec![90u8; width * height * 4];
        let clock = FrameClock::Constant { fps: 25.0 };
        let mut job = Job::new(Options::default(), (width, height), &clock, mel(16), 2, None).unwrap();
        assert_eq!(job.frames(), 2);
        job.push(blank.clone(), Some(&detector()), None).unwrap();
        assert!(job.finish().unwrap_err().contains("after 1 of its 2 frames"));
        let mut job = Job::new(Options::default(), (width, height), &clock, mel(16), 2, None).unwrap();
        job.push(blank.clone(), Some(&detector()), None).unwrap();
        job.push(blank.clone(), Some(&detector()), None).unwrap();
        assert_eq!(job.finish().unwrap_err(), framing::NO_FACE);

        // A face in one frame of three: the other two come out untouched
        // (with no gap bridged: a short miss would keep the face's box).
        let (photo, w, h) = crate::testdata::astronaut();
        let options = Options { max_gap: 0, ..Options::default() };
        let mut job = Job::new(options, (w, h), &clock, mel(19), 8, None).unwrap();
        assert_eq!(job.frames(), 3);
        let grey = vec![90u8; w * h * 4];
        for frame in [grey.clone(), photo.clone(), grey.clone()] {
            job.push(frame, Some(&detector()), None).unwrap();
        }
        job.finish().unwrap();
        let out = block_on(job.drain(&cpu_generator())).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out[0] == grey && out[2] == grey);
        assert!(out[1] != photo);
    }

    #[test]
    fn bad_sizes_are_refused_plainly() {
        let clock = FrameClock::Constant { fps: 25.0 };
        let err = Job::new(Options { resize_factor: 8, ..Options::default() }, (320, 240), &clock, mel(16), 1, None).err().unwrap();
        assert!(err.contains("too small for a face"), "{err}");
        let mut job = Job::new(Options::default(), (320, 240), &clock, mel(16), 1, None).unwrap();
        let err = job.push(vec![0; 10], Some(&detector()), None).unwrap_err();
        assert!(err.contains("RGBA bytes"), "{err}");
        assert!(Job::new(Options::default(), (320, 240), &clock, mel(10), 1, None).err().unwrap().contains("0.2 s"));
        // 8K is shrunk by 2 (to 3840×2160), 10 000 × 10 000 by 4; 4K as it is.
        assert_eq!([shrink_needed(3840, 2160), shrink_needed(4096, 2304), shrink_needed(7680, 4320), shrink_needed(10_000, 10_000)], [1, 1, 2, 4]);
        let err = Job::new(Options::default(), (7680, 4320), &clock, mel(16), 1, None).err().unwrap();
        assert!(err.contains("frames of 7680×4320 are more than") && err.contains("Shrink frames by 2"), "{err}");
        let err = Job::new(Options { resize_factor: 2, ..Options::default() }, (10_000, 10_000), &clock, mel(16), 1, None).err().unwrap();
        assert!(err.contains("shrunk by 2") && err.contains("Shrink frames by 4"), "{err}");
        assert!(Job::new(Options { resize_factor: 2, ..Options::default() }, (7680, 4320), &clock, mel(16), 1, None).is_ok());
    }

    /// A generator that takes `20 ms + 1 ms a frame` on a clock the test owns.
    struct Timed(std::cell::RefCell<Vec<usize>>);

    static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    fn now() -> f64 {
        NOW.load(std::sync::atomic::Ordering::SeqCst) as f64
    }

    impl Runner for Timed {
        async fn run(&self, _mel: Vec<f32>, _face: Vec<f32>, batch: usize) -> Result<Vec<f32>, String> {
            self.0.borrow_mut().push(batch);
            NOW.fetch_add(20 + batch as u64, std::sync::atomic::Ordering::SeqCst);
            Ok(vec![0.5; batch * 3 * 96 * 96])
        }
    }

    /// A generator that fails from its `fails`-th batch on (a GPU lost).
    struct Failing {
        fails: usize,
        seen: std::cell::Cell<usize>,
    }

    impl Runner for Failing {
        async fn run(&self, _mel: Vec<f32>, _face: Vec<f32>, batch: usize) -> Result<Vec<f32>, String> {
            self.seen.set(self.seen.get() + 1);
            if self.seen.get() > self.fails {
                return Err("the GPU device was lost".into());
            }
            Ok(vec![0.25; batch * 3 * 96 * 96])
        }
    }

    #[test]
    fn a_batch_that_fails_is_run_again_on_another_generator_with_no_frame_lost_or_repeated() {
        let (width, height) = (640, 360);
        let clip = pan_zoom_clip(10, width, height);
        let clock = FrameClock::Constant { fps: 25.0 };
        let detector = detector();
        // Reference: the whole job on one generator that never fails.
        let run = |fails: usize| {
            let mut job = Job::new(Options::default(), (width, height), &clock, mel(48), 4, None).unwrap();
            let sources = job.sources(clip.len());
            let (gpu, cpu) = (Failing { fails, seen: Default::default() }, Failing { fails: usize::MAX, seen: Default::default() });
            let mut lost = false;
            let mut out = Vec::new();
            let mut step = |job: &mut Job, out: &mut Vec<Frame>| {
                if !lost {
                    match block_on(job.drain(&gpu)) {
                        Ok(frames) => return out.extend(frames),
                        Err(e) => {
                            assert!(e.contains("lost"));
                            lost = true;
                        }
                    }
                }
                out.extend(block_on(job.drain(&cpu)).unwrap());
            };
            for &s in &sources {
                job.push(clip[s].clone(), Some(&detector), None).unwrap();
                step(&mut job, &mut out);
            }
            job.finish().unwrap();
            step(&mut job, &mut out);
            (out, gpu.seen.get(), cpu.seen.get())
        };
        let (expected, _, _) = run(usize::MAX);
        assert_eq!(expected.len(), 12);
        // The GPU finishes one batch, fails on the second; the CPU does the rest.
        let (out, gpu_batches, cpu_batches) = run(1);
        assert_eq!((gpu_batches, cpu_batches), (2, 2), "batches of 4: one on the GPU, its failed one again and the last on the CPU");
        assert_eq!(out.len(), expected.len(), "no frame lost or repeated");
        assert!(out == expected, "the same frames in the same order");
    }

    #[test]
    fn a_tuned_job_grows_its_batches_while_frames_get_cheaper() {
        let (photo, w, h) = crate::testdata::astronaut();
        let mut job = Job::new(Options::default(), (w, h), &FrameClock::Constant { fps: 25.0 }, mel(112), 1, None).unwrap();
        job.tune(8, now);
        let (detector, generator) = (detector(), Timed(Default::default()));
        let frames = job.frames();
        assert!(frames >= 30, "{frames} frames");
        let mut out = 0;
        for _ in 0..frames {
            job.push(photo.clone(), Some(&detector), None).unwrap();
            out += block_on(job.drain(&generator)).unwrap().len();
        }
        job.finish().unwrap();
        out += block_on(job.drain(&generator)).unwrap().len();
        assert_eq!(out, frames, "every frame comes out once");
        // Warm-up at 1, then 21, 11, 6, 3.5 ms a frame at 1, 2, 4, 8; 8 is the limit.
        let sizes = generator.0.into_inner();
        assert_eq!(sizes[..6], [1, 1, 2, 4, 8, 8], "{sizes:?}");
        assert!(sizes[6..sizes.len() - 1].iter().all(|&s| s == 8), "{sizes:?}");
        assert_eq!(job.batch(), 8);
    }
}
