//! Which way a face is turned: its mesh fitted to MediaPipe's canonical face
//! (the `face_geometry` data of the same npm package), a rigid fit with
//! scale over the 33 weighted points MediaPipe's own geometry pipeline fits
//! with (Horn's closed form: the rotation is the top eigenvector of a 4×4
//! matrix, as a quaternion).
//!
//! Orthographic, not MediaPipe's perspective camera: the mesh's depth is
//! already scaled like x (weak perspective), and a face fills a small angle
//! of view, so the rotation is the same to a degree or two without knowing
//! the camera.

use serde::Serialize;

use super::{POINTS, proto};

/// Where `make js` puts the file, relative to the repository.
pub const GEOMETRY_FILE: &str = "www/lib/geometry_pipeline_metadata_landmarks.binarypb";

/// Yaw, pitch and roll in degrees: yaw > 0 when the face turns towards the
/// image's right, pitch > 0 when it looks up, roll > 0 when it leans
/// clockwise on screen. All 0 for a face looking straight at the camera.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

impl Pose {
    /// Whether the face looks away (yaw or pitch) by more than `limit` degrees.
    pub fn turned_away(&self, limit: f32) -> bool {
        self.yaw.abs() > limit || self.pitch.abs() > limit
    }
}

/// MediaPipe's canonical face: 468 points (cm, y up, z towards the camera)
/// and the points (with weights) a pose is fitted on.
pub struct CanonicalFace {
    points: Vec<[f64; 3]>,
    basis: Vec<(usize, f64)>,
    /// The mesh's triangles (point indices).
    pub triangles: Vec<[usize; 3]>,
}

impl CanonicalFace {
    /// From `geometry_pipeline_metadata_landmarks.binarypb`: message
    /// `GeometryPipelineMetadata` { 1: canonical_mesh (Mesh3d { 3: vertex
    /// buffer, x y z u v per vertex }), 2: procrustes_landmark_basis
    /// (repeated { 1: landmark_id, 2: weight }) }.
    pub fn new(bytes: &[u8]) -> Result<Self, String> {
        let top = proto::fields(bytes)?;
        let mesh = top.iter().find_map(|(n, v)| match v {
            proto::Value::Bytes(b) if *n == 1 => Some(*b),
            _ => None,
        });
        let mesh = proto::fields(mesh.ok_or("the face geometry file has no canonical mesh")?)?;
        let vertices = proto::floats(&mesh, 3)?;
        let indices = proto::varints(&mesh, 4)?;
        if indices.len() % 3 != 0 || indices.iter().any(|&i| i >= POINTS as u64) {
            return Err("the canonical mesh's triangles are damaged".into());
        }
        let triangles = indices.chunks_exact(3).map(|t| [t[0] as usize, t[1] as usize, t[2] as usize]).collect();
        if vertices.len() != POINTS * 5 {
            return Err(format!("the canonical mesh has {} values, not {} (468 × x y z u v)", vertices.len(), POINTS * 5));
        }
        let points = vertices.chunks_exact(5).map(|v| [v[0] as f64, v[1] as f64, v[2] as f64]).collect();
        let mut basis = Vec::new();
        for (n, value) in &top {
            if let (2, proto::Value::Bytes(b)) = (n, value) {
                let fields = proto::fields(b)?;
                let id = proto::varints(&fields, 1)?.first().copied().unwrap_or(0) as usize;
                let weight = proto::floats(&fields, 2)?.first().copied().unwrap_or(0.0) as f64;
                if id >= POINTS || !(weight.is_finite() && weight >= 0.0) {
                    return Err(format!("the face geometry file weights point {id} by {weight}"));
                }
                basis.push((id, weight));
            }
        }
        if basis.len() < 3 || basis.iter().map(|b| b.1).sum::<f64>() <= 0.0 {
            return Err("the face geometry file has no points to fit a pose on".into());
        }
        Ok(Self { points, basis, triangles })
    }

    /// The pose of a mesh in image pixels (x right, y down, z away from the
    /// camera).
    pub fn pose(&self, mesh: &[[f32; 3]]) -> Result<Pose, String> {
        if mesh.len() != POINTS {
            return Err(format!("a face mesh has {POINTS} points, got {}", mesh.len()));
        }
        // Into the canonical face's axes: y up, z towards the camera.
        let target = |i: usize| [mesh[i][0] as f64, -mesh[i][1] as f64, -mesh[i][2] as f64];
        let r = fit_rotation(self.basis.iter().map(|&(i, w)| (self.points[i], target(i), w)));
        // r = Rz(γ)·Ry(β)·Rx(α), the canonical face turned into the image's.
        let yaw = (-r[2][0]).clamp(-1.0, 1.0).asin();
        let pitch = r[2][1].atan2(r[2][2]);
        let roll = r[1][0].atan2(r[0][0]);
        Ok(Pose { yaw: yaw.to_degrees() as f32, pitch: -pitch.to_degrees() as f32, roll: -roll.to_degrees() as f32 })
    }
}

/// The rotation R that best maps the `from` points onto the `to` points
/// (with a scale and a shift, weighted least squares): Horn (1987).
fn fit_rotation(pairs: impl Iterator<Item = ([f64; 3], [f64; 3], f64)> + Clone) -> [[f64; 3]; 3] {
    let total: f64 = pairs.clone().map(|p| p.2).sum();
    let mut mean = [[0.0; 3]; 2];
    for (a, b, w) in pairs.clone() {
        for k in 0..3 {
            mean[0][k] += w * a[k] / total;
            mean[1][k] += w * b[k] / total;
        }
    }
    // s[i][j] = Σ w (a_i − ā_i)(b_j − b̄_j)
    let mut s = [[0.0; 3]; 3];
    for (a, b, w) in pairs {
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += w * (a[i] - mean[0][i]) * (b[j] - mean[1][j]);
            }
        }
    }
    let [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = s;
    let n = [
        [xx + yy + zz, yz - zy, zx - xz, xy - yx],
        [yz - zy, xx - yy - zz, xy + yx, zx + xz],
        [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
        [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
    ];
    let [w, x, y, z] = top_eigenvector(n);
    [
        [w * w + x * x - y * y - z * z, 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), w * w - x * x + y * y - z * z, 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), w * w - x * x - y * y + z * z],
    ]
}

/// The unit eigenvector of a symmetric 4×4 matrix with the largest
/// eigenvalue (cyclic Jacobi rotations).
fn top_eigenvector(mut a: [[f64; 4]; 4]) -> [f64; 4] {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4).flat_map(|p| (p + 1..4).map(move |q| (p, q))).map(|(p, q)| a[p][q] * a[p][q]).sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..4 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..4 {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..4 {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let best = (0..4).max_by(|&i, &j| a[i][i].total_cmp(&a[j][j])).unwrap();
    [v[0][best], v[1][best], v[2][best], v[3][best]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::canonical_face;

    fn rotation(yaw: f64, pitch: f64, roll: f64) -> [[f64; 3]; 3] {
        // In the canonical axes (y up): Rz(γ)·Ry(β)·Rx(α), with γ = −roll, α = −pitch.
        let (a, b, g) = (-pitch.to_radians(), yaw.to_radians(), -roll.to_radians());
        let rz = [[g.cos(), -g.sin(), 0.0], [g.sin(), g.cos(), 0.0], [0.0, 0.0, 1.0]];
        let ry = [[b.cos(), 0.0, b.sin()], [0.0, 1.0, 0.0], [-b.sin(), 0.0, b.cos()]];
        let rx = [[1.0, 0.0, 0.0], [0.0, a.cos(), -a.sin()], [0.0, a.sin(), a.cos()]];
        let mul = |p: [[f64; 3]; 3], q: [[f64; 3]; 3]| std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| p[i][k] * q[k][j]).sum()));
        mul(mul(rz, ry), rx)
    }

    #[test]
    fn a_turned_scaled_and_moved_canonical_face_gives_back_its_angles() {
        let face = canonical_face();
        for (yaw, pitch, roll) in [(0.0, 0.0, 0.0), (30.0, 0.0, 0.0), (0.0, -25.0, 0.0), (0.0, 0.0, 20.0), (-40.0, 15.0, -10.0), (60.0, 30.0, 45.0)] {
            let r = rotation(yaw, pitch, roll);
            // 9 px per cm, centred at (300, 200), y down, z away from the camera.
            let mesh: Vec<[f32; 3]> = face
                .points
                .iter()
                .map(|p| {
                    let q: [f64; 3] = std::array::from_fn(|i| (0..3).map(|k| r[i][k] * p[k]).sum());
                    [(300.0 + 9.0 * q[0]) as f32, (200.0 - 9.0 * q[1]) as f32, (-9.0 * q[2]) as f32]
                })
                .collect();
            let pose = face.pose(&mesh).unwrap();
            let got = [pose.yaw as f64, pose.pitch as f64, pose.roll as f64];
            for (g, want) in got.iter().zip([yaw, pitch, roll]) {
                assert!((g - want).abs() < 1e-2, "{got:?} for {yaw}, {pitch}, {roll}");
            }
        }
    }

    #[test]
    fn the_geometry_file_is_read_and_a_damaged_one_refused() {
        let face = canonical_face();
        assert_eq!((face.points.len(), face.basis.len(), face.triangles.len()), (POINTS, 33, 898));
        // The nose (points 1 and 4) is the nearest to the camera, the
        // forehead (10) above the chin (152).
        let nearest = (0..POINTS).max_by(|&i, &j| face.points[i][2].total_cmp(&face.points[j][2])).unwrap();
        assert!([1, 4].contains(&nearest), "{nearest}");
        assert!(face.points[10][1] > face.points[152][1]);
        let bytes = std::fs::read(format!("{}/../{GEOMETRY_FILE}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for cut in [0, 1, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(CanonicalFace::new(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
