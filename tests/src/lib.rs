//! Cross-crate tests: the deterministic consensus simulation (`sim`, issue #5) and the
//! multi-process scenarios on real `tokenbook-node` processes (issues #7 and #8).
//!
//! Status: crate created by the workspace issue (#2); the harnesses arrive with those issues.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The wire-protocol crate the harnesses drive.
pub use tokenbook_protocol as protocol;
