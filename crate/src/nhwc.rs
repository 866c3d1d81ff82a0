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

    /// From `c` planes of `h × w` (CHW, as the model's tensors are).
    pub fn from_planes(planes: &[f32], c: usize, h: usize, w: usize) -> Self {
        let mut data = vec![0.0; c * h * w];
        for (ch, plane) in planes.chunks_exact(h * w).enumerate() {
            for (i, &v) in plane.iter().enumerate() {
                data[i * c + ch] = v;
            }
        }
        Self::new(h, w, c, data)
    }

    /// The first `c` channels as planes (CHW).
    pub fn planes(&self, c: usize) -> Vec<f32> {
        let plane = self.h * self.w;
        let mut data = vec![0.0; c * plane];
        for (i, pixel) in self.data.chunks_exact(self.c).enumerate() {
            for (ch, &v) in pixel[..c].iter().enumerate() {
                data[ch * plane + i] = v;
            }
        }
        data
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

/// Bilinear sampling of a `w`×`h` grid at (`x`, `y`), in grid units with
/// 0 the first sample's centre; `at(x, y)` reads one sample of `N` values,
/// and the grid's edge repeats beyond it.
#[inline]
pub fn bilinear<const N: usize>(w: usize, h: usize, x: f32, y: f32, at: impl Fn(usize, usize) -> [f32; N]) -> [f32; N] {
    let (xi, yi) = (x.floor(), y.floor());
    let (fx, fy) = (x - xi, y - yi);
    let clamp = |v: f32, n: usize| v.clamp(0.0, n as f32 - 1.0) as usize;
    let (x0, x1, y0, y1) = (clamp(xi, w), clamp(xi + 1.0, w), clamp(yi, h), clamp(yi + 1.0, h));
    let (p00, p10, p01, p11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    std::array::from_fn(|c| {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bottom = p01[c] + (p11[c] - p01[c]) * fx;
        top + (bottom - top) * fy
    })
}

/// Each output pixel's `kh × kw` window (VALID, `stride`) as one row of
/// `kh · kw · c` values (im2col): a convolution over few channels then runs
/// as a 1×1 convolution over these.
pub fn windows(x: &Image, (kh, kw): (usize, usize), (sy, sx): (usize, usize)) -> Image {
    let (oh, ow) = (valid(x.h, kh, sy), valid(x.w, kw, sx));
    let row = kw * x.c;
    let mut data = Vec::with_capacity(oh * ow * kh * row);
    for oy in 0..oh {
        for ox in 0..ow {
            for ky in 0..kh {
                let at = ((oy * sy + ky) * x.w + ox * sx) * x.c;
                data.extend_from_slice(&x.data[at..at + row]);
            }
        }
    }
    Image::new(oh, ow, kh * row, data)
}

/// Output size of a window sliding over `size` pixels with no padding.
pub fn valid(size: usize, kernel: usize, stride: usize) -> usize {
    if size < kernel { 0 } else { (size - kernel) / stride + 1 }
}
