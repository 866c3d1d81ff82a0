// One generator block on the GPU: convolution (or transposed convolution,
// as a gather) with BatchNorm folded into the weights, then bias, the
// residual, and the activation in the same pass: the block's output is
// written once and never re-read to finish it.
//
// Activations are NHWC with channels padded to a multiple of 4, read as
// vec4s over channels. Each invocation computes a register tile of 4
// neighbouring output pixels × 8 output channels: per 4 input channels it
// loads 4 pixel vec4s and 8 weight vec4s for 128 multiply-adds, where a
// direct kernel loads two values per multiply-add.
//
// Weights are packed `[cout/8][ky][kx][cin/4][ci 0..4][co 0..8]`, two
// vec4s per input channel (output channels 0..3, then 4..7), zero-padded.
//
// `S`, the stored vec4 (of weights and activations), is declared by the
// code that loads this file: vec4<f32>, or vec4<f16> where the GPU has
// shader-f16 (half the memory traffic); arithmetic is f32 either way.

struct Params {
    n: u32, ih: u32, iw: u32, ic4: u32,
    oh: u32, ow: u32, oc4: u32, ob: u32,
    k: u32, sy: u32, sx: u32, pad: u32,
    // 1: transposed; 2: add the residual; 4: ReLU; 8: sigmoid.
    flags: u32, _a: u32, _b: u32, _c: u32,
}

@group(0) @binding(0) var<storage, read> x: array<S>;
@group(0) @binding(1) var<storage, read> w: array<S>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> res: array<S>;
@group(0) @binding(4) var<storage, read_write> y: array<S>;
@group(0) @binding(5) var<uniform> p: Params;

const TRANSPOSED: u32 = 1u;
const RESIDUAL: u32 = 2u;
const RELU: u32 = 4u;
const SIGMOID: u32 = 8u;

// The input column (or -1) that output column `o` reads through tap `t`.
fn source(o: u32, t: u32, stride: u32, size: u32) -> i32 {
    if ((p.flags & TRANSPOSED) != 0u) {
        let s = i32(o + p.pad) - i32(t);
        if (s < 0 || s % i32(stride) != 0 || s / i32(stride) >= i32(size)) { return -1; }
        return s / i32(stride);
    }
    let i = i32(o * stride + t) - i32(p.pad);
    if (i < 0 || i >= i32(size)) { return -1; }
    return i;
}

fn finish(v: vec4<f32>, at: u32) -> S {
    var r = v;
    if ((p.flags & RESIDUAL) != 0u) { r += vec4<f32>(res[at]); }
    if ((p.flags & RELU) != 0u) { r = max(r, vec4<f32>(0.0)); }
    if ((p.flags & SIGMOID) != 0u) { r = 1.0 / (1.0 + exp(-r)); }
    return S(r);
}

@compute @workgroup_size(64)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = gid.x + gid.y * groups.x * 64u;
    let tiles = (p.ow + 3u) / 4u;
    if (g >= p.n * p.oh * tiles * p.ob) { return; }
    // Output-channel block fastest: neighbouring invocations read the same pixels.
    let ob = g % p.ob;
    var r = g / p.ob;
    let ox = (r % tiles) * 4u;
    r = r / tiles;
    let oy = r % p.oh;
    let n = r / p.oh;

    var a0 = bias[ob * 2u]; var b0 = bias[ob * 2u + 1u];
    var a1 = a0; var b1 = b0; var a2 = a0; var b2 = b0; var a3 = a0; var b3 = b0;

    for (var ky = 0u; ky < p.k; ky++) {
        let iy = source(oy, ky, p.sy, p.ih);
        if (iy < 0) { continue; }
        let row = (n * p.ih + u32(iy)) * p.iw;
        for (var kx = 0u; kx < p.k; kx++) {
            // Pixels past the edge read column 0 and weigh it by 0.
            let i0 = source(ox, kx, p.sx, p.iw);
            let i1 = source(ox + 1u, kx, p.sx, p.iw);
            let i2 = source(ox + 2u, kx, p.sx, p.iw);
            let i3 = source(ox + 3u, kx, p.sx, p.iw);
            let m0 = f32(i0 >= 0 && ox < p.ow);
            let m1 = f32(i1 >= 0 && ox + 1u < p.ow);
            let m2 = f32(i2 >= 0 && ox + 2u < p.ow);
            let m3 = f32(i3 >= 0 && ox + 3u < p.ow);
            let x0 = (row + u32(max(i0, 0))) * p.ic4;
            let x1 = (row + u32(max(i1, 0))) * p.ic4;
            let x2 = (row + u32(max(i2, 0))) * p.ic4;
            let x3 = (row + u32(max(i3, 0))) * p.ic4;
            var wi = ((ob * p.k + ky) * p.k + kx) * p.ic4 * 8u;
            for (var c = 0u; c < p.ic4; c++) {
                let v0 = vec4<f32>(x[x0 + c]) * m0;
                let v1 = vec4<f32>(x[x1 + c]) * m1;
                let v2 = vec4<f32>(x[x2 + c]) * m2;
                let v3 = vec4<f32>(x[x3 + c]) * m3;
                let wa0 = vec4<f32>(w[wi]); let wb0 = vec4<f32>(w[wi + 1u]);
                let wa1 = vec4<f32>(w[wi + 2u]); let wb1 = vec4<f32>(w[wi + 3u]);
                let wa2 = vec4<f32>(w[wi + 4u]); let wb2 = vec4<f32>(w[wi + 5u]);
                let wa3 = vec4<f32>(w[wi + 6u]); let wb3 = vec4<f32>(w[wi + 7u]);
                wi += 8u;
                a0 += v0.x * wa0 + v0.y * wa1 + v0.z * wa2 + v0.w * wa3;
                b0 += v0.x * wb0 + v0.y * wb1 + v0.z * wb2 + v0.w * wb3;
                a1 += v1.x * wa0 + v1.y * wa1 + v1.z * wa2 + v1.w * wa3;
                b1 += v1.x * wb0 + v1.y * wb1 + v1.z * wb2 + v1.w * wb3;
                a2 += v2.x * wa0 + v2.y * wa1 + v2.z * wa2 + v2.w * wa3;
                b2 += v2.x * wb0 + v2.y * wb1 + v2.z * wb2 + v2.w * wb3;
                a3 += v3.x * wa0 + v3.y * wa1 + v3.z * wa2 + v3.w * wa3;
                b3 += v3.x * wb0 + v3.y * wb1 + v3.z * wb2 + v3.w * wb3;
            }
        }
    }

    let base = ((n * p.oh + oy) * p.ow + ox) * p.oc4 + ob * 2u;
    let second = ob * 2u + 1u < p.oc4;
    if (ox < p.ow) { y[base] = finish(a0, base); if (second) { y[base + 1u] = finish(b0, base + 1u); } }
    if (ox + 1u < p.ow) { let at = base + p.oc4; y[at] = finish(a1, at); if (second) { y[at + 1u] = finish(b1, at + 1u); } }
    if (ox + 2u < p.ow) { let at = base + 2u * p.oc4; y[at] = finish(a2, at); if (second) { y[at + 1u] = finish(b2, at + 1u); } }
    if (ox + 3u < p.ow) { let at = base + 3u * p.oc4; y[at] = finish(a3, at); if (second) { y[at + 1u] = finish(b3, at + 1u); } }
}
