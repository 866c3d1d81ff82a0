//! NumPy `.npy` files of little-endian float32 in C order: the CLI's and the
//! oracle's array format.

pub fn read_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
        v => return Err(format!(".npy version {v} is not supported")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "unreadable .npy header")?;
    if !header.contains("'descr': '<f4'") {
        return Err(format!("only little-endian float32 arrays are supported (header: {})", header.trim()));
    }
    if header.contains("'fortran_order': True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("the .npy header has no shape")?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| format!("bad dimension {d:?}")))
        .collect::<Result<_, _>>()?;
    let data = &bytes[start + header_len..];
    // A header may claim any shape: its size is checked against the data
    // without overflowing (found by `make fuzz`).
    let needed = shape.iter().try_fold(4usize, |n, &d| n.checked_mul(d));
    if needed != Some(data.len()) {
        let needed = needed.map_or("more than memory holds".to_string(), |n| n.to_string());
        return Err(format!("the .npy data holds {} bytes, its shape {shape:?} needs {needed}", data.len()));
    }
    Ok((shape, data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()))
}

pub fn write_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let dims = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Pad so that the data starts on a 64-byte boundary, newline-terminated.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    // Also in Chromium, on the wasm build's loops (scripts/test-wasm.sh).
    #[cfg(target_family = "wasm")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use super::*;

    #[test]
    fn round_trips_and_reads_numpy_output() {
        let bytes = write_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        assert_eq!(read_f32(&bytes).unwrap(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]));
        let (shape, values) = read_f32(&crate::testdata::fixture("gen_mel.npy")).unwrap();
        assert_eq!(shape, [4, 1, 80, 16]);
        assert!(values.iter().all(|v| (-4.0..=4.0).contains(v)));
    }

    #[test]
    fn refuses_other_dtypes_and_truncation() {
        let bytes = write_f32(&[4], &[0.0; 4]);
        assert!(read_f32(&bytes[..bytes.len() - 1]).unwrap_err().contains("needs 16"));
        let f8 = String::from_utf8_lossy(&bytes).replace("<f4", "<f8");
        assert!(read_f32(f8.as_bytes()).is_err());
    }

    #[test]
    fn a_shape_too_large_to_count_is_refused_not_a_panic() {
        // The fuzzer's finding: dimensions whose product overflows.
        let header_only = |dims: &str| {
            let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
            [&b"\x93NUMPY\x01\x00"[..], &(header.len() as u16).to_le_bytes(), header.as_bytes()].concat()
        };
        // Where usize has 32 bits (wasm32), such a dimension does not even parse.
        let refused = |dims: &str| {
            let e = read_f32(&header_only(dims)).unwrap_err();
            assert!(e.contains("more than memory holds") || (usize::BITS == 32 && e.contains("bad dimension")), "{e}");
        };
        refused("4294967296, 4294967296");
        refused("4611686018427387904,"); // n × 4 overflows too
    }
}
