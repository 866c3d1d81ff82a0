//! A pickle reader that can describe a PyTorch state_dict and nothing else.
//!
//! Python's unpickler imports and calls whatever a file names; this one knows a
//! fixed list of globals (those a state_dict needs) and interprets them itself.
//! Any other GLOBAL, and every opcode that builds or calls arbitrary objects
//! (INST, OBJ, NEWOBJ, EXT*, PERSID), is refused: nothing in a file executes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::{CheckpointError, DType, StorageRef, TensorRef};

/// The globals a state_dict may name, interpreted here rather than looked up.
#[derive(Clone, Debug, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Result<Self, CheckpointError> {
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Self::RebuildParameter,
            ("torch", storage) if let Some(dtype) = DType::from_storage_name(storage) => Self::Storage(dtype),
            _ => {
                return Err(CheckpointError::Refused(format!(
                    "the file asks to run `{module}.{name}`, which a PyTorch state_dict never needs; \
                     it may be malicious, and nothing in it was executed"
                )));
            }
        })
    }
}

/// A container shared between the stack and the memo, as in Python.
pub type Shared<T> = Rc<RefCell<T>>;

#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// LONG1 integers wider than 64 bits (the legacy format's magic number).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    List(Shared<Vec<Value>>),
    Dict(Shared<Vec<(Value, Value)>>),
    Global(Global),
    Storage(StorageRef),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Look `key` up in a dict value.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(items) => {
                items.borrow().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone())
            }
            _ => None,
        }
    }
}

/// Stack items: values, and the MARK that tuple/list/dict opcodes collect up to.
enum Item {
    Mark,
    Value(Value),
}

/// Limits that keep a hostile pickle from exhausting memory.
const MAX_MEMO: usize = 1 << 22;
const MAX_STACK: usize = 1 << 20;
/// A state_dict nests four deep; dropping a nesting of millions would
/// overflow the stack, so deeper containers are refused as they are built.
const MAX_DEPTH: u32 = 64;
/// Containers visited, over a whole pickle, to make sure none is put inside
/// itself: a state_dict has no cycles, and `Rc` would never free one (found
/// by `make fuzz`: memory grew with every such input). A state_dict's
/// inserts are mostly tensors and numbers, which cost nothing here.
const MAX_CYCLE_CHECKS: usize = 1 << 22;

/// One pickle read from the start of some bytes.
pub struct Pickle {
    pub value: Value,
    /// Bytes the pickle occupied: legacy checkpoints are several pickles in a row.
    pub len: usize,
    /// Every storage the pickle named, in order (the optimizer's too).
    pub storages: Vec<StorageRef>,
}

pub fn read(data: &[u8]) -> Result<Pickle, CheckpointError> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        storages: Vec::new(),
        depths: HashMap::new(),
        cycle_checks: MAX_CYCLE_CHECKS,
    }
    .run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    memo: HashMap<usize, Value>,
    storages: Vec<StorageRef>,
    /// Nesting depth of each live list and dict, by address.
    depths: HashMap<usize, u32>,
    /// What is left of [`MAX_CYCLE_CHECKS`].
    cycle_checks: usize,
}

fn malformed(what: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(what.into())
}

impl Machine<'_> {
    fn run(mut self) -> Result<Pickle, CheckpointError> {
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return Err(malformed(format!("pickle protocol {proto} is newer than any PyTorch writes")));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok(Pickle { value, len: self.pos, storages: self.storages });
                }
                // Constants.
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(v as i64))?
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push(Value::Int(v as i64))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(v as i64))?
                }
                0x8a => {
                    let n = self.byte()? as usize;
                    let value = long1(self.take(n)?);
                    self.push(value)?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Value::Float(v))?
                }
                // Strings and bytes.
                b'X' => {
                    let n = u32::from_le_bytes(self.array()?) as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                0x8c => {
                    let n = self.byte()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                0x8d => {
                    let n = usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| malformed("string too long"))?;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.array()?) as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                b'C' => {
                    let n = self.byte()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                // Containers.
                b'(' => self.push_item(Item::Mark)?,
                b')' => self.push_new(Value::Tuple(Rc::new(Vec::new())))?,
                b']' => self.push_new(Value::List(Rc::default()))?,
                b'}' => self.push_new(Value::Dict(Rc::default()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_new(Value::Tuple(Rc::new(items)))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(malformed("tuple of missing items"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let items = items.into_iter().map(|i| match i {
                        Item::Value(v) => Ok(v),
                        Item::Mark => Err(malformed("a MARK inside a tuple")),
                    });
                    let items = items.collect::<Result<Vec<_>, _>>()?;
                    self.push_new(Value::Tuple(Rc::new(items)))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_new(Value::List(Rc::new(RefCell::new(items))))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let dict = Value::Dict(Rc::default());
                    set_items(&dict, items)?;
                    self.push_new(dict)?
                }
                b'a' => {
                    let item = self.pop()?;
                    self.insert(vec![item], append)?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.insert(items, append)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.insert(vec![key, value], set_items)?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.insert(items, set_items)?
                }
                b'0' => {
                    self.pop_item()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.push(top)?
                }
                // Memo.
                b'q' => {
                    let i = self.byte()? as usize;
                    self.put(i)?
                }
                b'r' => {
                    let i = u32::from_le_bytes(self.array()?) as usize;
                    self.put(i)?
                }
                0x94 => {
                    let i = self.memo.len();
                    self.put(i)?
                }
                b'h' => {
                    let i = self.byte()? as usize;
                    self.get(i)?
                }
                b'j' => {
                    let i = u32::from_le_bytes(self.array()?) as usize;
                    self.get(i)?
                }
                // The only ways to reach code: all routed through `Global`.
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(Global::resolve(&module, &name)?))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => self.push(Value::Global(Global::resolve(m, n)?))?,
                        _ => return Err(malformed("STACK_GLOBAL without module and name strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = call(callable, args)?;
                    self.push_new(result)?
                }
                b'b' => {
                    // BUILD sets attributes (an OrderedDict's `_metadata`): not needed.
                    let _state = self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let storage = persistent_storage(&self.pop()?)?;
                    self.storages.push(storage.clone());
                    self.push(Value::Storage(storage))?
                }
                b'i' | b'o' | 0x81 | 0x92 | 0x82..=0x84 | b'P' | b'S' | b'V' | b'I' | b'L' | b'F' | b'U' | b'T' => {
                    return Err(CheckpointError::Refused(format!(
                        "pickle opcode {:?} (0x{op:02x}) at byte {} is not part of a PyTorch state_dict; nothing was executed",
                        op as char,
                        self.pos - 1
                    )));
                }
                _ => return Err(malformed(format!("unknown pickle opcode 0x{op:02x} at byte {}", self.pos - 1))),
            }
        }
    }

    /// APPEND(S)/SETITEM(S) into the container on top of the stack.
    fn insert(&mut self, items: Vec<Value>, into: fn(&Value, Vec<Value>) -> Result<(), CheckpointError>) -> Result<(), CheckpointError> {
        let target = self.top()?.clone();
        if let Some(key) = address(&target) {
            for item in &items {
                if self.reaches(item, key)? {
                    return Err(malformed("a container is put inside itself, which a state_dict never does"));
                }
            }
        }
        self.nest(&target, self.depth(&target), &items)?;
        into(&target, items)
    }

    /// Whether the container at address `key` is `from` or lies inside it.
    fn reaches(&mut self, from: &Value, key: usize) -> Result<bool, CheckpointError> {
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![from.clone()];
        while let Some(value) = todo.pop() {
            let Some(at) = address(&value) else { continue };
            if at == key {
                return Ok(true);
            }
            if !seen.insert(at) {
                continue;
            }
            self.cycle_checks = self.cycle_checks.checked_sub(1).ok_or_else(|| malformed("too many shared containers for a state_dict"))?;
            let inner = |v: &&Value| address(v).is_some();
            match &value {
                Value::Tuple(items) => todo.extend(items.iter().filter(inner).cloned()),
                Value::List(items) => todo.extend(items.borrow().iter().filter(inner).cloned()),
                Value::Dict(entries) => {
                    todo.extend(entries.borrow().iter().flat_map(|(k, v)| [k, v]).filter(inner).cloned());
                }
                _ => {}
            }
        }
        Ok(false)
    }

    fn depth(&self, value: &Value) -> u32 {
        address(value).map_or(0, |key| self.depths.get(&key).copied().unwrap_or(1))
    }

    /// Record that `items` now live inside `container` (whose depth so far is
    /// `depth`); refuse too deep a nesting.
    fn nest(&mut self, container: &Value, depth: u32, items: &[Value]) -> Result<(), CheckpointError> {
        let inner = items.iter().map(|v| self.depth(v)).max().unwrap_or(0);
        let depth = depth.max(inner + 1);
        if depth > MAX_DEPTH {
            return Err(malformed(format!("containers nested deeper than {MAX_DEPTH}")));
        }
        if let Some(key) = address(container) {
            self.depths.insert(key, depth);
        }
        Ok(())
    }

    /// Push a value just built; a new container's depth comes from its contents
    /// (an address may be a dropped container's, so nothing is inherited).
    fn push_new(&mut self, value: Value) -> Result<(), CheckpointError> {
        match &value {
            Value::Tuple(items) => self.nest(&value, 1, items)?,
            Value::List(items) => self.nest(&value, 1, &items.borrow())?,
            Value::Dict(entries) => {
                let items: Vec<Value> = entries.borrow().iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                self.nest(&value, 1, &items)?
            }
            _ => {}
        }
        self.push(value)
    }

    fn byte(&mut self) -> Result<u8, CheckpointError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CheckpointError> {
        Ok(self.take(N)?.try_into().unwrap())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CheckpointError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len());
        let end = end.ok_or_else(|| CheckpointError::Truncated("the pickle ends in the middle of a value".into()))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn utf8(&mut self, n: usize) -> Result<String, CheckpointError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
    }

    fn line(&mut self) -> Result<String, CheckpointError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().take(256).position(|&b| b == b'\n').ok_or_else(|| malformed("GLOBAL name without end"))?;
        let s = self.utf8(n)?;
        self.pos += 1;
        Ok(s)
    }

    fn push(&mut self, value: Value) -> Result<(), CheckpointError> {
        self.push_item(Item::Value(value))
    }

    fn push_item(&mut self, item: Item) -> Result<(), CheckpointError> {
        if self.stack.len() >= MAX_STACK {
            return Err(malformed("pickle stack too deep"));
        }
        self.stack.push(item);
        Ok(())
    }

    fn pop_item(&mut self) -> Result<Item, CheckpointError> {
        self.stack.pop().ok_or_else(|| malformed("pickle stack underflow"))
    }

    fn pop(&mut self) -> Result<Value, CheckpointError> {
        match self.pop_item()? {
            Item::Value(v) => Ok(v),
            Item::Mark => Err(malformed("a MARK where a value was expected")),
        }
    }

    fn top(&self) -> Result<&Value, CheckpointError> {
        match self.stack.last() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(malformed("no value on the pickle stack")),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, CheckpointError> {
        let mark = self.stack.iter().rposition(|i| matches!(i, Item::Mark)).ok_or_else(|| malformed("no MARK"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items.into_iter().map(|i| match i { Item::Value(v) => v, Item::Mark => unreachable!() }).collect())
    }

    fn put(&mut self, i: usize) -> Result<(), CheckpointError> {
        if self.memo.len() >= MAX_MEMO {
            return Err(malformed("pickle memo too large"));
        }
        let value = self.top()?.clone();
        self.memo.insert(i, value);
        Ok(())
    }

    fn get(&mut self, i: usize) -> Result<(), CheckpointError> {
        let value = self.memo.get(&i).cloned().ok_or_else(|| malformed(format!("memo entry {i} read before it was written")))?;
        self.push(value)
    }
}

/// Identity of a container (its allocation), for the depth table.
fn address(value: &Value) -> Option<usize> {
    match value {
        Value::Tuple(t) => Some(Rc::as_ptr(t) as *const u8 as usize),
        Value::List(l) => Some(Rc::as_ptr(l) as *const u8 as usize),
        Value::Dict(d) => Some(Rc::as_ptr(d) as *const u8 as usize),
        _ => None,
    }
}

fn long1(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.to_vec())
    }
}

fn append(target: &Value, items: Vec<Value>) -> Result<(), CheckpointError> {
    match target {
        Value::List(list) => {
            list.borrow_mut().extend(items);
            Ok(())
        }
        other => Err(malformed(format!("APPEND to a {}", other.kind()))),
    }
}

fn set_items(target: &Value, items: Vec<Value>) -> Result<(), CheckpointError> {
    let Value::Dict(dict) = target else {
        return Err(malformed(format!("SETITEM on a {}", target.kind())));
    };
    if !items.len().is_multiple_of(2) {
        return Err(malformed("SETITEMS with an odd number of items"));
    }
    let mut dict = dict.borrow_mut();
    let mut items = items.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        dict.push((k, v));
    }
    Ok(())
}

/// REDUCE, for the few callables a state_dict uses.
fn call(callable: Value, args: Value) -> Result<Value, CheckpointError> {
    let Value::Global(global) = callable else {
        return Err(malformed(format!("REDUCE on a {}, not a callable", callable.kind())));
    };
    let Value::Tuple(args) = args else {
        return Err(malformed("REDUCE arguments are not a tuple"));
    };
    match global {
        Global::OrderedDict if args.is_empty() => Ok(Value::Dict(Rc::default())),
        Global::RebuildTensorV2 => rebuild_tensor(&args),
        Global::RebuildParameter => match args.first() {
            Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
            _ => Err(malformed("_rebuild_parameter without a tensor")),
        },
        other => Err(malformed(format!("{other:?} called with unexpected arguments"))),
    }
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
fn rebuild_tensor(args: &[Value]) -> Result<Value, CheckpointError> {
    let bad = || malformed("_rebuild_tensor_v2 with unexpected arguments");
    let [Value::Storage(storage), offset, Value::Tuple(size), Value::Tuple(stride), ..] = args else {
        return Err(bad());
    };
    let dims = |t: &[Value]| -> Result<Vec<usize>, CheckpointError> {
        t.iter().map(|v| v.as_int().and_then(|i| usize::try_from(i).ok()).ok_or_else(bad)).collect()
    };
    let (shape, stride) = (dims(size)?, dims(stride)?);
    let offset = offset.as_int().and_then(|i| u64::try_from(i).ok()).ok_or_else(bad)?;
    if shape.len() != stride.len() || shape.len() > 8 {
        return Err(bad());
    }
    Ok(Value::Tensor(Rc::new(TensorRef::new(storage.clone(), offset, shape, stride)?)))
}

/// BINPERSID's id: `('storage', StorageType, key, location, numel[, view_metadata])`.
fn persistent_storage(pid: &Value) -> Result<StorageRef, CheckpointError> {
    let bad = || malformed("a persistent id that is not a tensor storage");
    let Value::Tuple(fields) = pid else { return Err(bad()) };
    match fields.as_slice() {
        [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), _location, numel, rest @ ..] if tag == "storage" => {
            if !matches!(rest, [] | [Value::None]) {
                return Err(malformed("storage views (PyTorch before 0.4) are not supported"));
            }
            let numel = numel.as_int().and_then(|n| u64::try_from(n).ok()).ok_or_else(bad)?;
            Ok(StorageRef { key: key.clone(), dtype: *dtype, numel })
        }
        _ => Err(bad()),
    }
}
