//! Writes a state_dict in the layout of the authors' release: the legacy
//! (pre-1.6) container, `{'state_dict': OrderedDict('module.<name>': tensor),
//! 'optimizer': {...}, 'global_step': 0, 'global_epoch': 0}`. For tests and
//! tools: it lets the formula weights travel as a real checkpoint file.

use super::legacy::MAGIC;
use super::{Entry, contiguous_strides};

struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Self(vec![0x80, 2])
    }
    fn op(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.op(b"X").op(&(s.len() as u32).to_le_bytes()).op(s.as_bytes())
    }
    fn int(&mut self, v: i32) -> &mut Self {
        self.op(b"J").op(&v.to_le_bytes())
    }
    fn ints(&mut self, values: &[usize]) -> &mut Self {
        self.op(b"(");
        values.iter().for_each(|&v| {
            self.int(v as i32);
        });
        self.op(b"t")
    }
    /// `_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())`.
    fn tensor(&mut self, storage: &str, key: &str, numel: usize, shape: &[usize]) -> &mut Self {
        let stride = contiguous_strides(shape);
        self.op(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        self.op(b"(").str("storage").op(format!("ctorch\n{storage}\n").as_bytes()).str(key).str("cpu").int(numel as i32).op(b"tQ");
        self.int(0).ints(shape).ints(&stride).op(b"\x89ccollections\nOrderedDict\n)RtR")
    }
    fn finish(&mut self) -> Vec<u8> {
        self.op(b".");
        std::mem::take(&mut self.0)
    }
}

/// The bytes of a legacy-format checkpoint holding `entries`, plus an
/// optimizer state of `optimizer_floats` values that a reader must skip.
pub fn legacy_checkpoint(entries: &[Entry], optimizer_floats: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(Pickle::new().op(&[0x8a, 10]).op(&MAGIC).finish());
    out.extend(Pickle::new().op(b"M\xe9\x03").finish());
    out.extend(Pickle::new().op(b"}(").str("little_endian").op(b"\x88").str("protocol_version").op(b"M\xe9\x03u").finish());

    let mut object = Pickle::new();
    object.op(b"}(").str("state_dict").op(b"ccollections\nOrderedDict\n)R(");
    let mut storages: Vec<(String, Vec<u8>, usize)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = i.to_string();
        let (storage, bytes): (&str, Vec<u8>) = if entry.is_counter() {
            ("LongStorage", entry.values.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect())
        } else {
            ("FloatStorage", entry.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        object.str(&format!("module.{}", entry.name)).tensor(storage, &key, entry.values.len(), entry.shape);
        storages.push((key, bytes, entry.values.len()));
    }
    object.op(b"u").str("optimizer").op(b"}(").str("exp_avg");
    object.tensor("FloatStorage", "optimizer", optimizer_floats, &[optimizer_floats]);
    object.op(b"u").str("global_step").int(0).str("global_epoch").int(0).op(b"u");
    out.extend(object.finish());
    storages.push(("optimizer".into(), vec![0x7f; optimizer_floats * 4], optimizer_floats));

    let mut keys = Pickle::new();
    keys.op(b"](");
    storages.iter().for_each(|(key, _, _)| {
        keys.str(key);
    });
    out.extend(keys.op(b"e").finish());
    for (_, bytes, numel) in storages {
        out.extend_from_slice(&(numel as u64).to_le_bytes());
        out.extend(bytes);
    }
    out
}
