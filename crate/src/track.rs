//! One face followed through a video: chosen once (the best, or the one
//! under the user's click), then matched frame to frame by overlap.
//!
//! The original took the first face of every frame and aborted on a frame
//! without one. Here a detector's short miss (a blink of motion blur, a hand
//! passing) keeps the last box for a few frames, and a frame where the face
//! is really gone passes through untouched.

use crate::detect::blazeface::iou;
use crate::detect::Face;

/// What to do with one frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Sighting {
    /// The followed face, as detected in this frame.
    Seen(Face),
    /// Not detected here, but seen a moment ago: reuse that face.
    Held(Face),
    /// No face to lip-sync: show the frame as it is.
    Absent,
}

pub struct Tracker {
    last: Option<Face>,
    /// Frames since the face was last seen.
    missed: usize,
    /// How many missed frames are bridged with the last face.
    max_gap: usize,
}

/// Overlap that counts as the same face from one frame to the next: faces
/// move little in 40 ms, other faces rarely overlap this much.
const SAME_FACE_IOU: f32 = 0.3;

impl Tracker {
    /// Follow the face under `point` in `faces` (or the face whose centre is
    /// nearest to it), or the best-scoring face without a point.
    pub fn new(faces: &[Face], point: Option<[f32; 2]>, max_gap: usize) -> Self {
        let chosen = match point {
            Some(p) => faces.iter().min_by(|a, b| distance(a, p).total_cmp(&distance(b, p))),
            None => faces.iter().max_by(|a, b| a.score.total_cmp(&b.score)),
        };
        Self { last: chosen.cloned(), missed: 0, max_gap }
    }

    /// The face as last seen.
    pub fn last(&self) -> Option<&Face> {
        self.last.as_ref()
    }

    /// The followed face in the next frame's `faces`.
    pub fn follow(&mut self, faces: &[Face]) -> Sighting {
        let Some(last) = &self.last else {
            // Nothing chosen yet (no face in the first frames): take the
            // first face that appears.
            let Some(best) = faces.iter().max_by(|a, b| a.score.total_cmp(&b.score)) else { return Sighting::Absent };
            self.last = Some(best.clone());
            return Sighting::Seen(best.clone());
        };
        let mut matched = faces
            .iter()
            .map(|f| (iou(&f.bbox, &last.bbox), f))
            .filter(|(overlap, _)| *overlap >= SAME_FACE_IOU)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if matched.is_none() && self.missed >= self.max_gap {
            // Lost for a while: the face may have moved while hidden. Take
            // the nearest face within two face widths of where it was.
            let centre = last.centre();
            let reach = 2.0 * (last.bbox[2] - last.bbox[0]);
            matched = faces
                .iter()
                .map(|f| (distance(f, centre), f))
                .filter(|(d, _)| *d <= reach)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, f)| (0.0, f));
        }
        match matched {
            Some((_, face)) => {
                self.last = Some(face.clone());
                self.missed = 0;
                Sighting::Seen(face.clone())
            }
            None => {
                self.missed += 1;
                if self.missed <= self.max_gap { Sighting::Held(last.clone()) } else { Sighting::Absent }
            }
        }
    }
}

/// 0 inside the box, else the distance from `p` to the box's centre.
fn distance(face: &Face, p: [f32; 2]) -> f32 {
    let [x1, y1, x2, y2] = face.bbox;
    if (x1..=x2).contains(&p[0]) && (y1..=y2).contains(&p[1]) {
        return 0.0;
    }
    let [cx, cy] = face.centre();
    (p[0] - cx).hypot(p[1] - cy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face { score, bbox: [x, 100.0, x + 100.0, 200.0], keypoints: [[x + 50.0, 150.0]; 6] }
    }

    #[test]
    fn the_clicked_face_is_followed_not_the_best_one() {
        let frame = [face(100.0, 0.95), face(600.0, 0.8)];
        let mut t = Tracker::new(&frame, Some([650.0, 150.0]), 3);
        // The right-hand face drifts right, the left one stays and scores higher.
        for step in 1..=10 {
            let x = 600.0 + 8.0 * step as f32;
            assert_eq!(t.follow(&[face(100.0, 0.99), face(x, 0.7)]), Sighting::Seen(face(x, 0.7)));
        }
        // Without a click: the best.
        let mut t = Tracker::new(&frame, None, 3);
        assert_eq!(t.follow(&frame), Sighting::Seen(face(100.0, 0.95)));
    }

    #[test]
    fn short_gaps_are_bridged_and_long_ones_pass_through() {
        let mut t = Tracker::new(&[face(100.0, 0.9)], None, 2);
        assert_eq!(t.follow(&[]), Sighting::Held(face(100.0, 0.9)));
        assert_eq!(t.follow(&[face(900.0, 0.9)]), Sighting::Held(face(100.0, 0.9)), "another face is not ours");
        assert_eq!(t.follow(&[]), Sighting::Absent);
        // It comes back a little further on; a face far away is someone else.
        assert_eq!(t.follow(&[face(1000.0, 0.9)]), Sighting::Absent);
        assert_eq!(t.follow(&[face(1000.0, 0.9), face(250.0, 0.9)]), Sighting::Seen(face(250.0, 0.9)));
    }

    #[test]
    fn a_video_that_starts_without_a_face_picks_up_the_first_one() {
        let mut t = Tracker::new(&[], None, 2);
        assert_eq!(t.follow(&[]), Sighting::Absent);
        assert_eq!(t.follow(&[face(300.0, 0.9)]), Sighting::Seen(face(300.0, 0.9)));
    }
}
