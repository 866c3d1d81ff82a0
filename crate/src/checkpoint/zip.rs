//! The zip container of PyTorch >= 1.6: `<name>/data.pkl` plus one entry per
//! storage, `<name>/data/<key>`, all stored uncompressed. Only the central
//! directory and the entries asked for are read; compressed entries are
//! refused, so nothing is ever inflated (no zip bombs).
//!
//! Why not the `zip` crate: of it we would use only the central directory.
//! PyTorch stores every entry uncompressed, and a compressed one is refused
//! here anyway, so its decompressors (its default features) would be
//! dead weight, and without them it still brings crc32fast, indexmap,
//! memchr, displaydoc and thiserror into the wasm module. Its archive is
//! opened over `Read + Seek` and hands entries out as streams; the reader
//! here needs each storage's absolute offset, to read one tensor's bytes
//! by range (`Blob.slice` in the browser) from a 436 MB file. What is left
//! to write is this: two record layouts and zip64's sizes, bounds-checked
//! and under `make fuzz`.

use std::collections::HashMap;

use super::{CheckpointError, Source};

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;
const MAX_ENTRIES: u64 = 1 << 20;

#[derive(Clone, Copy)]
struct Entry {
    local_header: u64,
    size: u64,
}

pub struct Archive {
    /// Entry name with the archive's top folder removed (`data.pkl`, `data/0`).
    entries: HashMap<String, Entry>,
}

fn malformed(what: &str) -> CheckpointError {
    CheckpointError::Malformed(format!("broken zip archive: {what}"))
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

impl Archive {
    pub fn open<S: Source + ?Sized>(source: &S) -> Result<Self, CheckpointError> {
        let len = source.len();
        // The end record is in the last 22 bytes plus a comment of up to 64 KiB.
        let tail_len = len.min(22 + 65_535);
        let tail = source.read_at(len - tail_len, tail_len as usize)?;
        let eocd = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(&tail, i) == EOCD)
            .ok_or_else(|| CheckpointError::Truncated("the zip archive has no end record".into()))?;
        let eocd_at = len - tail_len + eocd as u64;
        let mut count = u16_at(&tail, eocd + 10) as u64;
        let mut cd_size = u32_at(&tail, eocd + 12) as u64;
        let mut cd_offset = u32_at(&tail, eocd + 16) as u64;

        if count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
            let locator = source.read_at(eocd_at.checked_sub(20).ok_or_else(|| malformed("zip64 locator"))?, 20)?;
            if u32_at(&locator, 0) != ZIP64_LOCATOR {
                return Err(malformed("zip64 locator missing"));
            }
            let record = source.read_at(u64_at(&locator, 8), 56)?;
            if u32_at(&record, 0) != ZIP64_EOCD {
                return Err(malformed("zip64 end record missing"));
            }
            count = u64_at(&record, 32);
            cd_size = u64_at(&record, 40);
            cd_offset = u64_at(&record, 48);
        }
        if count > MAX_ENTRIES || cd_offset.checked_add(cd_size).is_none_or(|end| end > len) {
            return Err(malformed("central directory out of range"));
        }
        let cd = source.read_at(cd_offset, cd_size as usize)?;

        let mut entries = HashMap::new();
        let mut at = 0usize;
        for _ in 0..count {
            if at + 46 > cd.len() || u32_at(&cd, at) != CENTRAL {
                return Err(malformed("central directory entry"));
            }
            let method = u16_at(&cd, at + 10);
            let mut size = u32_at(&cd, at + 24) as u64;
            let mut uncompressed = u32_at(&cd, at + 20) as u64;
            let name_len = u16_at(&cd, at + 28) as usize;
            let extra_len = u16_at(&cd, at + 30) as usize;
            let comment_len = u16_at(&cd, at + 32) as usize;
            let mut local_header = u32_at(&cd, at + 42) as u64;
            let name_end = at + 46 + name_len;
            let end = name_end + extra_len + comment_len;
            if end > cd.len() {
                return Err(malformed("central directory entry"));
            }
            let name = String::from_utf8_lossy(&cd[at + 46..name_end]).into_owned();
            // Zip64 extra field: the 0xffffffff fields, in order, as u64.
            let mut extra = &cd[name_end..name_end + extra_len];
            while extra.len() >= 4 {
                let (id, n) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
                let body = extra.get(4..4 + n).ok_or_else(|| malformed("extra field"))?;
                if id == 1 {
                    let mut fields = body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()));
                    if uncompressed == 0xffff_ffff {
                        uncompressed = fields.next().ok_or_else(|| malformed("zip64 size"))?;
                    }
                    if size == 0xffff_ffff {
                        size = fields.next().ok_or_else(|| malformed("zip64 size"))?;
                    }
                    if local_header == 0xffff_ffff {
                        local_header = fields.next().ok_or_else(|| malformed("zip64 offset"))?;
                    }
                }
                extra = &extra[4 + n..];
            }
            if method != 0 || size != uncompressed {
                return Err(CheckpointError::Refused(format!(
                    "entry {name} is compressed; PyTorch stores checkpoints uncompressed, and this reader never inflates data"
                )));
            }
            // PyTorch names entries `<archive name>/...`; the archive name varies.
            let key = name.split_once('/').map_or(name.as_str(), |(_, rest)| rest).to_string();
            entries.insert(key, Entry { local_header, size });
            at = end;
        }
        Ok(Self { entries })
    }

    fn data_offset<S: Source + ?Sized>(&self, source: &S, name: &str) -> Result<(u64, u64), CheckpointError> {
        let entry = *self
            .entries
            .get(name)
            .ok_or_else(|| CheckpointError::Malformed(format!("the archive has no {name} entry")))?;
        let header = source.read_at(entry.local_header, 30)?;
        if u32_at(&header, 0) != LOCAL {
            return Err(malformed("local header"));
        }
        let start = entry.local_header + 30 + u16_at(&header, 26) as u64 + u16_at(&header, 28) as u64;
        if start.checked_add(entry.size).is_none_or(|end| end > source.len()) {
            return Err(CheckpointError::Truncated(format!("entry {name} runs past the end of the file")));
        }
        Ok((start, entry.size))
    }

    pub fn read_pickle<S: Source + ?Sized>(&self, source: &S) -> Result<Vec<u8>, CheckpointError> {
        let (start, size) = self.data_offset(source, "data.pkl")?;
        if size > 256 << 20 {
            return Err(malformed("data.pkl is implausibly large"));
        }
        source.read_at(start, size as usize)
    }

    pub fn storage_offset<S: Source + ?Sized>(&self, source: &S, key: &str, len: usize) -> Result<u64, CheckpointError> {
        let (start, size) = self.data_offset(source, &format!("data/{key}"))?;
        if size < len as u64 {
            return Err(CheckpointError::Malformed(format!("storage {key} is shorter than its tensors need")));
        }
        Ok(start)
    }
}
