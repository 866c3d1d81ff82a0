//! Face landmarks: MediaPipe Face Mesh (468 points with depth), its weights
//! read from `face_landmark.tflite` of the npm package `@mediapipe/face_mesh`
//! (`make js` takes the file out of the package's packed assets), run on the
//! same CPU graph as the detector ([`crate::detect::graph`]).
//!
//! The network sees the face as MediaPipe's face mesh graph gives it: a
//! square around BlazeFace's box, 1.5× its long side, turned so that the eye
//! line is level, sampled to 192×192 ([`Roi`]). Its points are mapped back
//! through the same square, so they are in image pixels whatever the face's
//! tilt. Points follow MediaPipe's order (its canonical face mesh).

pub mod pose;
pub mod proto;
pub mod turn;

use serde::Serialize;

use crate::detect::graph::Network;
use crate::detect::tflite::Model;
use crate::detect::{Detector, Face, Rgba};
use crate::nhwc::Image;
use pose::{CanonicalFace, Pose};

/// Points in the mesh.
pub const POINTS: usize = 468;
/// The network's input side.
const INPUT: usize = 192;
/// MediaPipe's face-presence threshold (on the sigmoid of the flag).
const PRESENCE: f32 = 0.5;

/// Where `make js` puts the weights, relative to the repository.
pub const MODEL_FILE: &str = "www/lib/face_landmark.tflite";

/// The square the network looks at, in image pixels: its centre, side, and
/// the angle (radians) it is turned by, clockwise on screen (y points down).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Roi {
    pub centre: [f32; 2],
    pub side: f32,
    pub rotation: f32,
}

impl Roi {
    /// From a detection, as MediaPipe's `face_detection_front_detection_to_roi`
    /// does: the box's centre; turned so that the line from keypoint 0 to
    /// keypoint 1 (the eyes) becomes level; the box's long side, ×1.5.
    pub fn from_face(face: &Face) -> Self {
        let [x1, y1, x2, y2] = face.bbox;
        let ([ax, ay], [bx, by]) = (face.keypoints[0], face.keypoints[1]);
        Self { centre: [(x1 + x2) / 2.0, (y1 + y2) / 2.0], side: 1.5 * (x2 - x1).max(y2 - y1), rotation: level(ax, ay, bx, by) }
    }

    /// From the previous frame's points, as MediaPipe's `face_landmarks_to_roi`
    /// does when it follows a face: the points' bounding box, turned by the
    /// line between the eyes' outer corners (points 33 and 263), ×1.5. Steadier
    /// than a new detection, and it keeps up with a head that turns.
    pub fn from_points(points: &[[f32; 3]]) -> Self {
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in points {
            for a in 0..2 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let ([ax, ay, _], [bx, by, _]) = (points[33], points[263]);
        Self { centre: [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0], side: 1.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]), rotation: level(ax, ay, bx, by) }
    }

    /// A point of the square (0..1 across, 0..1 down, in the square's own
    /// upright frame) in image pixels.
    pub fn to_image(&self, u: f32, v: f32) -> [f32; 2] {
        let (a, b) = (u - 0.5, v - 0.5);
        let (sin, cos) = self.rotation.sin_cos();
        [self.centre[0] + self.side * (cos * a - sin * b), self.centre[1] + self.side * (sin * a + cos * b)]
    }
}

/// MediaPipe's rotation for a level line from (ax, ay) to (bx, by):
/// `target − atan2(−(by − ay), bx − ax)` with target 0, in (−π, π].
fn level(ax: f32, ay: f32, bx: f32, by: f32) -> f32 {
    let r = -(-(by - ay)).atan2(bx - ax);
    r - std::f32::consts::TAU * ((r + std::f32::consts::PI) / std::f32::consts::TAU).floor()
}

/// One face's mesh.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Landmarks {
    /// x, y in image pixels; z in pixels too (MediaPipe's depth, scaled as
    /// x; smaller is nearer the camera), relative to the face's centre.
    pub points: Vec<[f32; 3]>,
    /// The network's face-presence confidence (0..1).
    pub presence: f32,
    /// Which way the face is turned.
    pub pose: Pose,
    /// The square the points were found in.
    pub roi: Roi,
}

/// The lower face, as a polygon of mesh points: below the nose (from
/// cheek to cheek through the nostrils' feet) and round the jaw line to the
/// chin and back up. What Wav2Lip redraws, and all the blend lets through.
pub const LOWER_FACE: [usize; 24] = [93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 425, 327, 2, 98, 205];

impl Landmarks {
    /// The [`LOWER_FACE`] polygon in image pixels.
    pub fn lower_face(&self) -> Vec<[f32; 2]> {
        LOWER_FACE.iter().map(|&i| [self.points[i][0], self.points[i][1]]).collect()
    }
}

/// A face found in an image: BlazeFace's box and score, and its mesh.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Found {
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub presence: f32,
    pub landmarks: Vec<[f32; 3]>,
    pub pose: Pose,
}

pub struct Mesh {
    network: Network,
    canonical: CanonicalFace,
}

impl Mesh {
    /// From the bytes of `face_landmark.tflite` and of the canonical face
    /// (`geometry_pipeline_metadata_landmarks.binarypb`).
    pub fn new(tflite: &[u8], geometry: &[u8]) -> Result<Self, String> {
        let model = Model::parse(tflite).map_err(|e| e.to_string())?;
        let network = Network::new(&model).map_err(|e| e.to_string())?;
        if network.input_shape != [INPUT, INPUT, 3] {
            return Err(format!("expected MediaPipe's face mesh (192×192×3 input), got {:?}", network.input_shape));
        }
        Ok(Self { network, canonical: CanonicalFace::new(geometry)? })
    }

    /// The canonical face (its triangles, for drawing a mesh).
    pub fn canonical(&self) -> &CanonicalFace {
        &self.canonical
    }

    /// The mesh of `face` in a frame of a video, as MediaPipe's face mesh
    /// follows a face: in the square around the last frame's mesh
    /// (`previous`, [`Roi::from_points`]) when the face is still there,
    /// else in the detection's square and then once more in the square
    /// around what that found. The detector's eye keypoints, which turn the
    /// detection's square, wander by 10–20° on a leaning face; a square
    /// from the mesh's own eye corners does not, and the mesh is more
    /// accurate in it (roll within a degree or two rather than 5°).
    pub fn follow(&self, image: &Rgba<'_>, face: &Face, previous: Option<&Roi>) -> Result<Option<Landmarks>, String> {
        let [x1, y1, x2, y2] = face.bbox;
        let centre = [(x1 + x2) / 2.0, (y1 + y2) / 2.0];
        if let Some(roi) = previous
            && (centre[0] - roi.centre[0]).hypot(centre[1] - roi.centre[1]) < roi.side / 4.0
            && let Some(found) = self.landmarks(image, roi)?
        {
            return Ok(Some(found));
        }
        let Some(first) = self.landmarks(image, &Roi::from_face(face))? else { return Ok(None) };
        Ok(self.landmarks(image, &Roi::from_points(&first.points))?.or(Some(first)))
    }

    /// Every face the detector finds in the image, with its mesh (faces
    /// the mesh network does not confirm are left out): MediaPipe's static
    /// image mode, one look in each detection's square. With `near` (a
    /// face's box in the last frame looked at), only the faces around it.
    pub fn find(&self, detector: &Detector, image: &Rgba<'_>, near: Option<&[f32; 4]>) -> Result<Vec<Found>, String> {
        // Around a face seen a moment ago: one look (a scan through a
        // video); else, or where it is gone, a search of the frame.
        let near = match near {
            Some(bbox) => detector.detect_near(image, bbox)?,
            None => Vec::new(),
        };
        let faces = if near.is_empty() { detector.detect(image)? } else { near };
        let mut found = Vec::new();
        for face in faces {
            if let Some(marks) = self.landmarks(image, &Roi::from_face(&face))? {
                found.push(Found { bbox: face.bbox, score: face.score, presence: marks.presence, landmarks: marks.points, pose: marks.pose });
            }
        }
        Ok(found)
    }

    /// The mesh of the face in `roi`, or None where the network says there
    /// is no face there.
    pub fn landmarks(&self, image: &Rgba<'_>, roi: &Roi) -> Result<Option<Landmarks>, String> {
        let outputs = self.network.forward(crop(image, roi)?).map_err(|e| e.to_string())?;
        let (Some(mesh), Some(flag)) = (outputs.iter().find(|o| o.data.len() == POINTS * 3), outputs.iter().find(|o| o.data.len() == 1)) else {
            return Err("the landmark model's outputs are not Face Mesh's (468 points and a presence flag)".into());
        };
        let presence = 1.0 / (1.0 + (-flag.data[0].clamp(-100.0, 100.0)).exp());
        if presence < PRESENCE || !presence.is_finite() {
            return Ok(None);
        }
        let scale = INPUT as f32;
        let points = mesh
            .data
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = roi.to_image(p[0] / scale, p[1] / scale);
                [x, y, p[2] / scale * roi.side]
            })
            .collect::<Vec<_>>();
        let pose = self.canonical.pose(&points)?;
        Ok(Some(Landmarks { points, presence, pose, roi: *roi }))
    }
}

/// The network's input: the square, upright, 192×192, RGB in [0, 1],
/// sampled bilinearly at pixel centres with the image's edge repeated
/// beyond it (MediaPipe's `ImageToTensorCalculator`).
fn crop(image: &Rgba<'_>, roi: &Roi) -> Result<Image, String> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.pixels.len() != w * h * 4 {
        return Err(format!("an image of {w}×{h} pixels needs {} RGBA bytes, got {}", w * h * 4, image.pixels.len()));
    }
    if !(roi.side.is_finite() && roi.side > 0.0 && roi.centre.iter().all(|c| c.is_finite()) && roi.rotation.is_finite()) {
        return Err(format!("no face to look at: {roi:?}"));
    }
    let mut rgb = Vec::with_capacity(INPUT * INPUT * 3);
    for v in 0..INPUT {
        for u in 0..INPUT {
            let [x, y] = roi.to_image((u as f32 + 0.5) / INPUT as f32, (v as f32 + 0.5) / INPUT as f32);
            rgb.extend(image.sample(x, y)[..3].iter().map(|p| p / 255.0));
        }
    }
    Ok(Image::new(INPUT, INPUT, 3, rgb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{astronaut, detector, mesh};

    #[test]
    fn the_square_is_the_boxs_long_side_and_level_eyes_turn_it_by_nothing() {
        let face = Face { score: 1.0, bbox: [100.0, 50.0, 180.0, 150.0], keypoints: [[120.0, 80.0], [160.0, 80.0], [0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]] };
        let roi = Roi::from_face(&face);
        assert_eq!((roi.centre, roi.side, roi.rotation), ([140.0, 100.0], 150.0, 0.0));
        // Eyes on a line going down to the right by 20°: the square turns by 20° (clockwise on screen).
        let t = 20f32.to_radians();
        let tilted = Face { keypoints: [[120.0, 80.0], [120.0 + 40.0 * t.cos(), 80.0 + 40.0 * t.sin()], [0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]], ..face };
        let roi = Roi::from_face(&tilted);
        assert!((roi.rotation - t).abs() < 1e-5, "{}", roi.rotation.to_degrees());
        // The square's right edge's middle lies along the eye line from the centre.
        let [x, y] = roi.to_image(1.0, 0.5);
        assert!((x - (140.0 + 75.0 * t.cos())).abs() < 1e-3 && (y - (100.0 + 75.0 * t.sin())).abs() < 1e-3);
    }

    #[test]
    fn the_astronauts_mesh_lies_on_her_face() {
        let (pixels, width, height) = astronaut();
        let image = Rgba { pixels: &pixels, width, height };
        let face = detector().detect(&image).unwrap().remove(0);
        let found = mesh().landmarks(&image, &Roi::from_face(&face)).unwrap().expect("no face found in the square");
        assert!(found.presence > 0.9, "{}", found.presence);
        assert_eq!(found.points.len(), POINTS);
        let [x1, y1, x2, y2] = face.bbox;
        // Point 1 is the nose tip, 13 the upper lip's inner middle, 152 the
        // chin, 33 and 263 the eyes' outer corners (on the image's left and
        // right): beside BlazeFace's keypoints.
        let p = |i: usize| found.points[i];
        let near = |a: [f32; 3], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt() < 0.12 * (x2 - x1);
        assert!(near(p(1), face.keypoints[2]), "nose {:?} vs {:?}", p(1), face.keypoints[2]);
        assert!(near(p(13), face.keypoints[3]), "mouth {:?} vs {:?}", p(13), face.keypoints[3]);
        assert!(p(33)[0] < p(1)[0] && p(1)[0] < p(263)[0]);
        assert!(p(33)[1] < p(1)[1] && p(1)[1] < p(13)[1] && p(13)[1] < p(152)[1]);
        assert!(p(152)[1] > y2 - 0.15 * (y2 - y1), "the chin {:?} is below the box's bottom {y2}", p(152));
        assert!(found.points.iter().all(|q| q[0] > x1 - 0.3 * (x2 - x1) && q[0] < x2 + 0.3 * (x2 - x1)));
    }

    #[test]
    fn a_square_of_grey_has_no_face() {
        let grey = vec![128u8; 200 * 200 * 4];
        let roi = Roi { centre: [100.0, 100.0], side: 120.0, rotation: 0.0 };
        assert_eq!(mesh().landmarks(&Rgba { pixels: &grey, width: 200, height: 200 }, &roi).unwrap(), None);
    }
}
