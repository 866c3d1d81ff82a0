//! `wav2lip`: the native entry point, for tools and tests.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use wav2lip::blocking::block_on;
use wav2lip::checkpoint::identify::Identity;
use wav2lip::checkpoint::writer::legacy_checkpoint;
use wav2lip::checkpoint::safetensors::{self, Precision};
use wav2lip::checkpoint::{Checkpoint, Entry, FileSource, Source};
use wav2lip::generate::{Generator, Weights};
#[cfg(feature = "gpu")]
use wav2lip::generate::gpu::Storage;
use wav2lip::{enhance, formula, npy, superres, testmedia};
use wav2lip::audio::mel;
use wav2lip::crop::{self, Pads};
use wav2lip::detect::{self, Detector, Rgba, read_png};
use wav2lip::landmarks::pose;
use wav2lip::landmarks::{self, Mesh, Roi};
use wav2lip::audio::voice::{Voice, VoiceBuilder};
use wav2lip::selftest;

const USAGE: &str = "\
usage: wav2lip <command>

commands:
  mel AUDIO.wav -o MEL.npy       Wav2Lip's mel spectrogram of a recording: [80, T] float32
                                 (any rate from 8 to 384 kHz, any channel count)
  detect IMAGE.png [--pads T,B,L,R] [--detector MODEL.tflite]
                                 faces in a photo, as JSON: boxes (x1,y1,x2,y2 px), six
                                 keypoints, scores, and the crop Wav2Lip gets (pads as
                                 the original's --pads, default 0,10,0,0)
  landmarks IMAGE.png [--detector MODEL.tflite] [--mesh MODEL.tflite] [--geometry FILE.binarypb]
                                 each face's 468 Face Mesh points as JSON, in image pixels
                                 ([x, y, z], MediaPipe's order; z scaled as x, smaller is
                                 nearer), its box, and its pose in degrees (yaw > 0: turned
                                 to the image's right; pitch > 0: looking up; roll > 0:
                                 leaning clockwise)
  turn-face IMAGE.png --yaw DEG -o OUT.png
                                 the photo with its face turned in depth by DEG (its mesh
                                 drawn as a textured surface): test media for faces that
                                 turn away (the mesh reads about half the turn)
  enhance FACE96.png -o OUT.png --size W,H [--filter bicubic|bilinear] [--sharpen off|auto|AMOUNT] [--reference REAL.png]
                                 a 96-px face brought to WxH as the app's blend does it:
                                 bicubic (bilinear: the original's paste); sharpened by
                                 AMOUNT, or (auto) by what makes its upper half as
                                 detailed as the real face's (--reference, WxH)
  inspect CHECKPOINT             what a .pth file is: format, dtypes, tensors,
                                 parameters, and whether it is a Wav2Lip generator
  generate --checkpoint CKPT --mel MEL.npy --face FACE.npy -o OUT.npy [--device cpu|flex|gpu|gpu-f32|wgpu]
                                 run the generator: [B,1,80,16] + [B,6,96,96] -> [B,3,96,96]
  convert CHECKPOINT -o MODEL.safetensors [--f16]
                                 keep only the generator, as safetensors (f32, or f16:
                                 half the size, values rounded to about 3 digits)
  bench [--checkpoint CKPT] [--device cpu|flex|gpu|gpu-f32|wgpu] [--batches 1,8,32] [--runs N]
                                 time the generator (formula weights if no checkpoint);
                                 cpu, gpu: our own kernels (gpu through wgpu: Vulkan,
                                 Metal; f16 storage where the GPU has shader-f16,
                                 gpu-f32 never); flex, wgpu: burn's kernels
  bench detect [--runs 20]       time face detection on 720p, 1080p and 4K frames, and the face's
                                 mesh and pose (CPU)
  bench enhance [--runs 5]       the ways to bring the 96-px face back to size, on real
                                 face crops and the test clip, clean and blurred: PSNR,
                                 SSIM and detail over the lower half, ms per face
  bench audio [--seconds 60] [--runs 5]
                                 time the mel spectrogram of that much audio at 16, 44.1
                                 and 48 kHz, streamed in 100 ms pieces; peak memory
  formula-checkpoint [--seed N] [--released-size | --syncnet] -o FILE.pth
                                 write the oracle's formula weights (default seed 7) as a
                                 checkpoint in the released layout, for tests; with
                                 --released-size, padded with optimizer state to the
                                 436 MB of the authors' files; with --syncnet, the first
                                 layers of the SyncNet expert instead (a wrong file)
  selftest [--device cpu|wgpu]   run a 2-D convolution on a burn backend and compare it
                                 with a direct CPU computation (default: cpu)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("selftest") => selftest_command(&args[1..]),
        Some("mel") => mel_command(&args[1..]),
        Some("detect") => detect_command(&args[1..]),
        Some("landmarks") => landmarks_command(&args[1..]),
        Some("turn-face") => turn_face_command(&args[1..]),
        Some("enhance") => enhance_command(&args[1..]),
        Some("inspect") => inspect_command(&args[1..]),
        Some("generate") => generate_command(&args[1..]),
        Some("convert") => convert_command(&args[1..]),
        Some("bench") => bench_command(&args[1..]),
        Some("formula-checkpoint") => formula_checkpoint_command(&args[1..]),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command \"{other}\"\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wav2lip: {message}");
            ExitCode::FAILURE
        }
    }
}

fn selftest_command(args: &[String]) -> Result<(), String> {
    let device = match args {
        [] => Device::flex(),
        [flag, name] if flag == "--device" => device_named(name)?,
        _ => return Err(format!("selftest takes [--device cpu|wgpu]\n\n{USAGE}")),
    };
    let report = block_on(selftest::conv2d_check(&device, selftest::CONV_CHECK))?;
    println!(
        "conv2d {:?}: {} values, max abs error {:.3e} (tolerance {:.0e}): {}",
        report.output_shape,
        report.values,
        report.max_abs_error,
        report.tolerance,
        if report.passed { "ok" } else { "FAILED" }
    );
    if report.passed { Ok(()) } else { Err("the backend computed wrong values".into()) }
}

#[cfg(not(feature = "gpu"))]
const WITHOUT_GPU: &str = "this wav2lip was built without GPU support: build it with `make native` (cargo's --features gpu)";

fn device_named(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "gpu")]
        "wgpu" => Device::wgpu_options()
            .init()
            .map_err(|e| format!("no wgpu device: {e} (a Vulkan or Metal driver is needed)")),
        #[cfg(not(feature = "gpu"))]
        "wgpu" => Err(WITHOUT_GPU.into()),
        other => Err(format!("unknown device \"{other}\": use cpu or wgpu")),
    }
}

/// The generator on `name`: "cpu" or "gpu" (our kernels, on the CPU or
/// through wgpu), or a burn device ("flex": burn's CPU backend, "wgpu").
fn generator_on(name: &str, weights: Weights) -> Result<Generator, String> {
    match name {
        "cpu" => Generator::on_cpu(weights),
        "flex" => Generator::on_device(weights, &Device::flex()),
        #[cfg(feature = "gpu")]
        "gpu" | "gpu-f32" => {
            let (_, setup) = Device::wgpu_options()
                .init_with_setup()
                .map_err(|e| format!("no wgpu device: {e} (a Vulkan or Metal driver is needed)"))?;
            let info = setup.adapter.get_info();
            let storage = if name == "gpu" { Storage::best(&setup.device) } else { Storage::F32 };
            println!("adapter: {} ({:?}, driver {}); {storage:?} storage", info.name, info.backend, info.driver_info);
            Generator::on_gpu(weights, &setup, storage)
        }
        #[cfg(not(feature = "gpu"))]
        "gpu" | "gpu-f32" => Err(WITHOUT_GPU.into()),
        other => Generator::on_device(weights, &device_named(other)?),
    }
}

/// A WAV file through the audio front end, read in pieces.
fn hear_wav(path: &str) -> Result<Voice, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    wav2lip::audio::wav::hear(std::io::BufReader::new(file), |warning| eprintln!("wav2lip: {path}: {warning}"))
        .map_err(|e| format!("{path}: {e}"))
}

fn mel_command(args: &[String]) -> Result<(), String> {
    let Some((path, rest)) = args.split_first() else { return Err(format!("mel takes an audio file\n\n{USAGE}")) };
    let flags = flags(rest, &["-o"])?;
    let output = required(&flags, "-o")?;
    let started = Instant::now();
    let Voice { mel, hearing } = hear_wav(path)?;
    let seconds = started.elapsed().as_secs_f64();
    let columns = mel.columns();
    if columns == 0 {
        return Err(format!("{path}: no audio in it"));
    }
    if let Some(warning) = hearing.warning() {
        eprintln!("wav2lip: {path}: {warning}");
    }
    std::fs::write(output, npy::write_f32(&[mel::N_MELS, columns], &mel.rows())).map_err(|e| format!("{output}: {e}"))?;
    println!(
        "wrote {output}: [{}, {columns}] from {:.2} s of audio ({} Hz, {}) in {:.1} ms",
        mel::N_MELS,
        hearing.seconds,
        hearing.sample_rate,
        match hearing.channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("{n} channels"),
        },
        seconds * 1e3
    );
    Ok(())
}

fn inspect_command(args: &[String]) -> Result<(), String> {
    let [path] = args else { return Err(format!("inspect takes one checkpoint file\n\n{USAGE}")) };
    let source = FileSource::open(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
    let checkpoint = Checkpoint::open(&source).map_err(|e| format!("{path}: {e}"))?;
    let summary = checkpoint.summary();
    println!("file:       {path} ({:.1} MB)", source.len() as f64 / 1e6);
    println!("format:     {:?}", summary.format);
    println!("dtypes:     {:?}", summary.dtypes);
    println!("tensors:    {}", summary.tensors);
    println!("parameters: {}", summary.parameters);
    match summary.identity {
        Identity::Generator => {
            println!("model:      Wav2Lip generator (wav2lip.pth or wav2lip_gan.pth): ready to use");
            Ok(())
        }
        Identity::Other(message) => {
            println!("model:      not usable");
            Err(message)
        }
    }
}

/// `--name value` pairs; every flag must be known.
fn flags<'a>(args: &'a [String], known: &[&str]) -> Result<HashMap<&'a str, &'a str>, String> {
    let mut out = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, value] if known.contains(&flag.as_str()) => {
                out.insert(flag.as_str(), value.as_str());
            }
            _ => return Err(format!("unexpected argument {:?}\n\n{USAGE}", pair[0])),
        }
    }
    Ok(out)
}

fn required<'a>(flags: &HashMap<&str, &'a str>, name: &str) -> Result<&'a str, String> {
    flags.get(name).copied().ok_or_else(|| format!("{name} is required\n\n{USAGE}"))
}

fn read_npy(path: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    npy::read_f32(&bytes).map_err(|e| format!("{path}: {e}"))
}

/// Boolean switches (`--f16`) taken out of `args`, the rest left for `flags`.
fn switches(args: &[String], known: &[&str]) -> (Vec<String>, Vec<String>) {
    args.iter().cloned().partition(|a| known.contains(&a.as_str()))
}

fn load_weights(path: &str) -> Result<Weights, String> {
    let source = FileSource::open(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
    Checkpoint::open(&source).and_then(|c| c.generator_weights()).map_err(|e| format!("{path}: {e}"))
}

fn generate_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--checkpoint", "--mel", "--face", "-o", "--device"])?;
    let weights = load_weights(required(&flags, "--checkpoint")?)?;
    let generator = generator_on(flags.get("--device").copied().unwrap_or("cpu"), weights)?;

    let (mel_shape, mel) = read_npy(required(&flags, "--mel")?)?;
    let (face_shape, face) = read_npy(required(&flags, "--face")?)?;
    let shapes_fit = mel_shape.len() == 4
        && face_shape.len() == 4
        && mel_shape[1..] == [1, 80, 16]
        && face_shape[1..] == [6, 96, 96]
        && mel_shape[0] == face_shape[0];
    if !shapes_fit {
        return Err(format!(
            "expected mel [B,1,80,16] and face [B,6,96,96] with the same B; got {mel_shape:?} and {face_shape:?}"
        ));
    }
    let batch = mel_shape[0];
    let values = block_on(generator.run(mel, face, batch))?;
    let shape = [batch, 3, 96, 96];
    let output = required(&flags, "-o")?;
    std::fs::write(output, npy::write_f32(&shape, &values)).map_err(|e| format!("{output}: {e}"))?;
    println!("wrote {output}: {shape:?}");
    Ok(())
}

fn convert_command(args: &[String]) -> Result<(), String> {
    let (half, args) = switches(args, &["--f16"]);
    let Some((path, rest)) = args.split_first() else { return Err(format!("convert takes a checkpoint file\n\n{USAGE}")) };
    let flags = flags(rest, &["-o"])?;
    let output = required(&flags, "-o")?;
    let precision = if half.is_empty() { Precision::F32 } else { Precision::F16 };
    let weights = load_weights(path)?;
    let source_name = std::path::Path::new(path).file_name().map_or(path.clone(), |n| n.to_string_lossy().into_owned());
    let metadata = [
        ("format", "pt"),
        ("model", "wav2lip-generator"),
        ("source", source_name.as_str()),
        ("converted_by", concat!("wav2lip ", env!("CARGO_PKG_VERSION"))),
    ];
    // Written beside the target and renamed, so a failure never leaves half a model.
    let partial = format!("{output}.partial");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        safetensors::write_generator(&weights, precision, &metadata, |bytes| file.write_all(bytes))?;
        file.into_inner()?.sync_all()?;
        std::fs::rename(&partial, output)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("{output}: {e}")
    })?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    println!("wrote {output}: Wav2Lip generator, {precision:?}, {:.1} MB", size as f64 / 1e6);
    Ok(())
}

/// The generator's arithmetic: 3.97 G multiply-adds a frame.
const FLOP_PER_FRAME: f64 = 7.94e9;

fn bench_command(args: &[String]) -> Result<(), String> {
    if args.first().is_some_and(|a| a == "audio") {
        return bench_audio_command(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "detect") {
        return bench_detect_command(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "enhance") {
        return bench_enhance_command(&args[1..]);
    }
    let flags = flags(args, &["--checkpoint", "--device", "--batches", "--runs"])?;
    let device_name = flags.get("--device").copied().unwrap_or("cpu");
    let batches = sizes(&flags, "--batches", "1,8,32")?;
    let runs = count(&flags, "--runs", 3)?;

    let start = Instant::now();
    let weights = match flags.get("--checkpoint") {
        Some(path) => load_weights(path)?,
        None => formula::weights(7),
    };
    let read = start.elapsed();
    let generator = generator_on(device_name, weights)?;
    println!("device {device_name}: weights read in {:.0} ms, on the device in {:.0} ms", read.as_secs_f64() * 1e3, (start.elapsed() - read).as_secs_f64() * 1e3);

    for &batch in &batches {
        let mel: Vec<f32> = (0..batch * 80 * 16).map(|i| formula::uniform(1, i as u64)).collect();
        let face: Vec<f32> = (0..batch * 6 * 96 * 96).map(|i| 0.5 + 0.5 * formula::uniform(2, i as u64)).collect();
        // The first run compiles kernels and sizes buffers; it is reported apart.
        let first = Instant::now();
        block_on(generator.run(mel.clone(), face.clone(), batch))?;
        let first = first.elapsed();
        let median = median_seconds(runs, || block_on(generator.run(mel.clone(), face.clone(), batch)).map(drop))?;
        println!(
            "batch {batch:>3}: {:8.2} ms/frame (median of {runs}: {:.1} ms per batch; first run {:.0} ms), {:.1} GFLOP/s",
            median * 1e3 / batch as f64,
            median * 1e3,
            first.as_secs_f64() * 1e3,
            FLOP_PER_FRAME * batch as f64 / median / 1e9
        );
    }
    Ok(())
}

/// The audio front end's speed, and its memory on long recordings: PCM is
/// pushed in 100 ms pieces, as the browser's decoder delivers it.
fn bench_audio_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--seconds", "--runs"])?;
    let number = |name: &str, default: f64| {
        flags.get(name).map_or(Ok(default), |v| v.parse::<f64>().ok().filter(|v| *v > 0.0).ok_or(format!("{name} takes a positive number, not {v:?}")))
    };
    let seconds = number("--seconds", 60.0)?;
    let runs = count(&flags, "--runs", 5)?;
    for (rate, channels) in [(16_000u32, 1usize), (44_100, 2), (48_000, 2)] {
        let piece_frames = rate as usize / 10;
        // Content does not change the cost; a chirp with noise keeps every band busy.
        let piece: Vec<f32> = (0..piece_frames * channels)
            .map(|i| {
                let t = (i / channels) as f32 / rate as f32;
                0.3 * (2.0 * std::f32::consts::PI * (200.0 + 3000.0 * t) * t).sin() + 0.1 * formula::uniform(3, i as u64)
            })
            .collect();
        let pieces = (seconds * 10.0).round() as usize;
        let mut columns = 0;
        let median = median_seconds(runs, || {
            let mut voice = VoiceBuilder::new(rate, channels)?;
            for _ in 0..pieces {
                voice.push(&piece)?;
            }
            columns = voice.finish().mel.columns();
            Ok(())
        })?;
        println!(
            "mel of {seconds} s at {:.1} kHz x {channels}: {:.1} ms (median of {runs}; {columns} columns), {:.0}x real time",
            rate as f64 / 1e3,
            median * 1e3,
            seconds / median
        );
    }
    if let Some(peak) = peak_memory_mb() {
        println!("peak resident memory: {peak:.0} MB (the spectrogram itself: {:.0} MB)", seconds * 80.0 * 80.0 * 4.0 / 1e6);
    }
    Ok(())
}

/// The face detector's weights: `--detector` (full range) and
/// `--detector-near` (short range), or the npm package's copies that
/// `make setup` installs.
fn detector(flags: &HashMap<&str, &str>) -> Result<Detector, String> {
    let read = |flag: &str, default: &'static str| {
        let path = flags.get(flag).copied().unwrap_or(default);
        std::fs::read(path).map_err(|e| format!("{path}: {e} (run `make setup` in the repository, or pass {flag})"))
    };
    Detector::new(&read("--detector", detect::PACKAGE_MODEL)?, &read("--detector-near", detect::SHORT_RANGE_MODEL)?)
}

/// Face Mesh with the canonical face, from `make models`' copies or the flags.
fn mesh(flags: &HashMap<&str, &str>) -> Result<Mesh, String> {
    let read = |flag: &str, default: &str| {
        let path = flags.get(flag).copied().unwrap_or(default).to_owned();
        std::fs::read(&path).map(|bytes| (path.clone(), bytes)).map_err(|e| format!("{path}: {e} (run `make models` in the repository, or pass {flag})"))
    };
    let (model_path, model) = read("--mesh", landmarks::MODEL_FILE)?;
    let (geometry_path, geometry) = read("--geometry", pose::GEOMETRY_FILE)?;
    Mesh::new(&model, &geometry).map_err(|e| format!("{model_path}, {geometry_path}: {e}"))
}

fn landmarks_command(args: &[String]) -> Result<(), String> {
    let Some((path, rest)) = args.split_first() else { return Err(format!("landmarks takes an image\n\n{USAGE}")) };
    let flags = flags(rest, &["--detector", "--detector-near", "--mesh", "--geometry"])?;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (pixels, width, height) = read_png(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let image = Rgba { pixels: &pixels, width, height };
    let found = mesh(&flags)?.find(&detector(&flags)?, &image, None)?;
    let report = serde_json::json!({ "image": path, "width": width, "height": height, "faces": found });
    println!("{}", serde_json::to_string(&report).expect("plain values"));
    if found.is_empty() {
        eprintln!("wav2lip: {path}: no face found");
    }
    Ok(())
}

/// A PNG as RGB 0..1, with its size.
fn read_rgb(path: &str) -> Result<(Vec<f32>, usize, usize), String> {
    let (pixels, w, h) = read_png(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?).map_err(|e| format!("{path}: {e}"))?;
    Ok((pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).map(|v| v as f32 / 255.0).collect(), w, h))
}

fn write_rgb(path: &str, rgb: &[f32], w: usize, h: usize) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    let bytes: Vec<u8> = rgb.iter().map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
    encoder.write_header().and_then(|mut writer| writer.write_image_data(&bytes)).map_err(|e| format!("{path}: {e}"))
}

/// RGB interleaved → the generator's planar BGR.
fn planar_bgr(rgb: &[f32]) -> Vec<f32> {
    let n = rgb.len() / 3;
    let mut out = vec![0.0; rgb.len()];
    for i in 0..n {
        for c in 0..3 {
            out[(2 - c) * n + i] = rgb[i * 3 + c];
        }
    }
    out
}

fn enhance_command(args: &[String]) -> Result<(), String> {
    let Some((path, rest)) = args.split_first() else { return Err(format!("enhance takes a 96×96 image\n\n{USAGE}")) };
    let flags = flags(rest, &["-o", "--size", "--filter", "--sharpen", "--reference"])?;
    let out = flags.get("-o").ok_or("enhance needs -o OUT.png")?;
    let size = flags.get("--size").ok_or("enhance needs --size W,H")?;
    let Some((w, h)) = size.split_once(',').and_then(|(w, h)| Some((w.trim().parse::<usize>().ok()?, h.trim().parse::<usize>().ok()?))).filter(|&(w, h)| (1..=8192).contains(&w) && (1..=8192).contains(&h)) else {
        return Err(format!("--size takes a width and height in pixels, like 192,208, not {size:?}"));
    };
    let (face, fw, fh) = read_rgb(path)?;
    if (fw, fh) != (96, 96) {
        return Err(format!("{path}: the generator's faces are 96×96 pixels, this image is {fw}×{fh}"));
    }
    let filter = match flags.get("--filter").copied().unwrap_or("bicubic") {
        "bicubic" => enhance::Upscale::Bicubic,
        "bilinear" => enhance::Upscale::Bilinear,
        other => return Err(format!("--filter takes bicubic or bilinear, not {other:?}")),
    };
    let up = enhance::resize(&planar_bgr(&face), w, h, filter);
    let amount = match flags.get("--sharpen").copied().unwrap_or("off") {
        "off" => 0.0,
        "auto" => {
            let reference = flags.get("--reference").ok_or("--sharpen auto needs --reference REAL.png (the real face at W×H)")?;
            let (real, rw, rh) = read_rgb(reference)?;
            if (rw, rh) != (w, h) {
                return Err(format!("{reference}: the reference must be {w}×{h}, it is {rw}×{rh}"));
            }
            enhance::matching_amount(&up, &real, w, h)
        }
        value => value.parse::<f32>().ok().filter(|a| (0.0..=enhance::MAX_AMOUNT).contains(a)).ok_or(format!("--sharpen takes off, auto or an amount from 0 to {}", enhance::MAX_AMOUNT))?,
    };
    write_rgb(out, &enhance::unsharp(&up, w, h, amount), w, h)?;
    eprintln!("{out}: {w}×{h}, sharpened by {amount:.2}");
    Ok(())
}

fn bench_enhance_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--runs", "--detector", "--detector-near", "--sr"])?;
    let runs = count(&flags, "--runs", 5)?;
    // Super-resolution beside them, where `scripts/sr-models.sh` fetched it.
    let sr_dir = flags.get("--sr").map(|d| d.to_string()).unwrap_or_else(|| format!("{}/.cache/wav2lip/esrgan-slim/models", std::env::var("HOME").unwrap_or_default()));
    let mut rdns = Vec::new();
    for scale in ["x2", "x4"] {
        let dir = format!("{sr_dir}/{scale}");
        match (std::fs::read_to_string(format!("{dir}/model.json")), std::fs::read(format!("{dir}/group1-shard1of1.bin"))) {
            (Ok(json), Ok(shard)) => rdns.push(superres::Rdn::new(&json, &shard).map_err(|e| format!("{dir}: {e}"))?),
            _ => eprintln!("{dir}: no RDN model (run scripts/sr-models.sh): measuring without it"),
        }
    }
    let photo = "tests/fixtures/astronaut.png";
    let (pixels, width, _) = read_png(&std::fs::read(photo).map_err(|e| format!("{photo}: {e} (run from the repository)"))?)?;
    // Cases: (name, real face RGB 0..1, w, h, the 96-px face as the generator's input has it).
    let mut cases: Vec<(String, Vec<f32>, usize, usize, Vec<f32>)> = Vec::new();
    let region = |frame: &[u8], fw: usize, [x1, y1, x2, y2]: [i32; 4]| -> Vec<f32> {
        (y1..y2).flat_map(|y| (x1..x2).flat_map(move |x| (0..3).map(move |c| (y as usize, x as usize, c)))).map(|(y, x, c)| frame[(y * fw + x) * 4 + c] as f32 / 255.0).collect()
    };
    let shrunk = |frame: &[u8], fw: usize, crop: [i32; 4]| -> Result<Vec<f32>, String> {
        // As the original: cv2.resize of the crop to 96 (the reference half of the input).
        let mut input = vec![0.0; 6 * 96 * 96];
        crop::generator_input(frame, fw, crop, &mut input)?;
        Ok(input[3 * 96 * 96..].to_vec())
    };
    let crop = [179, 81, 272, 185];
    cases.push(("photo, face box 93×104".into(), region(&pixels, width, crop), 93, 104, shrunk(&pixels, width, crop)?));
    // The photo's face enlarged 2× and 3× (bicubic): larger faces than the photo has.
    for k in [2usize, 3] {
        let big = enhance::resample(&region(&pixels, width, [130, 40, 322, 232]), 192, 192, 192 * k, 192 * k);
        let bytes: Vec<u8> = big.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 1.0]).map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
        let face = [49 * k as i32, 41 * k as i32, 142 * k as i32, 145 * k as i32];
        cases.push((format!("photo ×{k}, face box {}×{}", face[2] - face[0], face[3] - face[1]), region(&bytes, 192 * k, face), (face[2] - face[0]) as usize, (face[3] - face[1]) as usize, shrunk(&bytes, 192 * k, face)?));
    }
    // Frames of a pan and zoom over the photo (the face grows), through detection and framing.
    let detector = detector(&flags)?;
    for (i, frame) in wav2lip::testmedia::pan_zoom(&pixels, width, 12, 640, 360).iter().enumerate().step_by(4) {
        let face = detector.detect(&Rgba { pixels: frame, width: 640, height: 360 })?.into_iter().next().ok_or("no face in a clip frame")?;
        let crop = crop::crop_box(crop::face_box(&face), Pads::default(), 640, 360);
        let (w, h) = ((crop[2] - crop[0]) as usize, (crop[3] - crop[1]) as usize);
        cases.push((format!("clip frame {i}, face box {w}×{h}"), region(frame, 640, crop), w, h, shrunk(frame, 640, crop)?));
    }
    println!("| face | input | way | PSNR (dB) | SSIM | detail | ms/face |");
    println!("|---|---|---|---|---|---|---|");
    for (name, real, w, h, small) in &cases {
        for blurred in [false, true] {
            let small = if blurred { enhance::blur(small_rgb(small).as_slice(), 96, 96) } else { small_rgb(small) };
            let bgr = planar_bgr(&small);
            let mut ways: Vec<(String, Box<dyn Fn() -> Vec<f32>>)> = vec![
                ("bilinear (original)".into(), Box::new(|| enhance::resize(&bgr, *w, *h, enhance::Upscale::Bilinear))),
                ("bicubic".into(), Box::new(|| enhance::resize(&bgr, *w, *h, enhance::Upscale::Bicubic))),
                ("bicubic + fixed unsharp 0.6".into(), Box::new(|| enhance::unsharp(&enhance::resize(&bgr, *w, *h, enhance::Upscale::Bicubic), *w, *h, 0.6))),
                ("bicubic + adaptive unsharp".into(), Box::new(|| enhance::enhance(&bgr, *w, *h, Some(real)).0)),
            ];
            for rdn in &rdns {
                let small = &small;
                ways.push((format!("RDN-slim ×{} (then to size)", rdn.scale), Box::new(move || {
                    let big = rdn.upscale(small, 96, 96).expect("the model ran once already");
                    enhance::resample(&big, 96 * rdn.scale, 96 * rdn.scale, *w, *h)
                })));
            }
            for (way, make) in &ways {
                let made = make();
                let (psnr, ssim, detail) = enhance::closeness(&made, real, *w);
                let ms = median_seconds(runs, || {
                    std::hint::black_box(make());
                    Ok(())
                })? * 1e3;
                println!("| {name} | {} | {way} | {psnr:.2} | {ssim:.3} | {detail:.2} | {ms:.2} |", if blurred { "blurred (σ 1)" } else { "clean" });
            }
        }
    }
    Ok(())
}

/// The generator's planar BGR face as RGB interleaved.
fn small_rgb(bgr: &[f32]) -> Vec<f32> {
    let n = bgr.len() / 3;
    (0..n).flat_map(|i| (0..3).map(move |c| bgr[(2 - c) * n + i])).collect()
}

fn turn_face_command(args: &[String]) -> Result<(), String> {
    let Some((path, rest)) = args.split_first() else { return Err(format!("turn-face takes an image\n\n{USAGE}")) };
    let flags = flags(rest, &["--yaw", "-o", "--detector", "--detector-near", "--mesh", "--geometry"])?;
    let yaw: f32 = flags.get("--yaw").and_then(|v| v.parse().ok()).filter(|y: &f32| y.abs() < 90.0).ok_or("--yaw takes degrees, between -90 and 90")?;
    let out = flags.get("-o").ok_or("turn-face needs -o OUT.png")?;
    let (pixels, width, height) = read_png(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?).map_err(|e| format!("{path}: {e}"))?;
    let image = Rgba { pixels: &pixels, width, height };
    let mesh = mesh(&flags)?;
    let face = detector(&flags)?.detect(&image)?.into_iter().next().ok_or_else(|| format!("{path}: no face found"))?;
    let marks = mesh.follow(&image, &face, None)?.ok_or_else(|| format!("{path}: no face mesh found"))?;
    let turned = landmarks::turn::turn_face(&pixels, width, height, &marks, &mesh.canonical().triangles, yaw);
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.write_header().and_then(|mut w| w.write_image_data(&turned)).map_err(|e| format!("{out}: {e}"))
}

fn detect_command(args: &[String]) -> Result<(), String> {
    let Some((path, rest)) = args.split_first() else { return Err(format!("detect takes an image\n\n{USAGE}")) };
    let flags = flags(rest, &["--pads", "--detector", "--detector-near"])?;
    let pads = match flags.get("--pads") {
        None => Pads::default(),
        Some(text) => match text.split(',').map(|v| v.trim().parse::<i32>()).collect::<Result<Vec<_>, _>>().as_deref() {
            Ok(&[top, bottom, left, right]) => Pads { top, bottom, left, right },
            _ => return Err(format!("--pads takes four pixel counts, top,bottom,left,right (e.g. 0,10,0,0), not {text:?}")),
        },
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (pixels, width, height) = read_png(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let faces = detector(&flags)?.detect(&Rgba { pixels: &pixels, width, height })?;
    let found: Vec<_> = faces.into_iter().map(|face| crop::frame(face, pads, width, height)).collect();
    let report = serde_json::json!({ "image": path, "width": width, "height": height, "faces": found });
    println!("{}", serde_json::to_string(&report).expect("plain values"));
    if found.is_empty() {
        eprintln!("wav2lip: {path}: no face found");
    }
    Ok(())
}

fn bench_detect_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--runs", "--detector", "--detector-near", "--mesh", "--geometry"])?;
    let runs = count(&flags, "--runs", 20)?;
    let detector = detector(&flags)?;
    let mesh = mesh(&flags)?;
    let photo = "tests/fixtures/astronaut.png";
    let (pixels, pw, _) = read_png(&std::fs::read(photo).map_err(|e| format!("{photo}: {e} (run from the repository)"))?)?;
    for (width, height) in [(1280, 720), (1920, 1080), (3840, 2160)] {
        // A person at a desk: the face a fifth of the frame's height.
        let face = height as f32 / 5.0;
        let frame = testmedia::wide_shot(&pixels, pw, face, [width as f32 * 0.4, height as f32 * 0.4], width, height);
        let image = Rgba { pixels: &frame, width, height };
        let found = detector.detect(&image)?;
        let followed = found.first().ok_or("no face in the bench frame")?;
        let before = median_seconds(runs, || detector.detect_whole_short_range(&image).map(drop))?;
        let search = median_seconds(runs, || detector.detect(&image).map(drop))?;
        let near = median_seconds(runs, || detector.detect_near(&image, &followed.bbox).map(drop))?;
        println!(
            "detect, cpu, {width}x{height}: before (short range, one look) {:.2} ms; full range: whole-frame search ({} looks) {:.2} ms, near a followed face {:.2} ms (median of {runs})",
            before * 1e3,
            detector.looks(width, height),
            search * 1e3,
            near * 1e3
        );
        if width == 1280 {
            let roi = Roi::from_face(followed);
            let median = median_seconds(runs, || mesh.landmarks(&image, &roi)?.ok_or("no mesh in the bench frame").map(drop).map_err(String::from))?;
            println!("landmarks + pose, cpu, {width}x{height}: {:.2} ms/face (median of {runs})", median * 1e3);
        }
    }
    Ok(())
}

/// `name`: a positive count (`--runs 5`).
fn count(flags: &HashMap<&str, &str>, name: &str, default: usize) -> Result<usize, String> {
    flags.get(name).map_or(Ok(default), |v| v.parse().ok().filter(|&n| n > 0).ok_or(format!("{name} takes a count, not {v:?}")))
}

/// `name`: positive sizes separated by commas (`--batches 1,8,32`).
fn sizes(flags: &HashMap<&str, &str>, name: &str, default: &str) -> Result<Vec<usize>, String> {
    let text = flags.get(name).copied().unwrap_or(default);
    text.split(',')
        .map(|b| b.trim().parse().ok().filter(|&b| b > 0).ok_or_else(|| format!("{name} takes sizes like {default}, not {b:?}")))
        .collect()
}

/// The median wall time of `runs` calls of `work`, in seconds.
fn median_seconds(runs: usize, mut work: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work()?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// VmHWM from /proc (Linux): the most memory this process has held.
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn formula_checkpoint_command(args: &[String]) -> Result<(), String> {
    let (switched, args) = switches(args, &["--released-size", "--syncnet"]);
    let released_size = switched.iter().any(|s| s == "--released-size");
    let flags = flags(&args, &["--seed", "-o"])?;
    let seed = flags.get("--seed").map_or(Ok(7), |s| s.parse().map_err(|_| format!("--seed takes a number, not {s:?}")))?;
    let weights: Vec<_> = if switched.iter().any(|s| s == "--syncnet") {
        // lipsync_expert.pth's first face and audio layers: enough to be taken for it.
        [("face_encoder.0.conv_block.0.weight", vec![32, 15, 7, 7]), ("audio_encoder.0.conv_block.0.weight", vec![32, 1, 3, 3])]
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let values = formula::entry(seed, i, name, &shape);
                (name, shape, values)
            })
            .collect()
    } else {
        formula::generator(seed).collect()
    };
    let entries: Vec<Entry> = weights.iter().map(|(name, shape, values)| Entry { name, shape, values }).collect();
    let output = required(&flags, "-o")?;
    // The released files hold Adam's two moments beside the 36.3 M parameters.
    let optimizer = if released_size { 2 * entries.iter().map(|e| e.values.len()).sum::<usize>() } else { 0 };
    std::fs::write(output, legacy_checkpoint(&entries, optimizer)).map_err(|e| format!("{output}: {e}"))?;
    println!("wrote {output}: formula weights, seed {seed}, legacy format");
    Ok(())
}
