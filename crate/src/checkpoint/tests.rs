//! The reader against real PyTorch files (tests/fixtures/layout_*.pth, written
//! by torch.save in the released layout) and against hostile and broken input.

use super::*;
use crate::testdata::fixture;
use pickle::Value;
// Also in Chromium, on the bytes the browser hands the reader (scripts/test-wasm.sh).
#[cfg(target_family = "wasm")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn check_layout(file: &str, format: Format, rel_tolerance: f64) {
    let bytes = fixture(file);
    let expected: serde_json::Value = serde_json::from_slice(&fixture("layout_expected.json")).unwrap();
    let expected = expected.as_object().unwrap();
    let checkpoint = Checkpoint::open(bytes.as_slice()).unwrap();
    assert_eq!(checkpoint.format, format);

    let mut names: Vec<&str> = checkpoint.tensors.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let expected_names: Vec<&str> = expected.keys().map(|k| k.strip_prefix("module.").unwrap()).collect();
    assert_eq!(names, expected_names, "{file}: state_dict names, prefix stripped");

    for (name, tensor) in &checkpoint.tensors {
        let want = &expected[&format!("module.{name}")];
        let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(tensor.shape, shape, "{file}: {name} shape");
        let values = checkpoint.read(tensor).unwrap();
        assert_eq!(values.len(), shape.iter().product::<usize>());
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let (want_sum, want_first) = (want["sum"].as_f64().unwrap(), want["first"].as_f64().unwrap());
        let close = |a: f64, b: f64| (a - b).abs() <= rel_tolerance * b.abs().max(1.0);
        assert!(close(sum, want_sum), "{file}: {name} sum {sum} vs {want_sum}");
        assert!(close(values[0] as f64, want_first), "{file}: {name} first {} vs {want_first}", values[0]);
    }
}

#[test]
fn reads_the_zip_format() {
    check_layout("layout_zip.pth", Format::Zip, 1e-6);
}

#[test]
fn reads_the_legacy_format_of_the_2020_release() {
    check_layout("layout_legacy.pth", Format::Legacy, 1e-6);
}

#[test]
fn reads_float16_storages() {
    check_layout("layout_fp16.pth", Format::Zip, 2e-3);
}

#[test]
fn strided_views_are_read_through_offset_and_strides() {
    for file in ["layout_zip.pth", "layout_legacy.pth"] {
        let bytes = fixture(file);
        let checkpoint = Checkpoint::open(bytes.as_slice()).unwrap();
        let (_, probe) = checkpoint.tensors.iter().find(|(n, _)| n == "view_probe").unwrap();
        assert!(probe.offset > 0 || probe.stride != [4, 1], "{file}: view_probe should be a real view");
        assert_eq!(probe.shape, [5, 4]);
    }
}

/// What the readers and writers rely on of the `half` crate's conversions
/// (PyTorch's and safetensors' f16).
fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

fn f32_to_f16(v: f32) -> u16 {
    half::f16::from_f32(v).to_bits()
}

#[test]
fn float16_decoding_is_exact() {
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
    assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    assert!(f16_to_f32(0x7e00).is_nan());
}

/// A protocol-2 pickle: `payload` then STOP.
fn pickle_of(payload: &[u8]) -> Vec<u8> {
    [&[0x80, 2][..], payload, b"."].concat()
}

#[test]
fn refuses_globals_outside_a_state_dict() {
    let hostile: [&[u8]; 5] = [
        // GLOBAL os.system, called with ('echo pwned',): the classic __reduce__ payload.
        b"cos\nsystem\n(X\x0a\x00\x00\x00echo pwnedtR",
        b"cbuiltins\neval\n(X\x04\x00\x00\x001+1tR",
        b"cposix\nsystem\n(X\x02\x00\x00\x00idtR",
        // STACK_GLOBAL, protocol 4's spelling of the same.
        b"\x8c\x08builtins\x8c\x04exec\x93(X\x01\x00\x00\x001tR",
        // torch names that exist but are no part of a state_dict.
        b"ctorch\nload\n(X\x01\x00\x00\x00xtR",
    ];
    for payload in hostile {
        match pickle::read(&pickle_of(payload)) {
            Err(CheckpointError::Refused(message)) => {
                assert!(message.contains("nothing in it was executed"), "{message}")
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("accepted a hostile pickle"),
        }
    }
}

#[test]
fn refuses_opcodes_that_build_arbitrary_objects() {
    // INST, OBJ, NEWOBJ, EXT1, PERSID.
    for payload in [&b"(ios\nsystem\n"[..], b"(o", b"\x81", b"\x82\x01", b"Pfoo\n"] {
        let err = pickle::read(&pickle_of(payload)).err().expect("accepted");
        assert!(matches!(err, CheckpointError::Refused(_)), "{err}");
    }
}

#[test]
fn hostile_checkpoint_file_is_refused_before_anything_is_read() {
    // A legacy-format file whose object pickle carries the payload.
    let mut file = Vec::new();
    file.extend(pickle_of(&[&[0x8a, 10][..], &legacy::MAGIC].concat()));
    file.extend(pickle_of(b"M\xe9\x03"));
    file.extend(pickle_of(b"}"));
    file.extend(pickle_of(b"cos\nsystem\n(X\x02\x00\x00\x00idtR"));
    file.extend(pickle_of(b"]"));
    let err = Checkpoint::open(file.as_slice()).err().expect("accepted");
    assert!(matches!(err, CheckpointError::Refused(_)), "{err}");
}

#[test]
fn truncated_files_give_errors_not_panics() {
    for file in ["layout_zip.pth", "layout_legacy.pth", "layout_fp16.pth"] {
        let bytes = fixture(file);
        for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
            let opened = Checkpoint::open(&bytes[..cut]);
            if let Ok(checkpoint) = opened {
                // The index survived the cut; reading the data must then fail cleanly.
                let all: Result<Vec<_>, _> = checkpoint.tensors.iter().map(|(_, t)| checkpoint.read(t)).collect();
                assert!(all.is_err(), "{file} cut at {cut} read completely");
            }
        }
    }
}

#[test]
fn truncated_legacy_file_says_download_again() {
    let bytes = fixture("layout_legacy.pth");
    let err = Checkpoint::open(&bytes[..bytes.len() - 1000]).err().expect("opened");
    assert!(err.to_string().contains("download it again"), "{err}");
}

#[test]
fn garbage_is_not_a_checkpoint() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let err = Checkpoint::open(garbage.as_slice()).err().expect("opened garbage");
    assert!(err.to_string().contains("not a readable checkpoint"), "{err}");
    assert!(Checkpoint::open(&b""[..]).is_err());
    assert!(Checkpoint::open(&b"\x80"[..]).is_err());
}

#[test]
fn compressed_zip_entries_are_refused_not_inflated() {
    let mut bytes = fixture("layout_zip.pth");
    // Flip the first central-directory entry's method to deflate (8).
    let cd = bytes.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).unwrap();
    bytes[cd + 10] = 8;
    let err = Checkpoint::open(bytes.as_slice()).err().expect("opened");
    assert!(matches!(err, CheckpointError::Refused(ref m) if m.contains("compressed")), "{err}");
}

#[test]
fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
    // 200,000 empty lists, then 200,000 APPENDs: each list inside the previous one.
    let n = 200_000;
    let payload = [vec![b']'; n], vec![b'a'; n - 1]].concat();
    let err = pickle::read(&pickle_of(&payload)).err().expect("accepted");
    assert!(err.to_string().contains("nested deeper"), "{err}");
    // The same through tuples: ((((...)))).
    let payload = [b")".to_vec(), vec![0x85; n]].concat();
    let err = pickle::read(&pickle_of(&payload)).err().expect("accepted");
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn shared_subtrees_do_not_make_parsing_explode() {
    // t0 = (1,)*100; t(k+1) = (t(k),)*100 via the memo, 12 levels: 100^12
    // leaves if depths were recomputed by walking, instant when cached.
    let mut payload = b"(".to_vec();
    payload.extend(std::iter::repeat_n(&b"K\x01"[..], 100).flatten());
    payload.extend(b"tq\x00");
    for level in 1..=12u8 {
        payload.push(b'(');
        for _ in 0..100 {
            payload.extend([b'h', level - 1]);
        }
        payload.extend([b't', b'q', level]);
    }
    let Value::Tuple(top) = pickle::read(&pickle_of(&payload)).unwrap().value else { panic!("not a tuple") };
    assert_eq!(top.len(), 100);
}

#[test]
fn a_container_put_inside_itself_is_refused_and_nothing_leaks() {
    // The fuzzer's finding: each of these made an `Rc` cycle that was never
    // freed. A list into itself (through the memo, through DUP), through a
    // tuple, and a dict holding itself as a value.
    for payload in [&b"]q\x00h\x00a"[..], b"]2a", b"]q\x00h\x00\x85a", b"}q\x00K\x01h\x00s", b"]q\x01(h\x01e"] {
        let err = pickle::read(&pickle_of(payload)).err().expect("accepted a cycle");
        assert!(err.to_string().contains("inside itself"), "{err}");
    }
    // Nesting without a cycle, and the same container twice, are fine.
    let Value::List(outer) = pickle::read(&pickle_of(b"]]q\x00ah\x00a")).unwrap().value else { panic!("not a list") };
    assert_eq!(outer.borrow().len(), 2);
    // Nothing holds the parsed values once they are dropped.
    let list = pickle::read(&pickle_of(b"]q\x00]h\x00a")).unwrap().value;
    let Value::List(list) = list else { panic!("not a list") };
    assert_eq!(std::rc::Rc::strong_count(&list), 1);
}

#[test]
fn float16_encoding_rounds_to_nearest_even_and_inverts_decoding() {
    for h in 0..=u16::MAX {
        let v = f16_to_f32(h);
        if !v.is_nan() {
            assert_eq!(f32_to_f16(v), h, "{h:#06x} ({v})");
        }
    }
    let ulp = 2f32.powi(-10);
    assert_eq!(f32_to_f16(1.0 + ulp / 2.0), 0x3c00, "tie rounds to even (down)");
    assert_eq!(f32_to_f16(1.0 + 1.5 * ulp), 0x3c02, "tie rounds to even (up)");
    assert_eq!(f32_to_f16(1.0 + 0.51 * ulp), 0x3c01);
    assert_eq!(f32_to_f16(65520.0), 0x7c00, "overflow is infinity");
    assert_eq!(f32_to_f16(2f32.powi(-25)), 0, "half the smallest subnormal ties to zero");
    assert_eq!(f32_to_f16(1.5 * 2f32.powi(-25)), 1);
    assert_eq!(f32_to_f16(-1e-30), 0x8000);
    assert_eq!(f32_to_f16(f32::NAN) & 0x7e00, 0x7e00);
}

/// A safetensors file spelled out byte by byte from the format's specification,
/// independent of our writer: a 2x2 F32, a 3-element F16, and metadata.
#[test]
fn reads_safetensors_as_specified() {
    let header = br#"{"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    for v in [1.0f32, -2.0, 0.5, 3.25] {
        file.extend(v.to_le_bytes());
    }
    for h in [0x3c00u16, 0xc000, 0x3800] {
        file.extend(h.to_le_bytes());
    }
    let checkpoint = Checkpoint::open(file.as_slice()).unwrap();
    assert_eq!(checkpoint.format, Format::Safetensors);
    let names: Vec<&str> = checkpoint.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"], "tensors in file order, metadata skipped");
    let (_, a) = &checkpoint.tensors[0];
    assert_eq!(a.shape, [2, 2]);
    assert_eq!(checkpoint.read(a).unwrap(), [1.0, -2.0, 0.5, 3.25]);
    assert_eq!(checkpoint.read(&checkpoint.tensors[1].1).unwrap(), [1.0, -2.0, 0.5]);

    let broken = |header: &str, data: usize| {
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header.as_bytes());
        file.extend(vec![0u8; data]);
        Checkpoint::open(file.as_slice()).err().unwrap_or_else(|| panic!("accepted {header}")).to_string()
    };
    let e = broken(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8);
    assert!(e.contains("download it again"), "{e}");
    let e = broken(r#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#, 16);
    assert!(e.contains("invalid shape, data type, or offset"), "{e}");
    let e = broken(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#, 16);
    assert!(e.contains("invalid offset for tensor `a`"), "{e}");
    let e = broken(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}}"#, 24);
    assert!(e.contains("invalid offset for tensor `b`"), "a gap between tensors: {e}");
    let e = broken(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#, 16);
    // Where usize has 32 bits (wasm32), such a dimension does not even parse.
    assert!(e.contains("overflow") || (usize::BITS == 32 && e.contains("expected usize")), "{e}");
    let e = broken(r#"{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}}"#, 16);
    assert!(e.contains("unknown variant `Q4`"), "{e}");
    let e = broken(r#"{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, 4);
    assert!(e.contains("dtype PyTorch checkpoints do not use"), "{e}");
    let e = broken(r#"{"a":{"dtype":"F32","shape":[4]}}"#, 16);
    assert!(e.contains("data_offsets"), "{e}");
    let e = broken(r#"{"a": [1, 2"#, 16);
    assert!(e.contains("not a JSON object"), "{e}");
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let e = broken(&deep, 0);
    assert!(e.contains("not a JSON object"), "{e}");
}

#[test]
fn safetensors_written_by_us_read_back_exactly_and_in_half_precision() {
    let weights = [("w", vec![3, 2], vec![0.1f32, -0.2, 0.3, 1e-5, 70000.0, -0.0]), ("bn.num_batches_tracked", vec![], vec![12345.0])];
    let entries: Vec<Entry> = weights.iter().map(|(name, shape, values)| Entry { name, shape, values }).collect();
    for precision in [safetensors::Precision::F32, safetensors::Precision::F16] {
        let mut file = Vec::new();
        safetensors::write(&entries, precision, &[("source", "test")], |b| {
            file.extend_from_slice(b);
            Ok::<_, ()>(())
        })
        .unwrap();
        let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0, "data stays 8-byte aligned");
        let checkpoint = Checkpoint::open(file.as_slice()).unwrap();
        assert_eq!(checkpoint.tensors.len(), 2);
        let (_, w) = &checkpoint.tensors[0];
        let (_, counter) = &checkpoint.tensors[1];
        assert_eq!(counter.storage.dtype, DType::I64);
        assert_eq!(checkpoint.read(counter).unwrap(), [12345.0]);
        let values = checkpoint.read(w).unwrap();
        match precision {
            safetensors::Precision::F32 => assert_eq!(values, weights[0].2),
            safetensors::Precision::F16 => {
                assert_eq!(w.storage.dtype, DType::F16);
                let want = [0.099_975_586, -0.199_951_17, 0.300_048_83, 1.001_358e-5, f32::INFINITY, -0.0];
                assert_eq!(values, want);
            }
        }
    }
}

#[test]
fn stride_zero_views_cannot_expand_a_small_file() {
    // _rebuild_tensor_v2 of a 1-element storage as shape (2^30,), stride (0,):
    // 4 GB if read; refused when the pickle is read.
    let storage = StorageRef { key: "0".into(), dtype: DType::F32, numel: 1 };
    let err = TensorRef::new(storage.clone(), 0, vec![1 << 30], vec![0]).expect_err("accepted");
    assert!(err.to_string().contains("repeats the 1 elements"), "{err}");
    // Legitimate views stay: a transposed 1x1 and a scalar.
    assert!(TensorRef::new(storage.clone(), 0, vec![1, 1], vec![0, 0]).is_ok());
    assert!(TensorRef::new(storage, 0, vec![], vec![]).is_ok());
}

#[test]
fn reads_the_safetensors_fixture_with_a_scalar() {
    // tests/fixtures/spec.safetensors: F32 [2,2], F16 [3], I64 scalar 7 (also a fuzzing seed).
    let bytes = fixture("spec.safetensors");
    let checkpoint = Checkpoint::open(bytes.as_slice()).unwrap();
    let values: Vec<Vec<f32>> = checkpoint.tensors.iter().map(|(_, t)| checkpoint.read(t).unwrap()).collect();
    assert_eq!(values, [vec![1.0, -2.0, 0.5, 3.25], vec![1.0, -2.0, 0.5], vec![7.0]]);
    assert!(checkpoint.tensors[2].1.shape.is_empty());
}
