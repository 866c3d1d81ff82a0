//! A TensorFlow Lite model file, read: the FlatBuffers container, the graph's
//! tensors, operators and constant buffers. Only what the face detector
//! needs is decoded; every offset is bounds-checked, so a damaged file gives
//! an error, never a panic.
//!
//! FlatBuffers in brief: a table starts with an i32 pointing back to its
//! vtable (u16 sizes, then one u16 offset per field, 0 = absent); offsets to
//! tables, vectors and strings are u32 relative to where they are stored.
//!
//! Why not a reader generated from TFLite's `schema.fbs` (`flatbuffers`
//! with flatc, or `planus`): it means either committing TensorFlow's schema
//! and thousands of lines generated from it, or a code generator in the
//! build (flatc is C++; planus-cli one more install), to read the six
//! fields of five tables the detector and the mesh use. Reading those by
//! hand with every offset checked is the smaller thing to trust, and it is
//! fuzzed (`make fuzz`).

/// Why a file could not be read as a TFLite model.
#[derive(Debug, Clone, PartialEq)]
pub struct TfliteError(pub String);

impl std::fmt::Display for TfliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a usable TFLite model: {}", self.0)
    }
}

type Result<T> = std::result::Result<T, TfliteError>;

fn bad<T>(what: impl Into<String>) -> Result<T> {
    Err(TfliteError(what.into()))
}

/// A position in the file known to hold a table.
#[derive(Clone, Copy)]
struct Table<'a> {
    buf: &'a [u8],
    at: usize,
    vtable: usize,
    vtable_len: usize,
}

fn read<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N]> {
    match buf.get(at..at.saturating_add(N)) {
        Some(bytes) => Ok(bytes.try_into().expect("N bytes")),
        None => bad(format!("an offset ({at}) points past the end of the file ({} bytes)", buf.len())),
    }
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32> {
    read::<4>(buf, at).map(u32::from_le_bytes)
}

impl<'a> Table<'a> {
    fn at(buf: &'a [u8], at: usize) -> Result<Self> {
        let back = i32::from_le_bytes(read::<4>(buf, at)?) as i64;
        let vtable = at as i64 - back;
        if vtable < 0 || vtable as usize >= buf.len() {
            return bad("a table's vtable lies outside the file");
        }
        let vtable = vtable as usize;
        let vtable_len = u16::from_le_bytes(read::<2>(buf, vtable)?) as usize;
        Ok(Self { buf, at, vtable, vtable_len })
    }

    /// Where field `i` is stored, if present.
    fn field(&self, i: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * i;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let offset = u16::from_le_bytes(read::<2>(self.buf, self.vtable + slot)?) as usize;
        Ok((offset != 0).then_some(self.at + offset))
    }

    fn scalar<const N: usize>(&self, i: usize) -> Result<Option<[u8; N]>> {
        self.field(i)?.map(|at| read::<N>(self.buf, at)).transpose()
    }

    fn u8(&self, i: usize, default: u8) -> Result<u8> {
        Ok(self.scalar::<1>(i)?.map_or(default, |b| b[0]))
    }

    fn i32(&self, i: usize, default: i32) -> Result<i32> {
        Ok(self.scalar::<4>(i)?.map_or(default, i32::from_le_bytes))
    }

    fn u32(&self, i: usize, default: u32) -> Result<u32> {
        Ok(self.scalar::<4>(i)?.map_or(default, u32::from_le_bytes))
    }

    /// Follow the u32 offset stored in field `i`.
    fn target(&self, i: usize) -> Result<Option<usize>> {
        let Some(at) = self.field(i)? else { return Ok(None) };
        let target = at as u64 + u32_at(self.buf, at)? as u64;
        if target >= self.buf.len() as u64 {
            return bad("an offset points past the end of the file");
        }
        Ok(Some(target as usize))
    }

    fn table(&self, i: usize) -> Result<Option<Table<'a>>> {
        self.target(i)?.map(|at| Table::at(self.buf, at)).transpose()
    }

    /// A vector field: (first element's position, length).
    fn vector(&self, i: usize, element: usize) -> Result<Option<(usize, usize)>> {
        let Some(at) = self.target(i)? else { return Ok(None) };
        let len = u32_at(self.buf, at)? as usize;
        let end = (at as u64 + 4) + len as u64 * element as u64;
        if end > self.buf.len() as u64 {
            return bad(format!("a vector of {len} elements runs past the end of the file"));
        }
        Ok(Some((at + 4, len)))
    }

    fn bytes(&self, i: usize) -> Result<&'a [u8]> {
        Ok(match self.vector(i, 1)? {
            Some((at, len)) => &self.buf[at..at + len],
            None => &[],
        })
    }

    fn string(&self, i: usize) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes(i)?).into_owned())
    }

    fn i32s(&self, i: usize) -> Result<Vec<i32>> {
        let Some((at, len)) = self.vector(i, 4)? else { return Ok(Vec::new()) };
        Ok(self.buf[at..at + 4 * len].chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect())
    }

    fn tables(&self, i: usize) -> Result<Vec<Table<'a>>> {
        let Some((at, len)) = self.vector(i, 4)? else { return Ok(Vec::new()) };
        (0..len)
            .map(|k| {
                let slot = at + 4 * k;
                Table::at(self.buf, slot + u32_at(self.buf, slot)? as usize)
            })
            .collect()
    }
}

/// Element types the detector's files use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DType {
    F32,
    F16,
    I32,
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// Index into [`Model::buffers`]; buffer 0 is the empty sentinel.
    pub buffer: usize,
}

/// The operators BlazeFace and Face Mesh are made of (TFLite's builtin codes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpKind {
    Add,
    Concatenation,
    Conv2d,
    DepthwiseConv2d,
    Dequantize,
    MaxPool2d,
    Relu,
    Reshape,
    Pad,
    /// Face Mesh's activation: x where x ≥ 0, else α·x, α per channel.
    Prelu,
    /// The full-range detector's feature pyramid: a coarse map brought up
    /// to the next finer one's size.
    ResizeBilinear,
}

impl OpKind {
    fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => Self::Add,
            2 => Self::Concatenation,
            3 => Self::Conv2d,
            4 => Self::DepthwiseConv2d,
            6 => Self::Dequantize,
            17 => Self::MaxPool2d,
            19 => Self::Relu,
            22 => Self::Reshape,
            23 => Self::ResizeBilinear,
            34 => Self::Pad,
            54 => Self::Prelu,
            _ => return None,
        })
    }
}

/// TFLite's `Padding`: SAME pads so that out = ceil(in / stride), the extra
/// pixel (if odd) going after; VALID does not pad.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Padding {
    Same,
    Valid,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    None,
    Relu,
}

/// The options of the operators that have any.
#[derive(Clone, Debug, PartialEq)]
pub enum Options {
    None,
    Conv { padding: Padding, stride: (usize, usize), activation: Activation },
    Pool { padding: Padding, stride: (usize, usize), filter: (usize, usize), activation: Activation },
    Add { activation: Activation },
    Concat { axis: i32, activation: Activation },
    /// Where output pixel `o` samples its input: `o · s` with
    /// `align_corners` (s = (in − 1) / (out − 1)), `(o + ½) · s − ½` with
    /// `half_pixel_centers` (s = in / out), else `o · s`.
    Resize { align_corners: bool, half_pixel_centers: bool },
}

#[derive(Clone, Debug)]
pub struct Operator {
    pub kind: OpKind,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub options: Options,
}

/// One subgraph (BlazeFace has one) and the constant data it refers to.
pub struct Model {
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub buffers: Vec<Vec<u8>>,
}

impl Model {
    pub fn parse(file: &[u8]) -> Result<Self> {
        if file.len() < 8 || &file[4..8] != b"TFL3" {
            return bad("the file does not carry TFLite's \"TFL3\" identifier");
        }
        let model = Table::at(file, u32_at(file, 0)? as usize)?;
        // Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers.
        let codes = model
            .tables(1)?
            .iter()
            .map(|code| {
                // OperatorCode: 0 deprecated_builtin_code (i8), 3 builtin_code (i32);
                // newer writers fill both, older ones only the first.
                let old = code.u8(0, 0)? as i8 as i32;
                Ok(code.i32(3, 0)?.max(old))
            })
            .collect::<Result<Vec<i32>>>()?;
        let subgraphs = model.tables(2)?;
        let [graph] = subgraphs.as_slice() else {
            return bad(format!("{} subgraphs; the detector has exactly one", subgraphs.len()));
        };
        let buffers = model.tables(4)?.iter().map(|b| b.bytes(0).map(<[u8]>::to_vec)).collect::<Result<Vec<_>>>()?;

        // SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators.
        let tensors = graph
            .tables(0)?
            .iter()
            .map(|t| {
                // Tensor: 0 shape, 1 type, 2 buffer, 3 name.
                let name = t.string(3)?;
                let dtype = match t.u8(1, 0)? {
                    0 => DType::F32,
                    1 => DType::F16,
                    2 => DType::I32,
                    other => return bad(format!("tensor {name} has element type {other}, which the detector does not use")),
                };
                let shape = t.i32s(0)?.into_iter().map(|d| usize::try_from(d).or_else(|_| bad(format!("tensor {name} has a negative dimension")))).collect::<Result<_>>()?;
                let buffer = t.u32(2, 0)? as usize;
                if buffer >= buffers.len() {
                    return bad(format!("tensor {name} refers to buffer {buffer} of {}", buffers.len()));
                }
                Ok(Tensor { name, shape, dtype, buffer })
            })
            .collect::<Result<Vec<_>>>()?;
        let index = |list: Vec<i32>| -> Result<Vec<usize>> {
            list.into_iter()
                .map(|i| usize::try_from(i).ok().filter(|&i| i < tensors.len()).map_or_else(|| bad(format!("an operator refers to tensor {i} of {}", tensors.len())), Ok))
                .collect()
        };
        let operators = graph
            .tables(3)?
            .iter()
            .map(|op| {
                // Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 options type, 4 options.
                let code = *codes.get(op.u32(0, 0)? as usize).ok_or_else(|| TfliteError("an operator has no operator code".into()))?;
                let kind = OpKind::from_code(code).map_or_else(|| bad(format!("operator code {code} is not one the face models use")), Ok)?;
                let options = match op.table(4)? {
                    Some(o) => options(kind, &o)?,
                    None => Options::None,
                };
                Ok(Operator { kind, inputs: index(op.i32s(1)?)?, outputs: index(op.i32s(2)?)?, options })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { inputs: index(graph.i32s(1)?)?, outputs: index(graph.i32s(2)?)?, tensors, operators, buffers })
    }

    /// A constant tensor's values as f32 (f16 widened), or None for a
    /// tensor computed at run time.
    pub fn constant(&self, tensor: usize) -> Result<Option<Vec<f32>>> {
        let t = &self.tensors[tensor];
        let data = &self.buffers[t.buffer];
        if data.is_empty() {
            return Ok(None);
        }
        let Some(count) = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
            return bad(format!("tensor {} is impossibly large", t.name));
        };
        let width = match t.dtype {
            DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
        };
        if Some(data.len()) != count.checked_mul(width) {
            return bad(format!("tensor {} holds {} bytes for {count} values", t.name, data.len()));
        }
        Ok(Some(match t.dtype {
            DType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
            DType::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::I32 => data.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
        }))
    }
}

fn padding(code: u8) -> Result<Padding> {
    match code {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        other => bad(format!("padding mode {other}")),
    }
}

fn activation(code: u8) -> Result<Activation> {
    match code {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        other => bad(format!("fused activation {other} (only none and ReLU are supported)")),
    }
}

fn stride(o: &Table, w: usize, h: usize) -> Result<(usize, usize)> {
    let (sh, sw) = (o.i32(h, 1)?, o.i32(w, 1)?);
    if !(1..=8).contains(&sh) || !(1..=8).contains(&sw) {
        return bad(format!("stride {sh}x{sw}"));
    }
    Ok((sh as usize, sw as usize))
}

fn options(kind: OpKind, o: &Table) -> Result<Options> {
    Ok(match kind {
        // Conv2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 activation, 4/5 dilation.
        OpKind::Conv2d => {
            if o.i32(4, 1)? != 1 || o.i32(5, 1)? != 1 {
                return bad("dilated convolutions are not supported");
            }
            Options::Conv { padding: padding(o.u8(0, 0)?)?, stride: stride(o, 1, 2)?, activation: activation(o.u8(3, 0)?)? }
        }
        // DepthwiseConv2DOptions: 0 padding, 1 stride_w, 2 stride_h,
        // 3 depth_multiplier, 4 activation, 5/6 dilation.
        OpKind::DepthwiseConv2d => {
            if o.i32(3, 1)? != 1 || o.i32(5, 1)? != 1 || o.i32(6, 1)? != 1 {
                return bad("depthwise convolutions with a depth multiplier or dilation are not supported");
            }
            Options::Conv { padding: padding(o.u8(0, 0)?)?, stride: stride(o, 1, 2)?, activation: activation(o.u8(4, 0)?)? }
        }
        // Pool2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 filter_w, 4 filter_h, 5 activation.
        OpKind::MaxPool2d => {
            let filter = stride(o, 3, 4)?;
            Options::Pool { padding: padding(o.u8(0, 0)?)?, stride: stride(o, 1, 2)?, filter, activation: activation(o.u8(5, 0)?)? }
        }
        // AddOptions: 0 activation.
        OpKind::Add => Options::Add { activation: activation(o.u8(0, 0)?)? },
        // ConcatenationOptions: 0 axis, 1 activation.
        OpKind::Concatenation => Options::Concat { axis: o.i32(0, 0)?, activation: activation(o.u8(1, 0)?)? },
        // ResizeBilinearOptions: 0/1 new_height/width (deprecated: the
        // output's shape says), 2 align_corners, 3 half_pixel_centers.
        OpKind::ResizeBilinear => Options::Resize { align_corners: o.u8(2, 0)? != 0, half_pixel_centers: o.u8(3, 0)? != 0 },
        _ => Options::None,
    })
}
