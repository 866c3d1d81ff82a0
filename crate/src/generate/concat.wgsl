// The decoder's skip connection: channels of `a` then of `b`, pixel by
// pixel (NHWC, channels in vec4s `S`, as conv.wgsl).

struct Params { pixels: u32, a4: u32, b4: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> a: array<S>;
@group(0) @binding(1) var<storage, read> b: array<S>;
@group(0) @binding(2) var<storage, read_write> y: array<S>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn concat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = gid.x + gid.y * groups.x * 64u;
    let c4 = p.a4 + p.b4;
    if (g >= p.pixels * c4) { return; }
    let pixel = g / c4;
    let c = g % c4;
    if (c < p.a4) { y[g] = a[pixel * p.a4 + c]; } else { y[g] = b[pixel * p.b4 + c - p.a4]; }
}
