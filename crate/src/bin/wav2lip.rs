//! `wav2lip`: the native entry point, for tools and tests.

use std::process::ExitCode;

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use wav2lip::blocking::block_on;
use wav2lip::checkpoint::identify::Identity;
use wav2lip::checkpoint::writer::{Entry, legacy_checkpoint};
use wav2lip::checkpoint::{Checkpoint, FileSource, Source};
use wav2lip::generate::Generator;
use wav2lip::{formula, npy};
use wav2lip::selftest;

const USAGE: &str = "\
usage: wav2lip <command>

commands:
  inspect CHECKPOINT             what a .pth file is: format, dtypes, tensors,
                                 parameters, and whether it is a Wav2Lip generator
  generate --checkpoint CKPT --mel MEL.npy --face FACE.npy -o OUT.npy [--device cpu|wgpu]
                                 run the generator: [B,1,80,16] + [B,6,96,96] -> [B,3,96,96]
  formula-checkpoint [--seed N] -o FILE.pth
                                 write the oracle's formula weights (default seed 7) as a
                                 checkpoint in the released layout, for tests
  selftest [--device cpu|wgpu]   run a 2-D convolution on a backend and compare it
                                 with a direct CPU computation (default: cpu)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("selftest") => selftest_command(&args[1..]),
        Some("inspect") => inspect_command(&args[1..]),
        Some("generate") => generate_command(&args[1..]),
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

fn device_named(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::flex()),
        "wgpu" => Device::wgpu_options()
            .init()
            .map_err(|e| format!("no wgpu device: {e} (a Vulkan or Metal driver is needed)")),
        other => Err(format!("unknown device \"{other}\": use cpu or wgpu")),
    }
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

fn generate_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--checkpoint", "--mel", "--face", "-o", "--device"])?;
    let device = device_named(flags.get("--device").copied().unwrap_or("cpu"))?;
    let path = required(&flags, "--checkpoint")?;
    let source = FileSource::open(std::path::Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
    let weights = Checkpoint::open(&source)
        .and_then(|c| c.generator_weights())
        .map_err(|e| format!("{path}: {e}"))?;
    let generator = Generator::from_weights(&weights, &device)?;

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
    let tensor = |values, shape: Vec<usize>| Tensor::<4>::from_data(TensorData::new(values, shape), &device);
    let out = generator.forward(tensor(mel, mel_shape), tensor(face, face_shape));
    let shape = out.dims().to_vec();
    let values: Vec<f32> = block_on(out.into_data_async())
        .map_err(|e| format!("reading the result failed: {e:?}"))?
        .try_into_vec()
        .map_err(|e| format!("unexpected result type: {e:?}"))?;
    let output = required(&flags, "-o")?;
    std::fs::write(output, npy::write_f32(&shape, &values)).map_err(|e| format!("{output}: {e}"))?;
    println!("wrote {output}: {shape:?}");
    Ok(())
}

fn formula_checkpoint_command(args: &[String]) -> Result<(), String> {
    let flags = flags(args, &["--seed", "-o"])?;
    let seed = flags.get("--seed").map_or(Ok(7), |s| s.parse().map_err(|_| format!("--seed takes a number, not {s:?}")))?;
    let weights: Vec<_> = formula::generator(seed).collect();
    let entries: Vec<Entry> = weights.iter().map(|(name, shape, values)| Entry { name, shape, values }).collect();
    let output = required(&flags, "-o")?;
    std::fs::write(output, legacy_checkpoint(&entries, 0)).map_err(|e| format!("{output}: {e}"))?;
    println!("wrote {output}: formula weights, seed {seed}, legacy format");
    Ok(())
}
