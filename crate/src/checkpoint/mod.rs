//! Reading the authors' PyTorch checkpoints safely.
//!
//! A `.pth` file is a pickle plus raw tensor storages, in one of two
//! containers: the zip archive of PyTorch >= 1.6, or the legacy stream of
//! earlier versions (the format of the 2020 Wav2Lip release). Both are read
//! through [`Source`], random access by byte range, so that in the browser a
//! 436 MB `File` is read by `Blob.slice` and only the generator's storages are
//! ever loaded (the optimizer state in the same file is skipped). Converted
//! models are read from safetensors through the same interface.

pub mod identify;
mod legacy;
pub mod pickle;
pub mod safetensors;
pub mod writer;
mod zip;

use std::fmt;
use std::rc::Rc;

use pickle::Value;

/// The tensors a file names, in its order, each a view of its bytes.
pub type Tensors = Vec<(String, Rc<TensorRef>)>;

/// Named tensors `(shape, values)` in the released state_dict's names: a
/// generator's weights as read ([`Checkpoint::generator_weights`]), what
/// `crate::generate` builds the network from.
pub type Weights = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Random access to a file's bytes.
pub trait Source {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, CheckpointError>;
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, CheckpointError> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= <[u8]>::len(self));
        let end = start.and_then(|s| s.checked_add(len)).filter(|&e| e <= <[u8]>::len(self));
        match (start, end) {
            (Some(s), Some(e)) => Ok(self[s..e].to_vec()),
            _ => Err(past_end(offset, len, Source::len(self))),
        }
    }
}

/// Ok when bytes `offset..offset+len` lie inside a file of `file_len` bytes:
/// every [`Source`] checks this before it reads.
pub(crate) fn check_range(offset: u64, len: usize, file_len: u64) -> Result<(), CheckpointError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(past_end(offset, len, file_len)),
    }
}

fn past_end(offset: u64, len: usize, file_len: u64) -> CheckpointError {
    CheckpointError::Truncated(format!(
        "the file ends before byte {} (it has {file_len})",
        offset.saturating_add(len as u64)
    ))
}

/// Row-major strides of a contiguous tensor of `shape`, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut stride = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * shape[i + 1];
    }
    stride
}

/// A file on disk, read by range (natively; the browser reads `Blob.slice`s).
#[cfg(not(target_family = "wasm"))]
pub struct FileSource {
    file: std::cell::RefCell<std::fs::File>,
    len: u64,
}

#[cfg(not(target_family = "wasm"))]
impl FileSource {
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file: std::cell::RefCell::new(file), len })
    }
}

#[cfg(not(target_family = "wasm"))]
impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, CheckpointError> {
        use std::io::{Read, Seek, SeekFrom};
        check_range(offset, len, self.len)?;
        let mut file = self.file.borrow_mut();
        let mut buf = vec![0; len];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| CheckpointError::Unreadable(e.to_string()))?;
        Ok(buf)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointError {
    /// The file asked for something a state_dict never needs.
    Refused(String),
    /// The file ends early: an interrupted download, usually.
    Truncated(String),
    /// Not a structure this reader understands.
    Malformed(String),
    /// A well-formed file, but not the model asked for.
    WrongModel(String),
    /// The system could not read the file (moved, deleted, permissions).
    Unreadable(String),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(m) => write!(f, "refused: {m}"),
            Self::Truncated(m) => write!(f, "the file is incomplete ({m}); download it again"),
            Self::Malformed(m) => write!(f, "not a readable checkpoint: {m}"),
            Self::WrongModel(m) => write!(f, "{m}"),
            Self::Unreadable(m) => write!(f, "the file could not be read ({m}); choose it again"),
        }
    }
}

impl std::error::Error for CheckpointError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    F64,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    fn from_storage_name(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "DoubleStorage" => Self::F64,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Decode one little-endian element as f32.
    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::F64 => f64::from_le_bytes(b[..8].try_into().unwrap()) as f32,
            Self::I64 => i64::from_le_bytes(b[..8].try_into().unwrap()) as f32,
            Self::I32 => i32::from_le_bytes(b[..4].try_into().unwrap()) as f32,
            Self::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
            Self::I8 => b[0] as i8 as f32,
            Self::U8 | Self::Bool => b[0] as f32,
        }
    }
}

/// A storage named by the pickle: where its bytes are is the container's business.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: u64,
}

/// A tensor as a view on a storage: shape, strides and offset in elements.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl TensorRef {
    fn new(storage: StorageRef, offset: u64, shape: Vec<usize>, stride: Vec<usize>) -> Result<Self, CheckpointError> {
        let numel = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        // The last element the view touches must lie inside the storage.
        let last = shape.iter().zip(&stride).try_fold(offset, |acc, (&d, &s)| {
            if d == 0 { Some(acc) } else { acc.checked_add((d as u64 - 1).checked_mul(s as u64)?) }
        });
        match (numel, last) {
            (Some(0), _) => {}
            // More elements than the storage holds means overlapping (stride-0)
            // views, which a state_dict never needs and which could make a
            // tiny file expand into gigabytes when read.
            (Some(n), _) if n > storage.numel => {
                return Err(CheckpointError::Malformed(format!(
                    "a tensor of shape {shape:?} repeats the {} elements of its storage",
                    storage.numel
                )));
            }
            (Some(_), Some(last)) if last < storage.numel => {}
            _ => {
                return Err(CheckpointError::Malformed(format!(
                    "a tensor of shape {shape:?} reaches past the end of its storage ({} elements)",
                    storage.numel
                )));
            }
        }
        Ok(Self { storage, offset, shape, stride })
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The tensor's values in row-major order, read through its strides from
    /// the storage's raw little-endian bytes.
    pub fn gather(&self, storage: &[u8]) -> Vec<f32> {
        let size = self.storage.dtype.size();
        // Almost every tensor is contiguous: decode its bytes in one pass (the
        // element-by-element walk below is several times slower, which a user
        // waiting for 36 M weights would feel).
        if self.stride == contiguous_strides(&self.shape) {
            let start = self.offset as usize * size;
            let bytes = &storage[start..start + self.numel() * size];
            return match self.storage.dtype {
                DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                dtype => bytes.chunks_exact(size).map(|b| dtype.decode(b)).collect(),
            };
        }
        let mut out = Vec::with_capacity(self.numel());
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..self.numel() {
            let element = self.offset as usize + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            out.push(self.storage.dtype.decode(&storage[element * size..(element + 1) * size]));
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < self.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        out
    }
}

/// One named tensor for a writer (`writer` for the legacy layout,
/// `safetensors`): its name without `module.`, shape, and values.
pub struct Entry<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: &'a [f32],
}

impl Entry<'_> {
    /// BatchNorm's batch counters, which PyTorch stores as int64.
    fn is_counter(&self) -> bool {
        self.name.ends_with("num_batches_tracked")
    }
}

/// Which container a checkpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    Legacy,
    Safetensors,
}

/// A checkpoint opened for reading: its state_dict's tensors by name (the
/// `module.` prefix of DataParallel removed), and where each storage's bytes are.
pub struct Checkpoint<'s, S: Source + ?Sized> {
    source: &'s S,
    pub format: Format,
    pub tensors: Tensors,
    locate: Locator,
}

enum Locator {
    Zip(zip::Archive),
    Legacy(legacy::Layout),
    Safetensors(safetensors::Layout),
}

impl<'s, S: Source + ?Sized> Checkpoint<'s, S> {
    pub fn open(source: &'s S) -> Result<Self, CheckpointError> {
        let head = source.read_at(0, source.len().min(9) as usize)?;
        if safetensors::sniff(&head) {
            let (tensors, layout) = safetensors::Layout::open(source)?;
            return Ok(Self { source, format: Format::Safetensors, tensors, locate: Locator::Safetensors(layout) });
        }
        let (format, root, locate) = if head.starts_with(b"PK\x03\x04") {
            let archive = zip::Archive::open(source)?;
            let root = pickle::read(&archive.read_pickle(source)?)?.value;
            (Format::Zip, root, Locator::Zip(archive))
        } else if head.first() == Some(&0x80) {
            let (root, layout) = legacy::Layout::open(source)?;
            (Format::Legacy, root, Locator::Legacy(layout))
        } else {
            return Err(CheckpointError::Malformed(
                "the file starts like neither a PyTorch checkpoint (zip or legacy) nor safetensors".into(),
            ));
        };
        let tensors = state_dict(&root)?;
        Ok(Self { source, format, tensors, locate })
    }

    /// Read one tensor's values as f32, row-major.
    pub fn read(&self, tensor: &TensorRef) -> Result<Vec<f32>, CheckpointError> {
        let bytes = self.storage_bytes(&tensor.storage)?;
        Ok(tensor.gather(&bytes))
    }

    /// Every tensor of the released generator, checked against its names and
    /// shapes first; nothing else in the file is read.
    pub fn generator_weights(&self) -> Result<Weights, CheckpointError> {
        if let identify::Identity::Other(message) = identify::identify(&self.tensors) {
            return Err(CheckpointError::WrongModel(message));
        }
        identify::generator_entries()
            .map(|(name, shape)| {
                let (_, tensor) = self.tensors.iter().find(|(n, _)| n == name).expect("identified");
                Ok((name.to_string(), (shape, self.read(tensor)?)))
            })
            .collect()
    }

    fn storage_bytes(&self, storage: &StorageRef) -> Result<Vec<u8>, CheckpointError> {
        let len = storage.numel.checked_mul(storage.dtype.size() as u64);
        let len = len.and_then(|l| usize::try_from(l).ok()).ok_or_else(|| CheckpointError::Malformed("storage too large".into()))?;
        let offset = match &self.locate {
            Locator::Zip(archive) => archive.storage_offset(self.source, &storage.key, len)?,
            Locator::Legacy(layout) => layout.storage_offset(self.source, &storage.key)?,
            Locator::Safetensors(layout) => layout.storage_offset(&storage.key)?,
        };
        self.source.read_at(offset, len)
    }
}

/// What `wav2lip inspect` prints about a checkpoint.
#[derive(Clone, Debug)]
pub struct Summary {
    pub format: Format,
    pub dtypes: Vec<DType>,
    pub tensors: usize,
    /// Learned values: every element except BatchNorm's running statistics.
    pub parameters: u64,
    pub identity: identify::Identity,
}

impl<S: Source + ?Sized> Checkpoint<'_, S> {
    pub fn summary(&self) -> Summary {
        let mut dtypes = Vec::new();
        let mut parameters = 0;
        for (name, tensor) in &self.tensors {
            if !dtypes.contains(&tensor.storage.dtype) {
                dtypes.push(tensor.storage.dtype);
            }
            let statistic = name.ends_with("running_mean") || name.ends_with("running_var") || name.ends_with("num_batches_tracked");
            if !statistic {
                parameters += tensor.numel() as u64;
            }
        }
        Summary {
            format: self.format,
            dtypes,
            tensors: self.tensors.len(),
            parameters,
            identity: identify::identify(&self.tensors),
        }
    }
}

/// The tensors of the state_dict inside a checkpoint's root object: either the
/// root itself or its `state_dict` entry (the authors' training checkpoints).
fn state_dict(root: &Value) -> Result<Tensors, CheckpointError> {
    let dict = root.get("state_dict").unwrap_or_else(|| root.clone());
    let Value::Dict(items) = dict else {
        return Err(CheckpointError::WrongModel("the checkpoint holds no state_dict (a dict of tensors)".into()));
    };
    let mut tensors = Vec::new();
    for (key, value) in items.borrow().iter() {
        let (Some(name), Value::Tensor(tensor)) = (key.as_str(), value) else { continue };
        let name = name.strip_prefix("module.").unwrap_or(name);
        tensors.push((name.to_string(), tensor.clone()));
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests;
