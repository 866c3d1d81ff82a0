//! Activations as the CPU loops want them: NHWC (channels innermost), one
//! image at a time. Shared by the detector's and the generator's kernels.

/// An image (or any NHWC value), batch of one.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn new(h: usize, w: usize, c: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), h * w * c);
        Self { h, w, c, data }
    }

    /// A copy with a border of `fill`: `[(before, after)]` for H, W and C.
    #[inline(never)]
    pub fn padded(&self, pads: [(usize, usize); 3], fill: f32) -> Image {
        let [(t, b), (l, r), (c0, c1)] = pads;
        let (h, w, c) = (self.h + t + b, self.w + l + r, self.c + c0 + c1);
        let mut data = vec![fill; h * w * c];
        if c == self.c {
            // Whole rows at once.
            let row = self.w * c;
            for y in 0..self.h {
                let to = ((y + t) * w + l) * c;
                data[to..to + row].copy_from_slice(&self.data[y * row..(y + 1) * row]);
            }
            return Image { h, w, c, data };
        }
        for y in 0..self.h {
            for x in 0..self.w {
                let from = (y * self.w + x) * self.c;
                let to = ((y + t) * w + x + l) * c + c0;
                data[to..to + self.c].copy_from_slice(&self.data[from..from + self.c]);
            }
        }
        Image { h, w, c, data }
    }
}

/// Output size of a window sliding over `size` pixels with no padding.
pub fn valid(size: usize, kernel: usize, stride: usize) -> usize {
    if size < kernel { 0 } else { (size - kernel) / stride + 1 }
}
