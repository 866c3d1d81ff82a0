//! A face in a photo turned in depth: its mesh drawn as a textured surface,
//! rotated about the vertical axis through the face's middle. For test
//! media (a face that turns away, which no flat warp of a photo makes: the
//! mesh network reads a squeezed face as a narrow one, not a turned one),
//! made by `wav2lip turn-face`.

use super::Landmarks;
use crate::detect::Rgba;

/// How much deeper a head is than Face Mesh's depth says: its z is
/// compressed about this much against the canonical face's proportions
/// (nose to cheeks against the face's width: 0.37 on the test photo, 0.65
/// on the canonical face).
const DEPTH: f32 = 1.75;

/// `rgba` (`width`×`height`) with the face of `marks` turned by `yaw`
/// degrees (> 0: towards the image's right, as [`super::pose::Pose`]).
/// Where the turned face no longer covers the original one, the face's
/// mean colour fills in.
pub fn turn_face(rgba: &[u8], width: usize, height: usize, marks: &Landmarks, triangles: &[[usize; 3]], yaw: f32) -> Vec<u8> {
    let n = marks.points.len() as f32;
    let centre: [f32; 3] = std::array::from_fn(|a| marks.points.iter().map(|p| p[a]).sum::<f32>() / n);
    let (sin, cos) = yaw.to_radians().sin_cos();
    let turned: Vec<[f32; 3]> = marks
        .points
        .iter()
        .map(|&[x, y, z]| {
            let (a, b) = (x - centre[0], (z - centre[2]) * DEPTH);
            [centre[0] + a * cos - b * sin, y, centre[2] + a * sin + b * cos]
        })
        .collect();
    let source = Rgba { pixels: rgba, width, height };
    let mut out = rgba.to_vec();
    // The original face, covered with its mean colour first.
    let mut mean = [0.0f64; 3];
    let mut count = 0.0f64;
    let mut original = vec![false; width * height];
    for t in triangles {
        raster(t.map(|i| marks.points[i]), width, height, |x, y, _| original[y * width + x] = true);
    }
    for i in (0..width * height).filter(|&i| original[i]) {
        for c in 0..3 {
            mean[c] += rgba[i * 4 + c] as f64;
        }
        count += 1.0;
    }
    for i in (0..width * height).filter(|&i| original[i]) {
        for c in 0..3 {
            out[i * 4 + c] = (mean[c] / count.max(1.0)).round() as u8;
        }
    }
    // Then each triangle where it goes, nearest first, its texture from where it was.
    let mut depth = vec![f32::MAX; width * height];
    for t in triangles {
        let (to, from) = (t.map(|i| turned[i]), t.map(|i| marks.points[i]));
        raster(to, width, height, |x, y, [l0, l1, l2]| {
            let z = l0 * to[0][2] + l1 * to[1][2] + l2 * to[2][2];
            if z >= depth[y * width + x] {
                return;
            }
            depth[y * width + x] = z;
            let sx = l0 * from[0][0] + l1 * from[1][0] + l2 * from[2][0];
            let sy = l0 * from[0][1] + l1 * from[1][1] + l2 * from[2][1];
            let p = source.sample(sx, sy);
            for c in 0..3 {
                out[(y * width + x) * 4 + c] = p[c].round() as u8;
            }
        });
    }
    out
}

/// Every pixel whose centre lies in the triangle (x, y of each corner),
/// with its barycentric weights.
fn raster(t: [[f32; 3]; 3], width: usize, height: usize, mut pixel: impl FnMut(usize, usize, [f32; 3])) {
    let area = (t[1][0] - t[0][0]) * (t[2][1] - t[0][1]) - (t[2][0] - t[0][0]) * (t[1][1] - t[0][1]);
    if area.abs() < 1e-6 {
        return;
    }
    let lo = |a: usize| t.iter().map(|p| p[a]).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let hi = |a: usize, n: usize| (t.iter().map(|p| p[a]).fold(f32::MIN, f32::max).ceil().max(0.0) as usize).min(n);
    for y in lo(1)..hi(1, height) {
        for x in lo(0)..hi(0, width) {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let w0 = ((t[1][0] - px) * (t[2][1] - py) - (t[2][0] - px) * (t[1][1] - py)) / area;
            let w1 = ((t[2][0] - px) * (t[0][1] - py) - (t[0][0] - px) * (t[2][1] - py)) / area;
            let w2 = 1.0 - w0 - w1;
            if w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0 {
                pixel(x, y, [w0, w1, w2]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{astronaut, detector, mesh};

    /// The mesh network reads about half the turn (a real head's outline
    /// and hair would turn too): enough to test what turned faces set off.
    #[test]
    fn a_face_turned_in_depth_reads_as_turned() {
        let (pixels, width, height) = astronaut();
        let (detector, mesh) = (detector(), mesh());
        let image = Rgba { pixels: &pixels, width, height };
        let face = detector.detect(&image).unwrap().remove(0);
        let marks = mesh.follow(&image, &face, None).unwrap().unwrap();
        let mut read = Vec::new();
        for yaw in [-50.0f32, -25.0, 25.0, 50.0] {
            let turned = turn_face(&pixels, width, height, &marks, &mesh.canonical().triangles, yaw);
            let image = Rgba { pixels: &turned, width, height };
            let face = detector.detect(&image).unwrap().remove(0);
            let found = mesh.follow(&image, &face, None).unwrap().expect("a mesh on the turned face");
            println!("turned by {yaw}°: yaw {:.1}°, pitch {:.1}°, roll {:.1}° (the photo: {:.1}°)", found.pose.yaw, found.pose.pitch, found.pose.roll, marks.pose.yaw);
            read.push(found.pose.yaw);
        }
        // The right way, more for more, and past 20° at 50°.
        assert!(read.windows(2).all(|w| w[0] < w[1]), "{read:?}");
        assert!(read[0] < -20.0 && read[3] > 20.0 && read[1] < -10.0 && read[2] > 10.0, "{read:?}");
    }
}
