//! Where the face is in each frame of a video, frame after frame: the
//! detector's faces (or a fixed box) → the followed face ([`track`]) → the
//! padded crop ([`crop`]) → smoothing over 5 frames. The original's options
//! are here: pads, a fixed box, static image mode, smoothing off, and the
//! resize factor (frames shrunk before all this, see [`shrink`]).
//!
//! Frames come out in order, a few frames late (the smoothing window looks
//! ahead). A frame without a face comes out as `None`: the caller shows it
//! as it is, where the original stopped with an error.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::crop::{self, Pads, Smoother, linear_tap};
use crate::detect::Face;
use crate::landmarks::pose::Pose;
use crate::steady::Steady;
use crate::track::{Sighting, Tracker};

/// Which mask lets the generated face into the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    /// The lower face's outline from the face's mesh, where there is one
    /// (else the ellipse).
    #[default]
    Landmarks,
    /// An ellipse around the mouth, from the detector's keypoints alone.
    Ellipse,
}

/// The original's choices, and ours.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Options {
    pub pads: Pads,
    /// Crop boxes are averaged over this many frames (the original: 5;
    /// `--nosmooth` is 1).
    pub smoothing: usize,
    /// One crop for every frame, `[x1, y1, x2, y2]` in pixels of the
    /// (shrunk) frame, and no detection: the original's `--box`, for when
    /// the detector fails on a face that does not move.
    pub fixed_box: Option<[i32; 4]>,
    /// Detect once, on the first frame: the original's `--static`, for a
    /// photo or a still video.
    pub still: bool,
    /// Follow the face under this point of the first frame with faces (a
    /// click); without it, the best-scoring face.
    pub point: Option<[f32; 2]>,
    /// Frames over which a face the detector misses keeps its last box.
    pub max_gap: usize,
    /// The detector runs on every this-many-th frame; between, the face's
    /// mesh follows the face (1: every frame, as the original; without the
    /// mesh, the ellipse mask, every frame too). Live mode uses it to keep
    /// up with a camera.
    pub detect_every: usize,
    /// Frames are shrunk by this factor first (the original's
    /// `--resize_factor`): the output has the smaller size, and on 1080p and
    /// larger videos the mouth often looks better.
    pub resize_factor: usize,
    /// The blend's mask.
    pub mask: MaskKind,
    /// A face turned (yaw or pitch) more than this many degrees is
    /// "turned away" (Wav2Lip was trained on faces towards the camera).
    pub turned_away: f32,
    /// Frames whose face is turned away pass through untouched.
    pub keep_turned_away: bool,
    /// The generated face is sharpened as much as the real face around
    /// it says it lacks ([`crate::enhance`]).
    pub sharpen: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { pads: Pads::default(), smoothing: 5, fixed_box: None, still: false, point: None, max_gap: 5, detect_every: 1, resize_factor: 1, mask: MaskKind::Landmarks, turned_away: TURNED_AWAY, keep_turned_away: false, sharpen: true }
    }
}

/// The default for [`Options::turned_away`], in degrees.
pub const TURNED_AWAY: f32 = 35.0;

/// What the face's mesh tells about one frame: the lower face's outline
/// (in frame pixels, [`crate::landmarks::LOWER_FACE`]) and the pose.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shape {
    pub outline: Vec<[f32; 2]>,
    pub pose: Pose,
}

/// Where the generator's face comes from in one frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Placement {
    /// `[x1, y1, x2, y2]`, x2 and y2 exclusive.
    pub crop: [i32; 4],
    /// The mouth as a fraction of the crop's width and height, when known.
    pub mouth: Option<[f32; 2]>,
    /// The face's shape, where its mesh was found (the outline steadied
    /// over three frames).
    pub shape: Option<Shape>,
}

impl Placement {
    /// The angle (radians, clockwise on screen) the crop box is turned by
    /// so that a leaning face reaches the generator upright ([`upright`]);
    /// 0 (the original's axis-aligned crop) without a mesh.
    pub fn turn(&self) -> f32 {
        self.shape.as_ref().map_or(0.0, |s| upright(s.pose.roll))
    }
}

/// How far to turn the crop for a face whose (steadied) roll is `roll`
/// degrees: not at all up to 5° (Wav2Lip's training faces lean that much
/// too), all of it from 10°, and in between a share growing from nothing,
/// so that a face leaning about 5–10° is not turned back and forth.
pub fn upright(roll: f32) -> f32 {
    let share = ((roll.abs() - 5.0) / 5.0).clamp(0.0, 1.0);
    (roll * share).to_radians()
}

/// What the user is told when no frame of the video shows a face.
pub const NO_FACE: &str = "no face was found in any frame of the video. Lip sync needs a visible face, \
     roughly towards the camera; try another clip or photo, or set a fixed face box by hand";

pub struct Framing {
    options: Options,
    width: usize,
    height: usize,
    tracker: Option<Tracker>,
    smoother: Smoother,
    /// The mouth and shape of each frame waiting in the smoother.
    waiting: VecDeque<([f32; 2], Option<Shape>)>,
    /// The shape of the frame placed last, in the same run of frames.
    last_shape: Option<Shape>,
    /// Static image mode: the first frame's answer, once known.
    still: Option<Option<Placement>>,
    frames: usize,
    with_face: usize,
    /// Live mode's causal steadying (in place of the smoothing window),
    /// and the next frame's time in seconds.
    steady: Option<Steady>,
    time: f64,
}

impl Framing {
    /// For frames of `width`×`height` pixels (after shrinking).
    pub fn new(options: Options, width: usize, height: usize) -> Result<Self, String> {
        if options.resize_factor == 0 {
            return Err("the resize factor must be 1 (none) or more".into());
        }
        if let Some([x1, y1, x2, y2]) = options.fixed_box
            && !(0 <= x1 && x1 < x2 && x2 <= width as i32 && 0 <= y1 && y1 < y2 && y2 <= height as i32)
        {
            return Err(format!("the fixed face box {x1},{y1}–{x2},{y2} does not lie inside the {width}×{height} frame"));
        }
        let smoother = Smoother::new(options.smoothing);
        Ok(Self { options, width, height, tracker: None, smoother, waiting: VecDeque::new(), last_shape: None, still: None, frames: 0, with_face: 0, steady: None, time: 0.0 })
    }

    /// Live mode: the face steadied as frames come ([`Steady`]), each at
    /// the time [`Framing::at`] gives it, instead of averaged with frames
    /// that have not come yet.
    pub fn steadied(self) -> Self {
        Self { steady: Some(Steady::default()), ..self }
    }

    /// The next frame's time, in seconds (live mode).
    pub fn at(&mut self, seconds: f64) {
        self.time = seconds;
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The face followed in the last frame that had it.
    pub fn followed(&self) -> Option<&Face> {
        self.tracker.as_ref()?.last()
    }

    /// Whether the next frame needs the detector's faces (else pass `&[]`).
    pub fn needs_detection(&self) -> bool {
        self.options.fixed_box.is_none() && self.still.is_none()
    }

    /// The faces found in the next frame; returns the frames now settled,
    /// in order.
    pub fn push(&mut self, faces: &[Face]) -> Vec<Option<Placement>> {
        self.push_with(faces, |_| None)
    }

    /// As [`Framing::push`], with `shape` telling the shape of the face
    /// followed (its mesh: called once, for that face only).
    pub fn push_with(&mut self, faces: &[Face], shape: impl FnOnce(&Face) -> Option<Shape>) -> Vec<Option<Placement>> {
        self.frames += 1;
        if let Some(crop) = self.options.fixed_box {
            self.with_face += 1;
            return vec![Some(Placement { crop, mouth: None, shape: None })];
        }
        if let Some(still) = &self.still {
            self.with_face += usize::from(still.is_some());
            return vec![still.clone()];
        }
        let tracker = self.tracker.get_or_insert_with(|| Tracker::new(faces, self.options.point, self.options.max_gap));
        let face = match tracker.follow(faces) {
            Sighting::Seen(face) | Sighting::Held(face) => Some(face),
            Sighting::Absent => None,
        };
        let face = match (&mut self.steady, face) {
            (Some(steady), Some(face)) => Some(steady.push(&face, self.time)),
            (Some(steady), None) => {
                steady.reset();
                None
            }
            (None, face) => face,
        };
        if self.options.still {
            let placement = face.map(|face| {
                let crop = self.crop_of(&face);
                Placement { crop, mouth: Some(relative(face.keypoints[3], crop)), shape: shape(&face) }
            });
            let placement = placement.filter(|p| !self.kept(p));
            self.with_face += usize::from(placement.is_some());
            self.still = Some(placement.clone());
            return vec![placement];
        }
        let Some(face) = face else {
            let mut out = self.flush();
            out.push(None);
            return out;
        };
        self.with_face += 1;
        self.waiting.push_back((face.keypoints[3], shape(&face)));
        let settled = self.smoother.push(self.crop_of(&face));
        self.place(settled)
    }

    /// The video ended: the frames still waiting, or why nothing can be done.
    pub fn finish(&mut self) -> Result<Vec<Option<Placement>>, String> {
        let out = self.flush();
        if self.frames > 0 && self.with_face == 0 {
            return Err(NO_FACE.into());
        }
        Ok(out)
    }

    fn crop_of(&self, face: &Face) -> [i32; 4] {
        crop::crop_box(crop::face_box(face), self.options.pads, self.width, self.height)
    }

    fn flush(&mut self) -> Vec<Option<Placement>> {
        let settled = self.smoother.finish();
        let out = self.place(settled);
        self.last_shape = None;
        out
    }

    fn place(&mut self, crops: Vec<[i32; 4]>) -> Vec<Option<Placement>> {
        crops
            .into_iter()
            .map(|crop| {
                let (mouth, own) = self.waiting.pop_front().expect("a mouth per waiting frame");
                // The mean of this frame's shape and its neighbours': the
                // mesh's frame-to-frame tremble, steadied.
                let next = self.waiting.front().and_then(|(_, s)| s.as_ref());
                let shape = own.as_ref().map(|own| steadied(own, self.last_shape.as_ref(), next));
                self.last_shape = own;
                Some(Placement { crop, mouth: Some(relative(mouth, crop)), shape }).filter(|p| !self.kept(p))
            })
            .collect()
    }

    /// Whether a frame stays as it is because its face is turned away
    /// (and the options say to keep such frames).
    fn kept(&self, placement: &Placement) -> bool {
        self.options.keep_turned_away && placement.shape.as_ref().is_some_and(|s| s.pose.turned_away(self.options.turned_away))
    }
}

/// The mean of `own` and whichever neighbours there are: outline and pose.
fn steadied(own: &Shape, before: Option<&Shape>, after: Option<&Shape>) -> Shape {
    let near: Vec<&Shape> = [before, after].into_iter().flatten().filter(|n| n.outline.len() == own.outline.len()).collect();
    let count = 1.0 + near.len() as f32;
    let mean = |f: &dyn Fn(&Shape) -> f32| (f(own) + near.iter().map(|n| f(n)).sum::<f32>()) / count;
    Shape {
        outline: (0..own.outline.len()).map(|i| std::array::from_fn(|a| mean(&|s: &Shape| s.outline[i][a]))).collect(),
        pose: Pose { yaw: mean(&|s| s.pose.yaw), pitch: mean(&|s| s.pose.pitch), roll: mean(&|s| s.pose.roll) },
    }
}

fn relative([x, y]: [f32; 2], [x1, y1, x2, y2]: [i32; 4]) -> [f32; 2] {
    [(x - x1 as f32) / (x2 - x1).max(1) as f32, (y - y1 as f32) / (y2 - y1).max(1) as f32]
}

/// An RGBA frame shrunk by `factor` as the original does (`cv2.resize` to
/// `(w // factor, h // factor)`, INTER_LINEAR).
pub fn shrink(rgba: &[u8], width: usize, height: usize, factor: usize) -> (Vec<u8>, usize, usize) {
    if factor <= 1 {
        return (rgba.to_vec(), width, height);
    }
    let (w, h) = ((width / factor).max(1), (height / factor).max(1));
    let xs: Vec<(usize, f32)> = (0..w).map(|x| linear_tap(x, width, w)).collect();
    let mut out = vec![0u8; w * h * 4];
    for y in 0..h {
        let (y0, fy) = linear_tap(y, height, h);
        let y1 = (y0 + 1).min(height - 1);
        for (x, &(x0, fx)) in xs.iter().enumerate() {
            let x1 = (x0 + 1).min(width - 1);
            for c in 0..4 {
                let at = |xx: usize, yy: usize| rgba[(yy * width + xx) * 4 + c] as f32;
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                out[(y * w + x) * 4 + c] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    (out, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32) -> Face {
        // Eyes at y 130, mouth at 170: the chin lands at 200 (face_box).
        Face { score: 0.9, bbox: [x, 100.0, x + 100.0, 190.0], keypoints: [[x + 30.0, 130.0], [x + 70.0, 130.0], [x + 50.0, 150.0], [x + 50.0, 170.0], [x, 140.0], [x + 100.0, 140.0]] }
    }

    fn run(framing: &mut Framing, frames: &[Vec<Face>]) -> Result<Vec<Option<Placement>>, String> {
        let mut out = Vec::new();
        for faces in frames {
            out.extend(framing.push(faces));
        }
        out.extend(framing.finish()?);
        Ok(out)
    }

    #[test]
    fn faces_are_smoothed_and_faceless_frames_pass_through() {
        let mut framing = Framing::new(Options::default(), 1280, 720).unwrap();
        // The face moves right 10 px a frame; frame 6 has no face; 7–8 again.
        let mut frames: Vec<Vec<Face>> = (0..6).map(|i| vec![face(100.0 + 10.0 * i as f32)]).collect();
        frames.push(vec![]);
        frames.extend((7..9).map(|i| vec![face(100.0 + 10.0 * i as f32)]));
        let mut framing_strict = Framing::new(Options { max_gap: 0, ..Options::default() }, 1280, 720).unwrap();
        let out = run(&mut framing_strict, &frames).unwrap();
        assert_eq!(out.len(), 9, "one answer per frame");
        assert_eq!(out[6], None);
        // Frame 0: the mean of frames 0–4 (x1 100..140 → 120); pads 0,10,0,0.
        assert_eq!(out[0].as_ref().unwrap().crop, [120, 100, 220, 210]);
        // The mouth sits at the middle of the box, 70 % down.
        let [mx, my] = out[0].as_ref().unwrap().mouth.unwrap();
        assert!((mx - 0.3).abs() < 0.01 && (my - 70.0 / 110.0).abs() < 0.01, "{mx} {my}");
        // With the default gap, the missed frame keeps the last face.
        let out = run(&mut framing, &frames).unwrap();
        assert!(out.iter().all(Option::is_some));
        // Smoothing off: each frame its own box.
        let mut off = Framing::new(Options { smoothing: 1, ..Options::default() }, 1280, 720).unwrap();
        assert_eq!(off.push(&[face(100.0)]), [Some(Placement { crop: [100, 100, 200, 210], mouth: Some([0.5, 70.0 / 110.0]), shape: None })]);
    }

    #[test]
    fn no_face_anywhere_is_said_plainly() {
        let mut framing = Framing::new(Options::default(), 640, 480).unwrap();
        let err = run(&mut framing, &[vec![], vec![], vec![]]).unwrap_err();
        assert!(err.starts_with("no face was found in any frame"), "{err}");
    }

    #[test]
    fn a_fixed_box_needs_no_detector_and_must_fit() {
        let options = Options { fixed_box: Some([10, 20, 110, 140]), ..Options::default() };
        let mut framing = Framing::new(options.clone(), 640, 480).unwrap();
        assert!(!framing.needs_detection());
        assert_eq!(run(&mut framing, &[vec![], vec![]]).unwrap(), vec![Some(Placement { crop: [10, 20, 110, 140], mouth: None, shape: None }); 2]);
        let err = Framing::new(options, 100, 100).err().unwrap();
        assert!(err.contains("does not lie inside the 100×100 frame"), "{err}");
    }

    #[test]
    fn static_mode_detects_once() {
        let mut framing = Framing::new(Options { still: true, ..Options::default() }, 640, 480).unwrap();
        let first = framing.push(&[face(100.0)]);
        assert!(!framing.needs_detection());
        // Later frames' faces are not even looked at.
        assert_eq!(framing.push(&[]), first);
        assert_eq!(framing.push(&[face(400.0)]), first);
    }

    #[test]
    fn the_clicked_face_is_the_one_placed() {
        let options = Options { point: Some([560.0, 150.0]), smoothing: 1, ..Options::default() };
        let mut framing = Framing::new(options, 1280, 720).unwrap();
        let out = framing.push(&[face(100.0), face(500.0)]);
        assert_eq!(out[0].as_ref().unwrap().crop[0], 500);
    }

    #[test]
    fn shrinking_halves_as_opencv_does() {
        // 4×2 → 2×1: INTER_LINEAR at factor 2 averages 2×2 blocks.
        let rgba: Vec<u8> = [10, 20, 30, 40, 50, 60, 70, 80].iter().flat_map(|&v| [v, v, v, 255]).collect();
        let (out, w, h) = shrink(&rgba, 4, 2, 2);
        assert_eq!((w, h), (2, 1));
        assert_eq!(out, [35, 35, 35, 255, 55, 55, 55, 255]);
        assert_eq!(shrink(&rgba, 4, 2, 1).0, rgba);
    }
}
