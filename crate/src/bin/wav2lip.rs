//! `wav2lip`: the native entry point, for tools and tests.

use std::process::ExitCode;

use burn::tensor::Device;
use wav2lip::blocking::block_on;
use wav2lip::checkpoint::identify::Identity;
use wav2lip::checkpoint::{Checkpoint, FileSource};
use wav2lip::selftest;

const USAGE: &str = "\
usage: wav2lip <command>

commands:
  inspect CHECKPOINT             what a .pth file is: format, dtypes, tensors,
                                 parameters, and whether it is a Wav2Lip generator
  selftest [--device cpu|wgpu]   run a 2-D convolution on a backend and compare it
                                 with a direct CPU computation (default: cpu)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("selftest") => selftest_command(&args[1..]),
        Some("inspect") => inspect_command(&args[1..]),
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
    println!("file:       {path} ({:.1} MB)", source_len(&source) as f64 / 1e6);
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

fn source_len(source: &FileSource) -> u64 {
    wav2lip::checkpoint::Source::len(source)
}
