//! The gate in front of every inbound connection: unauthenticated handshakes are bounded per
//! remote IP and in total, except from the IPs of the configured validator peers.
//!
//! A connection is unauthenticated until its Noise handshake completes; until then anybody can
//! hold it open. One global budget of pending handshakes (what libp2p's `connection_limits`
//! offers) lets an outsider fill it and keep a restarted validator out of the network (issue
//! #16 found 0 peers for 40 s). Here a remote IP holds at most [`PENDING_PER_IP`] pending
//! handshakes and all untrusted IPs together at most [`PENDING_UNTRUSTED`]; the IPs named in the
//! node's peer addresses are never refused for pending handshakes (their connections are
//! still authenticated and checked against the member list after the handshake). Host names in
//! peer addresses are not resolved: list validators by IP for the exemption to apply.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol};
use libp2p::swarm::behaviour::{ConnectionEstablished, ListenFailure};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

/// Most pending inbound handshakes from one untrusted IP.
pub const PENDING_PER_IP: usize = 4;
/// Most pending inbound handshakes from all untrusted IPs together.
pub const PENDING_UNTRUSTED: usize = 64;

/// Why a pending connection was refused.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The gate (a libp2p behaviour with no protocol of its own).
#[derive(Debug, Default)]
pub struct Gate {
    trusted: BTreeSet<IpAddr>,
    /// Pending inbound connections of untrusted IPs.
    pending: BTreeMap<ConnectionId, IpAddr>,
    per_ip: BTreeMap<IpAddr, usize>,
}

/// The IP of an address, if it has one.
#[must_use]
pub fn ip_of(address: &Multiaddr) -> Option<IpAddr> {
    address.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl Gate {
    /// A gate that exempts the IPs of `peers` (the configured validator addresses).
    #[must_use]
    pub fn new(peers: &[Multiaddr]) -> Gate {
        Gate { trusted: peers.iter().filter_map(ip_of).collect(), ..Gate::default() }
    }

    /// Pending handshakes from untrusted IPs now.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn admit(&mut self, connection: ConnectionId, remote: &Multiaddr) -> Result<(), Refused> {
        let Some(ip) = ip_of(remote) else { return Ok(()) };
        if self.trusted.contains(&ip) {
            return Ok(());
        }
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= PENDING_PER_IP {
            return Err(Refused(format!("{from_ip} handshakes from {ip} already pending")));
        }
        if self.pending.len() >= PENDING_UNTRUSTED {
            return Err(Refused(format!("{} untrusted handshakes pending", self.pending.len())));
        }
        self.pending.insert(connection, ip);
        *self.per_ip.entry(ip).or_default() += 1;
        Ok(())
    }

    fn settled(&mut self, connection: ConnectionId) {
        let Some(ip) = self.pending.remove(&connection) else { return };
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(connection_id, remote).map_err(ConnectionDenied::new)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.settled(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.settled(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4000").parse().unwrap_or_else(|_| Multiaddr::empty())
    }

    #[test]
    fn an_outsider_cannot_fill_the_handshakes_a_validator_needs() {
        let mut gate = Gate::new(&[address("10.0.0.2")]);
        let outsider = address("10.0.0.9");
        let admitted =
            (0..100).filter(|&i| gate.admit(ConnectionId::new_unchecked(i), &outsider).is_ok());
        assert_eq!(admitted.count(), PENDING_PER_IP);
        // Many outsiders fill the untrusted budget, never the validators'.
        for i in 0..1_000u32 {
            let ip = format!("10.1.{}.{}", i / 250, i % 250);
            let _ = gate.admit(ConnectionId::new_unchecked(1_000 + i as usize), &address(&ip));
        }
        assert_eq!(gate.pending(), PENDING_UNTRUSTED);
        for i in 0..100 {
            let id = ConnectionId::new_unchecked(10_000 + i);
            assert!(gate.admit(id, &address("10.0.0.2")).is_ok());
        }
        // A finished handshake frees its slot.
        gate.settled(ConnectionId::new_unchecked(1_000));
        assert_eq!(gate.pending(), PENDING_UNTRUSTED - 1);
    }
}
