//! The one canonical binary encoding (docs/wire-format.md, docs/adr/0001-canonical-encoding.md).
//!
//! Layout: bincode 2.0.1 with fixed-width little-endian integers. Structs are their fields in
//! order; enums a `u32` variant index then the variant's fields; `Option` a `u8` 0/1 tag; `bool`
//! one byte 0/1; `Vec`/`String` a `u64` length then the items; fixed arrays their bytes.
//!
//! Promises of [`decode`]:
//! - input longer than the kind's [`Wire::MAX_BYTES`] is refused before any decoding;
//! - memory claimed while decoding is bounded by [`ALLOC_FACTOR`]` × MAX_BYTES`, so a `u64::MAX`
//!   length prefix fails without allocating;
//! - trailing bytes after the value are refused (bincode accepts them silently: we check the
//!   consumed length);
//! - unknown enum tags, bools other than 0/1, `Option` tags other than 0/1 and invalid UTF-8 are
//!   refused;
//! - the value passes its kind's shape check ([`Wire::check_shape`]: string lengths, counts).
//!
//! Because the encoding has no variable-length integers and every tag has exactly one valid form,
//! `encode(decode(b)) == b` for every accepted `b`: one value, one byte string, one hash.

use crate::hash::Hash;
use bincode::config::{self, Configuration, Fixint, LittleEndian, NoLimit};

/// How many bytes of memory decoding may claim per byte of the kind's size limit. bincode
/// counts a container's in-memory size (`len × size_of::<T>()`) against its limit, which for
/// our types is at most a few times the encoded size.
pub const ALLOC_FACTOR: usize = 8;

/// The encoder's configuration (encoding needs no limit; values are built locally).
pub(crate) const ENCODE_CONFIG: Configuration<LittleEndian, Fixint, NoLimit> =
    config::standard().with_fixed_int_encoding();

/// A message kind with its size limit and shape rules.
pub trait Wire: bincode::Encode + Sized {
    /// Human name of the kind, used in errors ("tx", "vote", ...).
    const KIND: &'static str;
    /// Largest accepted encoding in bytes.
    const MAX_BYTES: usize;

    /// Decodes one value with this kind's allocation limit; returns it and the bytes consumed.
    /// Implemented by [`wire_kind!`]; call [`decode`] instead.
    ///
    /// # Errors
    /// Any bincode decode error.
    fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), bincode::error::DecodeError>;

    /// Structural rules the type system cannot express (string lengths, list counts).
    ///
    /// # Errors
    /// A human-readable description of the first violated rule.
    fn check_shape(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Implements [`Wire`] for a type with a literal size limit, so the bincode limit is a constant.
macro_rules! wire_kind {
    ($ty:ty, $kind:literal, $max:expr) => {
        wire_kind!($ty, $kind, $max, |_v: &$ty| Ok(()));
    };
    ($ty:ty, $kind:literal, $max:expr, $shape:expr) => {
        impl $crate::codec::Wire for $ty {
            const KIND: &'static str = $kind;
            const MAX_BYTES: usize = $max;

            fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), bincode::error::DecodeError> {
                const LIMIT: usize = $max * $crate::codec::ALLOC_FACTOR;
                let config =
                    bincode::config::standard().with_fixed_int_encoding().with_limit::<LIMIT>();
                bincode::decode_from_slice(bytes, config)
            }

            fn check_shape(&self) -> Result<(), String> {
                let check: fn(&$ty) -> Result<(), String> = $shape;
                check(self)
            }
        }
    };
}
pub(crate) use wire_kind;

/// Why a byte string was not accepted as a message. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Input longer than the kind's limit.
    #[error("{kind} is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Message kind.
        kind: &'static str,
        /// Input length.
        len: usize,
        /// Limit for the kind.
        max: usize,
    },
    /// Input ended before the value did.
    #[error("{kind} is truncated")]
    Truncated {
        /// Message kind.
        kind: &'static str,
    },
    /// Bytes left over after a complete value.
    #[error("{kind} has {extra} trailing bytes after a complete value")]
    TrailingBytes {
        /// Message kind.
        kind: &'static str,
        /// Number of unread bytes.
        extra: usize,
    },
    /// A length prefix or container claims more memory than the kind allows.
    #[error("{kind} declares a length beyond its limit")]
    LengthLimit {
        /// Message kind.
        kind: &'static str,
    },
    /// An enum variant index that does not exist.
    #[error("{kind} has an unknown variant tag: {detail}")]
    BadTag {
        /// Message kind.
        kind: &'static str,
        /// Which type and tag.
        detail: String,
    },
    /// A bool byte other than 0 or 1.
    #[error("{kind} has a bool byte other than 0 or 1")]
    BadBool {
        /// Message kind.
        kind: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("{kind} has a string that is not UTF-8")]
    BadUtf8 {
        /// Message kind.
        kind: &'static str,
    },
    /// Decoded, but breaks a structural rule.
    #[error("{kind} is malformed: {detail}")]
    Shape {
        /// Message kind.
        kind: &'static str,
        /// The rule broken.
        detail: String,
    },
    /// Any other decode failure.
    #[error("{kind} could not be decoded: {detail}")]
    Other {
        /// Message kind.
        kind: &'static str,
        /// bincode's description.
        detail: String,
    },
}

impl CodecError {
    /// Stable machine-readable code (API error bodies carry it).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "decode_too_large",
            Self::Truncated { .. } => "decode_truncated",
            Self::TrailingBytes { .. } => "decode_trailing_bytes",
            Self::LengthLimit { .. } => "decode_length_limit",
            Self::BadTag { .. } => "decode_bad_tag",
            Self::BadBool { .. } => "decode_bad_bool",
            Self::BadUtf8 { .. } => "decode_bad_utf8",
            Self::Shape { .. } => "decode_malformed",
            Self::Other { .. } => "decode_error",
        }
    }

    fn from_bincode(kind: &'static str, err: bincode::error::DecodeError) -> Self {
        use bincode::error::DecodeError as E;
        match err {
            E::UnexpectedEnd { .. } => Self::Truncated { kind },
            E::LimitExceeded => Self::LengthLimit { kind },
            E::UnexpectedVariant { type_name, found, .. } => {
                Self::BadTag { kind, detail: format!("{type_name} tag {found}") }
            }
            E::InvalidBooleanValue(_) => Self::BadBool { kind },
            E::Utf8 { .. } => Self::BadUtf8 { kind },
            other => Self::Other { kind, detail: other.to_string() },
        }
    }
}

/// Encodes a value canonically.
#[must_use]
pub fn encode<T: bincode::Encode>(value: &T) -> Vec<u8> {
    // Encoding into a Vec fails only if an Encode impl reports an error, and ours never do.
    match bincode::encode_to_vec(value, ENCODE_CONFIG) {
        Ok(bytes) => bytes,
        Err(err) => unreachable!("encoding into a Vec cannot fail: {err}"),
    }
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into<T: bincode::Encode>(value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode(value));
}

/// Decodes exactly one value of kind `T` from `bytes` (see the module docs for what is refused).
///
/// # Errors
/// A [`CodecError`] naming the first problem found.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > T::MAX_BYTES {
        return Err(CodecError::TooLarge { kind: T::KIND, len: bytes.len(), max: T::MAX_BYTES });
    }
    let (value, consumed) =
        T::decode_prefix(bytes).map_err(|e| CodecError::from_bincode(T::KIND, e))?;
    if consumed != bytes.len() {
        return Err(CodecError::TrailingBytes { kind: T::KIND, extra: bytes.len() - consumed });
    }
    value.check_shape().map_err(|detail| CodecError::Shape { kind: T::KIND, detail })?;
    Ok(value)
}

/// Largest stored record (a state value) in bytes; also bounds what decoding one may allocate.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Decodes exactly one stored record (a state value the ledger wrote to its store): the same
/// layout, refusing trailing bytes, with allocation bounded by [`MAX_RECORD_BYTES`] so a corrupted
/// store fails cleanly.
///
/// # Errors
/// A [`CodecError`] of kind "record".
pub fn decode_record<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    const KIND: &str = "record";
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(CodecError::TooLarge { kind: KIND, len: bytes.len(), max: MAX_RECORD_BYTES });
    }
    let config = config::standard().with_fixed_int_encoding().with_limit::<MAX_RECORD_BYTES>();
    let (value, used) =
        bincode::decode_from_slice(bytes, config).map_err(|e| CodecError::from_bincode(KIND, e))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes { kind: KIND, extra: bytes.len() - used });
    }
    Ok(value)
}

/// SHA-256 of the canonical encoding.
#[must_use]
pub fn hash_of<T: bincode::Encode>(value: &T) -> Hash {
    Hash::digest(&encode(value))
}
