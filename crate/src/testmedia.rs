//! Test media made from a photo, for the tests and the CLI's benchmarks.

/// `frames` frames of `width`×`height` panning and zooming over a photo on
/// grey (the face drifts right and grows by 2.5 % a frame).
pub fn pan_zoom(photo: &[u8], pw: usize, frames: usize, width: usize, height: usize) -> Vec<Vec<u8>> {
    let ph = photo.len() / 4 / pw;
    (0..frames)
        .map(|t| {
            let (scale, ox, oy) = (1.0 + 0.025 * t as f32, 90.0 + 6.0 * t as f32, -20.0 - 4.0 * t as f32);
            let mut frame = vec![120u8; width * height * 4];
            for y in 0..height {
                for x in 0..width {
                    let (sx, sy) = (((x as f32 - ox) / scale) as isize, ((y as f32 - oy) / scale) as isize);
                    if (0..pw as isize).contains(&sx) && (0..ph as isize).contains(&sy) {
                        let from = (sy as usize * pw + sx as usize) * 4;
                        frame[(y * width + x) * 4..][..4].copy_from_slice(&photo[from..from + 4]);
                    }
                }
            }
            frame
        })
        .collect()
}


/// The test photo's face (`astronaut.png`): its detected box's height and
/// centre, in the photo's pixels.
pub const PHOTO_FACE_HEIGHT: f32 = 125.0;
pub const PHOTO_FACE_CENTRE: [f32; 2] = [220.0, 135.0];

/// A wide shot: the test photo shrunk (area-averaged, as a camera's sensor
/// does) so that its face is `face` px tall with its centre near `centre`,
/// in a `width`×`height` frame of a soft grey gradient with a little noise
/// (a wall, a room) — the person far from the camera.
pub fn wide_shot(photo: &[u8], pw: usize, face: f32, centre: [f32; 2], width: usize, height: usize) -> Vec<u8> {
    let scale = face / PHOTO_FACE_HEIGHT;
    let at = [centre[0] - PHOTO_FACE_CENTRE[0] * scale, centre[1] - PHOTO_FACE_CENTRE[1] * scale];
    let ph = photo.len() / 4 / pw;
    let (sw, sh) = (((pw as f32 * scale).round() as usize).max(1), ((ph as f32 * scale).round() as usize).max(1));
    let rgb: Vec<f32> = photo.chunks_exact(4).flat_map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
    let small = crate::enhance::resample(&rgb, pw, ph, sw, sh);
    let noise = pseudo(width * height, 12345);
    let mut frame = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            let noise = 16.0 * noise[y * width + x];
            let base = 95.0 + 50.0 * x as f32 / width as f32 + 25.0 * y as f32 / height as f32 + noise;
            frame.extend([base, base * 0.97, base * 0.92].map(|v| v.clamp(0.0, 255.0) as u8));
            frame.push(255);
        }
    }
    let (ox, oy) = (at[0].round() as isize, at[1].round() as isize);
    for y in 0..sh {
        for x in 0..sw {
            let (fx, fy) = (ox + x as isize, oy + y as isize);
            if (0..width as isize).contains(&fx) && (0..height as isize).contains(&fy) {
                let to = (fy as usize * width + fx as usize) * 4;
                for c in 0..3 {
                    frame[to + c] = small[(y * sw + x) * 3 + c].round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    frame
}

/// Values in [-0.5, 0.5) from a fixed generator (an LCG): kernels' tests'
/// inputs, and the noise of test media.
pub fn pseudo(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect()
}
