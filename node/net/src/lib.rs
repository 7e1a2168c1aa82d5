//! Validator networking: the messages validators exchange, with one bounded canonical codec
//! ([`Message`]), and the libp2p transport ([`Libp2pNet`]) permissioned to the validators in
//! genesis. The transport moves bytes between members named by index; it knows no ledger and no
//! consensus, and the daemon knows no libp2p type.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

pub mod gate;
mod swarm;

/// libp2p address types the node's config names.
pub use libp2p::{Multiaddr, PeerId, multiaddr};
pub use swarm::{
    DIAL_TIMEOUT, Lane, Libp2pNet, NetConfig, NetError, NetStats, Peer, SILENCE_RELINK,
    SUBSCRIBE_GRACE, UNACKED_CLOSE, peer_id,
};

/// The wire-protocol crate this crate builds on.
pub use tokenbook_protocol as protocol;
/// The messages validators exchange (defined with the wire format).
pub use tokenbook_protocol::message::{MAX_MESSAGE_BYTES, MAX_TX_BATCH, Message};
