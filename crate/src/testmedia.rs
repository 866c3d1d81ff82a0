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

