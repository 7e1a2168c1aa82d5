//! tokenbook-consensus's integration tests: one per rule of Algorithm 1 (the `// Lnn` the test
//! names), the vote keeper, double-sign protection, and the certificate verifier.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod harness;
mod keeper;
mod pace;
mod rules;
mod safety;
mod signer;
