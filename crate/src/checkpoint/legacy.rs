//! The legacy (pre-1.6) container: five pickles in a row — magic number,
//! protocol version, system info, the object, the storage keys — then each
//! storage as a little-endian u64 element count followed by its raw bytes.

use std::collections::HashMap;

use super::pickle::{self, Value};
use super::{CheckpointError, Source, StorageRef};

pub(super) const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PROTOCOL_VERSION: i64 = 1001;
/// The pickles precede the storages; a real checkpoint's are a few hundred KB.
const MAX_PICKLES: u64 = 256 << 20;

/// Where each storage's bytes begin, by key.
pub struct Layout {
    offsets: HashMap<String, (u64, u64)>,
}

impl Layout {
    pub fn open<S: Source + ?Sized>(source: &S) -> Result<(Value, Self), CheckpointError> {
        // Read a prefix large enough to hold every pickle, growing it as needed.
        let mut prefix_len = source.len().min(1 << 20);
        loop {
            let prefix = source.read_at(0, prefix_len as usize)?;
            match Self::parse(&prefix, source.len()) {
                Err(CheckpointError::Truncated(_)) if prefix_len < source.len().min(MAX_PICKLES) => {
                    prefix_len = (prefix_len * 4).min(source.len()).min(MAX_PICKLES);
                }
                other => return other,
            }
        }
    }

    fn parse(prefix: &[u8], file_len: u64) -> Result<(Value, Self), CheckpointError> {
        let mut pos = 0;
        let mut next = |what: &str| -> Result<pickle::Pickle, CheckpointError> {
            let pickle = pickle::read(&prefix[pos..]).map_err(|e| match e {
                CheckpointError::Malformed(m) => CheckpointError::Malformed(format!("{what}: {m}")),
                other => other,
            })?;
            pos += pickle.len;
            Ok(pickle)
        };
        match next("magic number")?.value {
            Value::BigInt(bytes) if bytes == MAGIC => {}
            _ => return Err(CheckpointError::Malformed("a pickle, but not a PyTorch checkpoint (wrong magic number)".into())),
        }
        if next("protocol version")?.value.as_int() != Some(PROTOCOL_VERSION) {
            return Err(CheckpointError::Malformed("unknown legacy checkpoint version".into()));
        }
        let sys_info = next("system info")?.value;
        if matches!(sys_info.get("little_endian"), Some(Value::Bool(false))) {
            return Err(CheckpointError::Malformed("saved on a big-endian machine: not supported".into()));
        }
        let object = next("object")?;
        let keys = match next("storage keys")?.value {
            Value::List(keys) => keys.borrow().iter().map(|k| k.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>(),
            _ => None,
        };
        let keys = keys.ok_or_else(|| CheckpointError::Malformed("the storage key list is not a list of strings".into()))?;

        let named: HashMap<&str, &StorageRef> = object.storages.iter().map(|s| (s.key.as_str(), s)).collect();
        let mut offsets = HashMap::with_capacity(keys.len());
        let mut at = pos as u64;
        for key in keys {
            let storage = named.get(key.as_str()).ok_or_else(|| {
                CheckpointError::Malformed(format!("storage {key} is listed but no tensor uses it"))
            })?;
            let bytes = storage.numel.checked_mul(storage.dtype.size() as u64);
            let end = bytes.and_then(|b| at.checked_add(8)?.checked_add(b));
            let end = end.ok_or_else(|| CheckpointError::Malformed("storage sizes overflow".into()))?;
            offsets.insert(key, (at, storage.numel));
            at = end;
        }
        if at > file_len {
            return Err(CheckpointError::Truncated(format!(
                "the storages need {at} bytes and the file has {file_len}"
            )));
        }
        Ok((object.value, Self { offsets }))
    }

    /// Byte offset of `key`'s data, after checking its element-count header.
    pub fn storage_offset<S: Source + ?Sized>(&self, source: &S, key: &str) -> Result<u64, CheckpointError> {
        let &(at, numel) = self
            .offsets
            .get(key)
            .ok_or_else(|| CheckpointError::Malformed(format!("storage {key} is not in the file")))?;
        let header = source.read_at(at, 8)?;
        if u64::from_le_bytes(header.try_into().unwrap()) != numel {
            return Err(CheckpointError::Malformed(format!("storage {key} has the wrong size header")));
        }
        Ok(at + 8)
    }
}
