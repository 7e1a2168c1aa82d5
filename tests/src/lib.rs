//! Cross-crate tests: the deterministic consensus simulation ([`sim`], binary `sim`, issue #5)
//! and, with issues #7 and #8, the multi-process scenarios on real `tokenbook-node` processes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod procs;
pub mod sim;

/// The wire-protocol crate the harnesses drive.
pub use tokenbook_protocol as protocol;
