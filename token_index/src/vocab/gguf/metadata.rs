//! A small reader for the metadata section of a GGUF file.
//!
//! Layout (little-endian, versions 2 and 3):
//!
//! ```text
//! magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count × ( key: string | value_type u32 | value )
//! string = len u64 | len bytes (UTF-8)
//! array  = element_type u32 | count u64 | count × element
//! ```
//!
//! followed by the tensor infos and the tensor data, which this reader never
//! touches. Every length read from the file is checked against the bytes
//! the file still has before anything is allocated, so a corrupt or hostile
//! file gives an error naming the offset, never a panic or a huge
//! allocation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::vocab::VocabError;

/// Arrays nest (an array of arrays is legal); real files nest at most once.
/// The cap keeps a crafted file from recursing the stack away.
const MAX_ARRAY_DEPTH: u32 = 4;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    /// GGUF strings should be UTF-8; token texts are kept as bytes and
    /// checked where they are used, so one odd token names itself.
    String(Vec<u8>),
    Array(Vec<Value>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "uint8",
            Value::I8(_) => "int8",
            Value::U16(_) => "uint16",
            Value::I16(_) => "int16",
            Value::U32(_) => "uint32",
            Value::I32(_) => "int32",
            Value::U64(_) => "uint64",
            Value::I64(_) => "int64",
            Value::F32(_) => "float32",
            Value::F64(_) => "float64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// The value as a non-negative integer, whatever its integer type.
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, whatever its integer type.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    pub(crate) fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            // Scores stored as float64 lose nothing that matters for ranks.
            Value::F64(v) => Some(v as f32),
            _ => None,
        }
    }
}

/// The metadata of one GGUF file.
#[derive(Debug)]
pub(crate) struct Metadata {
    path: PathBuf,
    values: HashMap<String, Value>,
}

impl Metadata {
    /// Reads the metadata of the GGUF file at `path`.
    pub(crate) fn read_file(path: &Path) -> Result<Metadata, VocabError> {
        let io_error = |source| VocabError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        Self::read(BufReader::with_capacity(1 << 16, file), len, path)
    }

    /// Reads metadata from `reader`, which holds a GGUF file of `len`
    /// bytes; `path` names it in errors.
    pub(crate) fn read(reader: impl Read, len: u64, path: &Path) -> Result<Metadata, VocabError> {
        let mut cursor = Cursor { reader, offset: 0, len, path };
        let magic: [u8; 4] = cursor.array("the magic bytes \"GGUF\"")?;
        if &magic != b"GGUF" {
            return Err(cursor
                .corrupt(0, format!("the file does not start with \"GGUF\" (found {magic:02x?}): not a GGUF file")));
        }
        let version = cursor.u32("the GGUF version (u32)")?;
        if !(2..=3).contains(&version) {
            let hint = if version.swap_bytes() <= 3 {
                " (this looks like a big-endian file; only little-endian GGUF is read)"
            } else {
                ""
            };
            return Err(
                cursor.corrupt(4, format!("unsupported GGUF version {version}: versions 2 and 3 are read{hint}"))
            );
        }
        // The tensor infos follow the metadata; only the count is in the
        // header, and it is not needed here.
        let _tensor_count = cursor.u64("the tensor count (u64)")?;
        let kv_offset = cursor.offset;
        let kv_count = cursor.u64("the metadata key/value count (u64)")?;
        // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes.
        cursor.check_count(kv_offset, kv_count, 13, "metadata key/value pairs")?;

        let mut values = HashMap::new();
        for index in 0..kv_count {
            let key_offset = cursor.offset;
            let key_bytes = cursor.string(&format!("the key of metadata entry {index}"))?;
            let key = String::from_utf8(key_bytes)
                .map_err(|_| cursor.corrupt(key_offset, format!("the key of metadata entry {index} is not UTF-8")))?;
            let type_offset = cursor.offset;
            let value_type = cursor.u32(&format!("the value type of `{key}` (u32)"))?;
            let value = cursor.value(value_type, type_offset, &key, 0)?;
            if values.insert(key.clone(), value).is_some() {
                return Err(cursor.corrupt(key_offset, format!("key `{key}` appears twice")));
            }
        }
        Ok(Metadata { path: path.to_path_buf(), values })
    }

    /// The raw value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    fn bad_value(&self, key: &str, reason: String) -> VocabError {
        VocabError::GgufBadValue { path: self.path.clone(), key: key.to_string(), reason }
    }

    fn missing(&self, key: &str) -> VocabError {
        VocabError::GgufMissingKey { path: self.path.clone(), key: key.to_string() }
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> VocabError {
        self.bad_value(key, format!("expected {expected}, found {}", found.type_name()))
    }

    /// The string value of `key`, if present.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&str>, VocabError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(bytes)) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| self.bad_value(key, "the string is not UTF-8".to_string())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// The string value of `key`, which must be present.
    pub(crate) fn required_str(&self, key: &str) -> Result<&str, VocabError> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// The non-negative integer value of `key` (any integer type), if present.
    pub(crate) fn u64(&self, key: &str) -> Result<Option<u64>, VocabError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                value.as_u64().map(Some).ok_or_else(|| self.wrong_type(key, "a non-negative integer", value))
            }
        }
    }

    /// The boolean value of `key`, if present.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, VocabError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "a bool", other)),
        }
    }

    /// The elements of the array value of `key`, which must be present.
    pub(crate) fn required_array(&self, key: &str) -> Result<&[Value], VocabError> {
        self.array(key)?.ok_or_else(|| self.missing(key))
    }

    /// The elements of the array value of `key`, if present.
    pub(crate) fn array(&self, key: &str) -> Result<Option<&[Value]>, VocabError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong_type(key, "an array", other)),
        }
    }

    /// The array of strings of `key`, which must be present, as byte strings.
    pub(crate) fn required_string_array(&self, key: &str) -> Result<Vec<&[u8]>, VocabError> {
        self.required_array(key)?
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(bytes) => Ok(bytes.as_slice()),
                other => {
                    Err(self.bad_value(key, format!("element {index} should be a string, found {}", other.type_name())))
                }
            })
            .collect()
    }

    /// Builds the error for element `index` of array `key`.
    pub(crate) fn bad_element(&self, key: &str, index: usize, reason: &str) -> VocabError {
        self.bad_value(key, format!("element {index}: {reason}"))
    }

    /// Builds an error about the value of `key`.
    pub(crate) fn bad(&self, key: &str, reason: String) -> VocabError {
        self.bad_value(key, reason)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A reader that knows its offset and how many bytes the file has left.
struct Cursor<'p, R> {
    reader: R,
    offset: u64,
    len: u64,
    path: &'p Path,
}

impl<R: Read> Cursor<'_, R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    fn truncated(&self, expected: &str) -> VocabError {
        VocabError::GgufTruncated { path: self.path.to_path_buf(), offset: self.offset, expected: expected.to_string() }
    }

    fn corrupt(&self, offset: u64, reason: String) -> VocabError {
        VocabError::GgufCorrupt { path: self.path.to_path_buf(), offset, reason }
    }

    fn fill(&mut self, buf: &mut [u8], expected: &str) -> Result<(), VocabError> {
        if (buf.len() as u64) > self.remaining() {
            return Err(self.truncated(expected));
        }
        self.reader.read_exact(buf).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                self.truncated(expected)
            } else {
                VocabError::Io { path: self.path.to_path_buf(), source }
            }
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self, expected: &str) -> Result<[u8; N], VocabError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, expected)?;
        Ok(buf)
    }

    fn u32(&mut self, expected: &str) -> Result<u32, VocabError> {
        Ok(u32::from_le_bytes(self.array(expected)?))
    }

    fn u64(&mut self, expected: &str) -> Result<u64, VocabError> {
        Ok(u64::from_le_bytes(self.array(expected)?))
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit in
    /// what is left of the file, before anything is allocated for them.
    fn check_count(&self, at: u64, count: u64, min_size: u64, what: &str) -> Result<(), VocabError> {
        match count.checked_mul(min_size) {
            Some(needed) if needed <= self.remaining() => Ok(()),
            _ => Err(self
                .corrupt(at, format!("{count} {what} cannot fit in the {} bytes left in the file", self.remaining()))),
        }
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, VocabError> {
        let at = self.offset;
        let len = self.u64(&format!("the length of {what} (u64)"))?;
        if len > self.remaining() {
            return Err(self
                .corrupt(at, format!("{what} claims {len} bytes but only {} are left in the file", self.remaining())));
        }
        // `len` is at most the file size here, so this allocation is bounded.
        let mut bytes = vec![0u8; len as usize];
        self.fill(&mut bytes, what)?;
        Ok(bytes)
    }

    /// The smallest encoding of a value of `value_type`, for length checks.
    fn min_size(value_type: u32) -> u64 {
        match value_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 => 8,
            9 => 12,
            _ => 8,
        }
    }

    fn value(&mut self, value_type: u32, type_offset: u64, key: &str, depth: u32) -> Result<Value, VocabError> {
        let what = |ty: &str| format!("the {ty} value of `{key}`");
        Ok(match value_type {
            0 => Value::U8(u8::from_le_bytes(self.array(&what("uint8"))?)),
            1 => Value::I8(i8::from_le_bytes(self.array(&what("int8"))?)),
            2 => Value::U16(u16::from_le_bytes(self.array(&what("uint16"))?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what("int16"))?)),
            4 => Value::U32(u32::from_le_bytes(self.array(&what("uint32"))?)),
            5 => Value::I32(i32::from_le_bytes(self.array(&what("int32"))?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what("float32"))?)),
            7 => {
                let at = self.offset;
                match self.array::<1>(&what("bool"))? {
                    [0] => Value::Bool(false),
                    [1] => Value::Bool(true),
                    [b] => {
                        return Err(self.corrupt(at, format!("bool value of `{key}` is {b}, not 0 or 1")));
                    }
                }
            }
            8 => Value::String(self.string(&format!("the string value of `{key}`"))?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self
                        .corrupt(type_offset, format!("arrays in `{key}` nest deeper than {MAX_ARRAY_DEPTH} levels")));
                }
                let element_offset = self.offset;
                let element_type = self.u32(&format!("the element type of array `{key}` (u32)"))?;
                if element_type > 12 {
                    return Err(
                        self.corrupt(element_offset, format!("array `{key}` has unknown element type {element_type}"))
                    );
                }
                let count_offset = self.offset;
                let count = self.u64(&format!("the length of array `{key}` (u64)"))?;
                self.check_count(
                    count_offset,
                    count,
                    Self::min_size(element_type),
                    &format!("elements of array `{key}`"),
                )?;
                // Bounded by the file size through `check_count`.
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(element_type, element_offset, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(u64::from_le_bytes(self.array(&what("uint64"))?)),
            11 => Value::I64(i64::from_le_bytes(self.array(&what("int64"))?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what("float64"))?)),
            other => {
                return Err(self.corrupt(type_offset, format!("`{key}` has unknown value type {other}")));
            }
        })
    }
}

/// Writes GGUF metadata, for tests that need small or broken files.
#[cfg(test)]
pub(crate) mod writer {
    /// A value to write.
    pub(crate) enum W<'a> {
        U32(u32),
        I32(i32),
        Bool(bool),
        Str(&'a str),
        StrArray(Vec<&'a str>),
        I32Array(Vec<i32>),
        F32Array(Vec<f32>),
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A GGUF v3 file holding `kvs` and no tensors.
    pub(crate) fn gguf(kvs: &[(&str, W<'_>)]) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        for (key, value) in kvs {
            string(&mut out, key);
            match value {
                W::U32(v) => {
                    out.extend_from_slice(&4u32.to_le_bytes());
                    out.extend_from_slice(&v.to_le_bytes());
                }
                W::I32(v) => {
                    out.extend_from_slice(&5u32.to_le_bytes());
                    out.extend_from_slice(&v.to_le_bytes());
                }
                W::Bool(v) => {
                    out.extend_from_slice(&7u32.to_le_bytes());
                    out.push(u8::from(*v));
                }
                W::Str(s) => {
                    out.extend_from_slice(&8u32.to_le_bytes());
                    string(&mut out, s);
                }
                W::StrArray(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&8u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for s in items {
                        string(&mut out, s);
                    }
                }
                W::I32Array(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&5u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for v in items {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                W::F32Array(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&6u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for v in items {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::writer::{W, gguf};
    use super::*;

    fn read(bytes: &[u8]) -> Result<Metadata, VocabError> {
        Metadata::read(bytes, bytes.len() as u64, Path::new("test.gguf"))
    }

    fn sample() -> Vec<u8> {
        gguf(&[
            ("general.architecture", W::Str("llama")),
            ("answer", W::U32(42)),
            ("negative", W::I32(-1)),
            ("flag", W::Bool(true)),
            ("tokens", W::StrArray(vec!["a", "bc", ""])),
            ("types", W::I32Array(vec![1, 3, 6])),
        ])
    }

    #[test]
    fn reads_typed_values() {
        let meta = read(&sample()).expect("valid file");
        assert_eq!(meta.required_str("general.architecture").ok(), Some("llama"));
        assert_eq!(meta.u64("answer").ok(), Some(Some(42)));
        assert_eq!(meta.bool("flag").ok(), Some(Some(true)));
        assert_eq!(meta.u64("missing").ok(), Some(None));
        let tokens = meta.required_string_array("tokens").expect("strings");
        assert_eq!(tokens, vec![&b"a"[..], b"bc", b""]);
        assert_eq!(meta.required_array("types").map(|a| a.len()).ok(), Some(3));
        // Wrong types and missing keys name the key.
        let err = meta.u64("negative").unwrap_err();
        assert!(err.to_string().contains("`negative`"), "{err}");
        let err = meta.required_str("answer").unwrap_err();
        assert!(err.to_string().contains("expected a string, found uint32"), "{err}");
        let err = meta.required_array("nope").unwrap_err();
        assert!(matches!(err, VocabError::GgufMissingKey { .. }), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let err = read(&bytes[..cut]).expect_err("truncated file must fail");
            let message = err.to_string();
            assert!(
                matches!(err, VocabError::GgufTruncated { .. } | VocabError::GgufCorrupt { .. }),
                "cut at {cut}: {message}"
            );
            assert!(message.contains("byte offset"), "cut at {cut}: {message}");
        }
    }

    #[test]
    fn truncation_names_offset_and_expectation() {
        let bytes = sample();
        let err = read(&bytes[..10]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.gguf: GGUF file is truncated: at byte offset 8 expected the tensor count (u64)"
        );
    }

    #[test]
    fn bad_magic_and_version() {
        let err = read(b"GGML\x03\0\0\0").unwrap_err();
        assert!(err.to_string().contains("not a GGUF file"), "{err}");
        let mut bytes = sample();
        bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("unsupported GGUF version 1"), "{err}");
        bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("big-endian"), "{err}");
    }

    #[test]
    fn huge_lengths_are_rejected_before_allocation() {
        // kv_count = u64::MAX
        let mut bytes = sample();
        bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(matches!(err, VocabError::GgufCorrupt { offset: 16, .. }), "{err}");

        // The first key's length claims 2^62 bytes.
        let mut bytes = sample();
        bytes[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("claims 4611686018427387904 bytes"), "{err}");

        // An array whose count claims more elements than bytes remain.
        let mut bytes = gguf(&[("tokens", W::StrArray(vec!["a"]))]);
        let count_at = 24 + 8 + "tokens".len() + 4 + 4;
        bytes[count_at..count_at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(matches!(err, VocabError::GgufCorrupt { offset, .. } if offset == count_at as u64), "{err}");
    }

    #[test]
    fn unknown_types_duplicate_keys_and_bad_bools() {
        let mut bytes = gguf(&[("k", W::U32(1))]);
        let type_at = 24 + 8 + 1;
        bytes[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("unknown value type 99"), "{err}");

        let bytes = gguf(&[("k", W::U32(1)), ("k", W::U32(2))]);
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");

        let mut bytes = gguf(&[("b", W::Bool(true))]);
        let last = bytes.len() - 1;
        bytes[last] = 7;
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("not 0 or 1"), "{err}");
    }

    #[test]
    fn deeply_nested_arrays_are_rejected() {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.push(b'n');
        bytes.extend_from_slice(&9u32.to_le_bytes());
        // Array of arrays of arrays … each with one element.
        for _ in 0..100 {
            bytes.extend_from_slice(&9u32.to_le_bytes());
            bytes.extend_from_slice(&1u64.to_le_bytes());
        }
        bytes.extend_from_slice(&[0u8; 64]);
        let err = read(&bytes).unwrap_err();
        assert!(err.to_string().contains("nest deeper"), "{err}");
    }
}
