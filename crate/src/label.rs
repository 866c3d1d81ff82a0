//! The "AI-generated" label stamped on every output frame. The authors
//! asked that synthetic videos be presented as such; a visible mark is on
//! by default (the page may turn it off, and the file's metadata says it
//! too). The label's picture is drawn by the caller, which has fonts (the
//! browser's canvas); here it is only composited.

/// An RGBA picture (straight alpha), put in the bottom-right corner.
#[derive(Clone, Debug)]
pub struct Label {
    pixels: Vec<u8>,
    width: usize,
    height: usize,
}

impl Label {
    pub fn new(pixels: Vec<u8>, width: usize, height: usize) -> Result<Self, String> {
        if width == 0 || height == 0 || pixels.len() != width * height * 4 {
            return Err(format!("a {width}×{height} label needs {} RGBA bytes, got {}", width * height * 4, pixels.len()));
        }
        Ok(Self { pixels, width, height })
    }

    /// Onto a `width`×`height` RGBA frame, a small margin from the corner;
    /// whatever would fall outside the frame is left out.
    pub fn stamp(&self, frame: &mut [u8], width: usize, height: usize) {
        let margin = width.min(height) / 50;
        let x0 = width.saturating_sub(self.width + margin);
        let y0 = height.saturating_sub(self.height + margin);
        for y in 0..self.height.min(height - y0) {
            for x in 0..self.width.min(width - x0) {
                let src = &self.pixels[(y * self.width + x) * 4..][..4];
                let a = src[3] as u32;
                if a == 0 {
                    continue;
                }
                let dst = &mut frame[((y0 + y) * width + x0 + x) * 4..][..3];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = ((s as u32 * a + *d as u32 * (255 - a) + 127) / 255) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lands_in_the_bottom_right_corner_with_its_alpha() {
        let (w, h) = (200, 100);
        let mut frame = vec![100u8; w * h * 4];
        // 10×4: opaque white, except a half-transparent black last column.
        let mut pixels = [255u8; 10 * 4 * 4].to_vec();
        for y in 0..4 {
            pixels[(y * 10 + 9) * 4..][..4].copy_from_slice(&[0, 0, 0, 128]);
        }
        Label::new(pixels, 10, 4).unwrap().stamp(&mut frame, w, h);
        let at = |x: usize, y: usize| frame[(y * w + x) * 4];
        let (x0, y0) = (w - 10 - 2, h - 4 - 2);
        assert_eq!(at(x0, y0), 255);
        assert_eq!(at(x0 + 9, y0 + 3), 50); // 100 × 127/255
        assert_eq!(at(x0 - 1, y0), 100);
        assert_eq!(at(x0, y0 - 1), 100);
        assert_eq!(frame[(y0 * w + x0) * 4 + 3], 100, "alpha of the frame is kept");
    }

    #[test]
    fn a_label_larger_than_the_frame_is_cut_not_a_crash() {
        let mut frame = vec![0u8; 8 * 8 * 4];
        Label::new(vec![255; 20 * 20 * 4], 20, 20).unwrap().stamp(&mut frame, 8, 8);
        assert!(frame.chunks_exact(4).all(|p| p[0] == 255));
        assert!(Label::new(vec![0; 5], 2, 2).is_err());
    }
}
