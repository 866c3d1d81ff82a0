//! Protocol Buffers' wire format, read: just enough for MediaPipe's face
//! geometry file (`geometry_pipeline_metadata_landmarks.binarypb`), whose
//! schema is three messages. Bounds-checked: a damaged file gives an error.
//!
//! Why not `prost`: it would bring code generation (a build script and
//! `protoc`, or hand-written derive structs) for one 19 kB file of floats
//! and integers; the wire format itself is four cases.

/// One field's value as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

fn bad<T>(what: &str) -> Result<T, String> {
    Err(format!("not a readable protocol buffer: {what}"))
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else { return bad("it ends inside a number") };
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    bad("a number longer than 10 bytes")
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let Some(part) = bytes.get(*at..at.saturating_add(n)) else { return bad("a field runs past the end") };
    *at += n;
    Ok(part)
}

/// The fields of one message, in order: (field number, value).
pub fn fields(bytes: &[u8]) -> Result<Vec<(u32, Value<'_>)>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let number = u32::try_from(key >> 3).or_else(|_| bad("a field number out of range"))?;
        let value = match key & 7 {
            0 => Value::Varint(varint(bytes, &mut at)?),
            1 => Value::Fixed64(take(bytes, &mut at, 8)?.try_into().unwrap()),
            2 => {
                let n = varint(bytes, &mut at)?;
                Value::Bytes(take(bytes, &mut at, usize::try_from(n).unwrap_or(usize::MAX))?)
            }
            5 => Value::Fixed32(take(bytes, &mut at, 4)?.try_into().unwrap()),
            other => return bad(&format!("wire type {other}")),
        };
        out.push((number, value));
    }
    Ok(out)
}

/// A repeated float field, stored packed or one value at a time.
pub fn floats(fields: &[(u32, Value<'_>)], number: u32) -> Result<Vec<f32>, String> {
    let mut out = Vec::new();
    for (_, value) in fields.iter().filter(|(n, _)| *n == number) {
        match value {
            Value::Fixed32(b) => out.push(f32::from_le_bytes(*b)),
            Value::Bytes(b) if b.len() % 4 == 0 => out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()))),
            _ => return bad(&format!("field {number} is not a float")),
        }
    }
    Ok(out)
}

/// A repeated integer field, stored packed or one value at a time.
pub fn varints(fields: &[(u32, Value<'_>)], number: u32) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for (_, value) in fields.iter().filter(|(n, _)| *n == number) {
        match *value {
            Value::Varint(v) => out.push(v),
            Value::Bytes(b) => {
                let mut at = 0;
                while at < b.len() {
                    out.push(varint(b, &mut at)?);
                }
            }
            _ => return bad(&format!("field {number} is not an integer")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type_packed_or_not_and_refuses_what_runs_past_the_end() {
        // 1: varint 300; 2: bytes "hi"; 3: float 1.5; 4: packed floats [2, -1]; 3 again: 0.25.
        let mut b = vec![0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x1d];
        b.extend(1.5f32.to_le_bytes());
        b.extend([0x22, 8]);
        b.extend(2f32.to_le_bytes());
        b.extend((-1f32).to_le_bytes());
        b.push(0x1d);
        b.extend(0.25f32.to_le_bytes());
        let f = fields(&b).unwrap();
        assert_eq!(f[0], (1, Value::Varint(300)));
        assert_eq!(f[1], (2, Value::Bytes(b"hi")));
        assert_eq!(floats(&f, 3).unwrap(), [1.5, 0.25]);
        assert_eq!(floats(&f, 4).unwrap(), [2.0, -1.0]);
        assert_eq!(varints(&[(5, Value::Bytes(&[0xac, 0x02, 7]))], 5).unwrap(), [300, 7]);
        for cut in 1..b.len() {
            let _ = fields(&b[..cut]);
        }
        assert!(fields(&[0x12, 200, 1]).is_err());
        assert!(fields(&[0x08, 0xff]).is_err());
        assert!(fields(&[0x0f]).is_err());
    }
}
