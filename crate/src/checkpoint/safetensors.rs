//! The safetensors container: an 8-byte little-endian header length, a JSON
//! header naming each tensor's dtype, shape and byte range, then the raw
//! data. Nothing in it can execute, which is why the app caches converted
//! models in this format (and `wav2lip convert` writes it).

use std::collections::HashMap;
use std::rc::Rc;

use serde::Deserialize;

use super::{CheckpointError, DType, Entry, Source, StorageRef, TensorRef, Tensors, Weights, contiguous_strides};

/// The reference implementation's limit; a real header is a few tens of KB.
const MAX_HEADER: u64 = 100 << 20;

#[derive(Deserialize)]
struct Info {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

pub struct Layout {
    /// Absolute file offset of each tensor's bytes, by tensor name.
    offsets: HashMap<String, u64>,
}

fn malformed(what: String) -> CheckpointError {
    CheckpointError::Malformed(format!("safetensors: {what}"))
}

fn dtype_named(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "I32" => DType::I32,
        "I16" => DType::I16,
        "I8" => DType::I8,
        "U8" => DType::U8,
        "BOOL" => DType::Bool,
        _ => return None,
    })
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::F64 => "F64",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::I16 => "I16",
        DType::I8 => "I8",
        DType::U8 => "U8",
        DType::Bool => "BOOL",
    }
}

/// Whether a file's first bytes look like safetensors: a plausible header
/// length followed by the JSON object's opening brace.
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 9 && u64::from_le_bytes(head[..8].try_into().unwrap()) <= MAX_HEADER && head[8] == b'{'
}

impl Layout {
    pub fn open<S: Source + ?Sized>(source: &S) -> Result<(Tensors, Self), CheckpointError> {
        let size = u64::from_le_bytes(source.read_at(0, 8)?.try_into().unwrap());
        if size > MAX_HEADER {
            return Err(malformed(format!("a header of {size} bytes is implausibly large")));
        }
        let header = source.read_at(8, size as usize)?;
        let data_start = 8 + size;
        let data_len = source.len() - data_start;
        let mut entries: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| malformed(format!("the header is not a JSON object ({e})")))?;
        entries.remove("__metadata__");

        let mut tensors = Vec::with_capacity(entries.len());
        let mut offsets = HashMap::with_capacity(entries.len());
        for (name, value) in entries {
            let info = Info::deserialize(value).map_err(|e| malformed(format!("entry {name:?}: {e}")))?;
            let dtype = dtype_named(&info.dtype).ok_or_else(|| malformed(format!("{name:?} has unknown dtype {}", info.dtype)))?;
            let [begin, end] = info.data_offsets;
            let numel = info.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
            let bytes = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
            if begin > end || end > data_len || bytes != Some(end - begin) {
                return Err(if end > data_len && begin <= end {
                    super::past_end(data_start + begin, (end - begin) as usize, source.len())
                } else {
                    malformed(format!("{name:?}: bytes {begin}..{end} do not hold a {:?} {} tensor", info.shape, info.dtype))
                });
            }
            let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
            let storage = StorageRef { key: name.clone(), dtype, numel: numel.unwrap() };
            let stride = contiguous_strides(&shape);
            tensors.push((name.clone(), Rc::new(TensorRef::new(storage, 0, shape, stride)?)));
            offsets.insert(name, data_start + begin);
        }
        // JSON objects have no order; a stable one keeps summaries reproducible.
        tensors.sort_by_key(|(_, t)| offsets[&t.storage.key]);
        Ok((tensors, Self { offsets }))
    }

    pub fn storage_offset(&self, key: &str) -> Result<u64, CheckpointError> {
        self.offsets.get(key).copied().ok_or_else(|| malformed(format!("no tensor named {key:?}")))
    }
}

/// How `write` stores floating-point tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Half the size; values rounded to nearest (about 3 decimal digits).
    F16,
}

fn stored_dtype(entry: &Entry, precision: Precision) -> DType {
    match (entry.is_counter(), precision) {
        (true, _) => DType::I64,
        (false, Precision::F32) => DType::F32,
        (false, Precision::F16) => DType::F16,
    }
}

/// Write `entries` as a safetensors file through `sink`, a piece at a time,
/// so that no second copy of the model is ever assembled in memory.
pub fn write<E>(
    entries: &[Entry],
    precision: Precision,
    metadata: &[(&str, &str)],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<_, _> = metadata.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
    header.insert("__metadata__".into(), meta.into());
    let mut offset = 0u64;
    for entry in entries {
        let dtype = stored_dtype(entry, precision);
        let end = offset + (entry.values.len() * dtype.size()) as u64;
        header.insert(
            entry.name.into(),
            serde_json::json!({ "dtype": dtype_name(dtype), "shape": entry.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&header).expect("a JSON map serialises");
    // Padding keeps the data 8-byte aligned, as the reference writer does.
    json.resize(json.len().next_multiple_of(8), b' ');
    sink(&(json.len() as u64).to_le_bytes())?;
    sink(&json)?;
    for entry in entries {
        let bytes: Vec<u8> = match stored_dtype(entry, precision) {
            DType::I64 => entry.values.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
            DType::F16 => entry.values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
            _ => entry.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        sink(&bytes)?;
    }
    Ok(())
}

/// The generator's weights, in the released order and under the released
/// names, so that the file also loads into the authors' PyTorch model.
pub fn write_generator<E>(
    weights: &Weights,
    precision: Precision,
    metadata: &[(&str, &str)],
    sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let entries: Vec<Entry> = super::identify::generator_entries()
        .map(|(name, _)| {
            let (shape, values) = &weights[name];
            Entry { name, shape, values }
        })
        .collect();
    write(&entries, precision, metadata, sink)
}
