//! The safetensors container: an 8-byte little-endian header length, a JSON
//! header naming each tensor's dtype, shape and byte range, then the raw
//! data. Nothing in it can execute, which is why the app caches converted
//! models in this format (and `wav2lip convert` writes it).
//!
//! The header is the `safetensors` crate's own `Metadata`: its parser and
//! its checks (tensors laid end to end from offset 0, each range exactly
//! dtype × shape bytes). Its whole-file entry points are not used: they
//! take the file as one buffer (`SafeTensors::read_metadata` refuses a
//! buffer shorter than the file) and write it as one (`serialize`), and in
//! the browser the model is read by byte range from the user's file and
//! written to OPFS a tensor at a time, so that no second copy of 145 MB is
//! ever held. Here the header is read by range and parsed with the crate,
//! and the data is read and written around it.

use std::collections::HashMap;
use std::rc::Rc;

use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};

use super::{CheckpointError, DType, Entry, Source, StorageRef, TensorRef, Tensors, Weights, contiguous_strides};

/// The reference implementation's limit; a real header is a few tens of KB.
const MAX_HEADER: u64 = 100 << 20;

pub struct Layout {
    /// Absolute file offset of each tensor's bytes, by tensor name.
    offsets: HashMap<String, u64>,
}

fn malformed(what: String) -> CheckpointError {
    CheckpointError::Malformed(format!("safetensors: {what}"))
}

/// The element types PyTorch checkpoints hold; the format's others (fp8,
/// unsigned, complex…) are refused by name.
fn dtype_of(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::I32 => DType::I32,
        Dtype::I16 => DType::I16,
        Dtype::I8 => DType::I8,
        Dtype::U8 => DType::U8,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

fn dtype_for(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::Bool => Dtype::BOOL,
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
        let metadata: Metadata = serde_json::from_slice(&header).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => malformed(format!("the header does not describe its tensors as the format does ({e})")),
            _ => malformed(format!("the header is not a JSON object ({e})")),
        })?;
        // The crate has checked that the ranges lie end to end; the last
        // must end inside the file.
        let data_len = metadata.data_len() as u64;
        if data_start + data_len > source.len() {
            return Err(super::past_end(data_start, data_len as usize, source.len()));
        }

        let names = metadata.offset_keys();
        let mut tensors = Vec::with_capacity(names.len());
        let mut offsets = HashMap::with_capacity(names.len());
        for name in names {
            let info = metadata.info(&name).expect("a name the metadata listed");
            let dtype = dtype_of(info.dtype).ok_or_else(|| malformed(format!("{name:?} has a dtype PyTorch checkpoints do not use ({:?})", info.dtype)))?;
            let numel = info.shape.iter().product::<usize>() as u64;
            let storage = StorageRef { key: name.clone(), dtype, numel };
            let stride = contiguous_strides(&info.shape);
            tensors.push((name.clone(), Rc::new(TensorRef::new(storage, 0, info.shape.clone(), stride)?)));
            offsets.insert(name, data_start + info.data_offsets.0 as u64);
        }
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
    let mut offset = 0;
    let tensors = entries
        .iter()
        .map(|entry| {
            let dtype = stored_dtype(entry, precision);
            let end = offset + entry.values.len() * dtype.size();
            let info = TensorInfo { dtype: dtype_for(dtype), shape: entry.shape.to_vec(), data_offsets: (offset, end) };
            offset = end;
            (entry.name.to_string(), info)
        })
        .collect();
    let metadata = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let header = Metadata::new(Some(metadata), tensors).expect("tensors laid end to end, each its dtype × shape");
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
