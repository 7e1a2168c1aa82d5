//! tokenbook's wire protocol: identifiers and quantities, every transaction kind, consensus
//! messages, the one canonical encoding, SHA-256 hashing and ed25519 signing.
//!
//! What this crate promises:
//! - **One encoding** ([`codec`]): every value has exactly one byte string; decoding refuses
//!   oversized input, trailing bytes, unknown tags, non-canonical bools and over-long length
//!   prefixes, without allocating beyond a per-kind bound. docs/wire-format.md documents the
//!   bytes; tests read its vectors, and `tests/fixtures/formats.txt` freezes every type's layout.
//! - **One signature rule** ([`crypto`]): strict ed25519 with domain tags and chain id; batch and
//!   single verification share the same pre-checks (docs/adr/0002-signature-validity.md).
//! - **No state, no clock, no randomness**: this crate is pure data and functions over it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod block;
pub mod codec;
pub mod crypto;
pub mod hash;
pub mod ids;
pub mod message;
pub mod nonce;
pub mod order;
pub mod tx;

pub use admin::*;
pub use block::*;
pub use codec::{CodecError, Wire, decode, encode};
pub use crypto::{Domain, Keypair, PublicKey, SigError, Signature, VerifiedKey};
pub use hash::Hash;
pub use ids::*;
pub use nonce::{BlockNonces, NonceError, NonceWindow};
pub use order::*;
pub use tx::*;
