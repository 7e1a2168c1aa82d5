//! The libp2p transport: TCP + Noise + Yamux (dead links closed and redialed,
//! [`UNACKED_CLOSE`]), gossipsub for what every validator needs, request-response for what one
//! peer needs, permissioned to the chain's members.
//!
//! Promises:
//! - Only the peers named at start (the genesis validators' network keys) can hold a connection:
//!   any other `PeerId` is refused after the Noise handshake (which proves the key), and
//!   unauthenticated connection attempts are bounded in number.
//! - Every frame is size-checked before it is buffered: gossip by gossipsub's
//!   `max_transmit_size`, direct messages by a length prefix checked before allocation.
//! - One task owns the swarm and never blocks: inbound messages go to a queue bounded in count
//!   and bytes and are dropped (and counted) when the node falls behind, never waited on;
//! - Two lanes: consensus messages (proposals, votes, direct messages) and bulk ones (gossiped
//!   tx batches) travel on their own gossip topics into their own inbound queues, and the node
//!   always takes a waiting consensus message first, so a tx backlog never delays a vote;
//!   outbound commands are queued bounded by count (what the node sends is bounded by the node:
//!   sync replies by bytes per request and requests per peer).
//! - Gossip is one hop: a message is delivered as sent by the connected peer that sent it (the
//!   Noise-authenticated link, never a claimed author), and nothing received is forwarded, so a
//!   penalty for what a message holds always lands on the peer that sent it. Gossip carries no
//!   libp2p signature: everything sent on it is signed by its author inside.
//! - A peer the node penalizes is disconnected and refused for the ban period, then allowed
//!   again. Peers are named by their index in the member list, never by libp2p types, so the
//!   daemon does not depend on libp2p.

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, gossipsub,
    identity, multiaddr, noise, request_response, tcp, yamux,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokenbook_protocol::PublicKey;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::MAX_MESSAGE_BYTES;

/// A peer: its index in [`NetConfig::members`].
pub type Peer = u64;

/// A connection whose sent data stays unacknowledged this long is closed by the kernel
/// (`TCP_USER_TIMEOUT`), and the peer redialed. Without it a link that was cut for a few
/// seconds stays silent after it heals until TCP's next retransmission, whose interval doubles
/// with every loss: 13 s after a 12 s cut (seen in issue #17's faults harness), up to minutes.
pub const UNACKED_CLOSE: Duration = Duration::from_secs(6);
/// A dial or handshake that has not completed in this long is abandoned (the next redial
/// starts afresh instead of waiting out SYN retransmissions that back off the same way).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A member connected this long whose subscription gossip has not learned gets none of this
/// node's gossip (gossipsub announces a node's topics only on a peer's first connection, and a
/// hello lost with a half-dead connection is never sent again): the link is dropped and
/// redialed, and both sides announce their topics afresh.
pub const SUBSCRIBE_GRACE: Duration = Duration::from_secs(3);

/// A validator's link that has delivered no message for this long is dropped and redialed. A
/// live validator re-sends its votes every half second (the driver's gossip timer), so only a
/// dead link, a stopped process or a broken gossip stream is this quiet: issue #17's soak saw
/// connections that stayed open across partitions but carried no gossip either way (nothing
/// unacknowledged, so [`UNACKED_CLOSE`] never fired, and the subscriptions were known, so
/// [`SUBSCRIBE_GRACE`] did not either), leaving a validator deaf for 57 s after a heal.
pub const SILENCE_RELINK: Duration = Duration::from_secs(5);

/// Gossipsub's envelope around our bytes (protobuf framing, signature, source, sequence number).
const GOSSIP_OVERHEAD: usize = 4_096;
/// Queue depth between the swarm task and the node, each way.
const QUEUE: usize = 8_192;
/// Most bytes of inbound messages waiting for the node (beyond it, messages are dropped).
const MAX_INBOUND_BYTES: usize = 256 << 20;
/// The direct-message protocol.
const DIRECT_PROTOCOL: &str = "/tokenbook/direct/1";

/// How to run the transport.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Chain id (names the gossip topic, so two chains never mix).
    pub chain_id: String,
    /// This node's network key (ed25519 seed).
    pub key_seed: [u8; 32],
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/26656`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial: addresses ending in `/p2p/<PeerId>`.
    pub dial: Vec<Multiaddr>,
    /// The network keys allowed to connect; a peer's [`Peer`] is its index here.
    pub members: Vec<PublicKey>,
    /// Keys allowed whatever [`Libp2pNet::set_members`] says (operators' `allow_extra`).
    pub always: Vec<PublicKey>,
    /// How often to redial peers that are not connected.
    pub redial: Duration,
    /// How long a penalized peer is refused.
    pub ban: Duration,
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A key that is not a valid ed25519 key.
    #[error("bad network key: {0}")]
    Key(String),
    /// A bad listen or dial address, or one that could not be bound.
    #[error("address {address}: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The swarm could not be built.
    #[error("transport: {0}")]
    Transport(String),
}

/// The `PeerId` of a network key.
///
/// # Errors
/// [`NetError::Key`] if the bytes are not an ed25519 public key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NetError> {
    let key = identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| NetError::Key(e.to_string()))?;
    Ok(identity::PublicKey::from(key).to_peer_id())
}

/// Counters the transport keeps (read by metrics and status).
#[derive(Debug, Default)]
pub struct NetStats {
    /// Peers connected now.
    pub peers: AtomicU64,
    /// Inbound messages dropped because the node was behind.
    pub dropped_inbound: AtomicU64,
    /// Outbound messages dropped (queue full, or nobody to send to).
    pub dropped_outbound: AtomicU64,
    /// Peers disconnected for misbehaving.
    pub penalties: AtomicU64,
    /// Connections refused (not a member, banned, or over the limits).
    pub refused: AtomicU64,
    /// Members disconnected (to be redialed) because gossip never learned their subscription,
    /// they redialed over an open connection, or their link went silent.
    pub relinked: AtomicU64,
}

enum Command {
    Broadcast(Lane, Vec<u8>),
    Send(Peer, Vec<u8>),
    Penalize(Peer, String),
    SetMembers(Vec<PublicKey>),
}

/// Which gossip topic and inbound queue a message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Proposals, votes and direct messages: taken first.
    Consensus,
    /// Gossiped tx batches: taken when no consensus message waits.
    Bulk,
}

/// The running transport, as the node sees it.
#[derive(Debug)]
pub struct Libp2pNet {
    commands: mpsc::Sender<Command>,
    inbound: mpsc::Receiver<(Peer, Vec<u8>)>,
    bulk: mpsc::Receiver<(Peer, Vec<u8>)>,
    inbound_bytes: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<NetStats>,
    listening: watch::Receiver<Vec<Multiaddr>>,
    me: PeerId,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Broadcast(lane, b) => write!(f, "Broadcast({lane:?}, {} bytes)", b.len()),
            Command::Send(p, b) => write!(f, "Send({p}, {} bytes)", b.len()),
            Command::Penalize(p, why) => write!(f, "Penalize({p}, {why})"),
            Command::SetMembers(keys) => write!(f, "SetMembers({} keys)", keys.len()),
        }
    }
}

impl Libp2pNet {
    /// Builds the swarm, starts listening and dialing, and spawns its task on the current tokio
    /// runtime. The task ends when `shutdown` changes or the returned value is dropped.
    ///
    /// # Errors
    /// [`NetError`]: bad key or address, or a listen address that cannot be bound.
    pub fn start(config: NetConfig, shutdown: watch::Receiver<bool>) -> Result<Self, NetError> {
        let members = config.members.iter().map(peer_id).collect::<Result<Vec<_>, _>>()?;
        let mut swarm = build_swarm(&config, &members)?;
        for address in &config.listen {
            swarm.listen_on(address.clone()).map_err(|e| NetError::Address {
                address: address.to_string(),
                reason: e.to_string(),
            })?;
        }
        let dial = dial_targets(&config.dial)?;
        let topic =
            gossipsub::IdentTopic::new(format!("/tokenbook/{}/consensus/1", config.chain_id));
        let bulk_topic =
            gossipsub::IdentTopic::new(format!("/tokenbook/{}/txs/1", config.chain_id));
        for topic in [&topic, &bulk_topic] {
            swarm
                .behaviour_mut()
                .gossip
                .subscribe(topic)
                .map_err(|e| NetError::Transport(e.to_string()))?;
        }
        let (commands, commands_rx) = mpsc::channel(QUEUE);
        let (inbound_tx, inbound) = mpsc::channel(QUEUE);
        let (bulk_tx, bulk) = mpsc::channel(QUEUE);
        let (listening_tx, listening) = watch::channel(Vec::new());
        let stats = Arc::new(NetStats::default());
        let inbound_bytes = Arc::new(AtomicUsize::new(0));
        let me = *swarm.local_peer_id();
        let always: BTreeSet<PeerId> =
            config.always.iter().filter_map(|k| peer_id(k).ok()).collect();
        let members_at_start = members.iter().filter(|id| !always.contains(id)).copied().collect();
        let task = Task {
            swarm,
            topic,
            bulk_topic,
            index: members.iter().enumerate().map(|(i, p)| (*p, i as Peer)).collect(),
            members,
            excluded: BTreeSet::new(),
            always,
            dial,
            inbound: inbound_tx,
            bulk: bulk_tx,
            inbound_bytes: Arc::clone(&inbound_bytes),
            stats: Arc::clone(&stats),
            listening: listening_tx,
            bans: BTreeMap::new(),
            ban: config.ban,
            connected_since: BTreeMap::new(),
            validators: members_at_start,
            last_heard: BTreeMap::new(),
        };
        let task = Some(tokio::spawn(task.run(commands_rx, shutdown, config.redial)));
        Ok(Libp2pNet { commands, inbound, bulk, inbound_bytes, task, stats, listening, me })
    }

    /// Sends to every connected member (best effort), on the consensus lane.
    pub fn broadcast(&mut self, bytes: Vec<u8>) {
        self.command(Command::Broadcast(Lane::Consensus, bytes));
    }

    /// Sends to every connected member (best effort), on the bulk lane.
    pub fn broadcast_bulk(&mut self, bytes: Vec<u8>) {
        self.command(Command::Broadcast(Lane::Bulk, bytes));
    }

    /// Sends to one member (best effort).
    pub fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        self.command(Command::Send(to, bytes));
    }

    /// Disconnects a member that sent what no honest node sends, and refuses it for the ban
    /// period.
    pub fn penalize(&mut self, peer: Peer, reason: String) {
        self.command(Command::Penalize(peer, reason));
    }

    /// Replaces the network keys allowed to connect (the validator set changed by governance),
    /// besides [`NetConfig::always`]: a key not known before becomes a new [`Peer`] (indices
    /// already given never change); a member no longer listed is disconnected and refused until
    /// it is listed again.
    pub fn set_members(&mut self, keys: Vec<PublicKey>) {
        self.command(Command::SetMembers(keys));
    }

    /// The next message from a member — a waiting consensus message before any bulk one;
    /// `None` once the transport has stopped.
    pub async fn recv(&mut self) -> Option<(Peer, Vec<u8>)> {
        let received = tokio::select! {
            biased;
            consensus = self.inbound.recv() => consensus,
            bulk = self.bulk.recv() => bulk,
        };
        if let Some((_, bytes)) = &received {
            self.inbound_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
        }
        received
    }

    /// The swarm task (once): await it after the shutdown signal to know the sockets are
    /// closed.
    pub fn take_task(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.task.take()
    }

    /// The transport's counters.
    #[must_use]
    pub fn stats(&self) -> Arc<NetStats> {
        Arc::clone(&self.stats)
    }

    /// This node's `PeerId`.
    #[must_use]
    pub fn local_peer_id(&self) -> PeerId {
        self.me
    }

    /// The addresses the transport listens on (empty until the sockets are bound).
    #[must_use]
    pub fn listening(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listening.clone()
    }

    fn command(&mut self, command: Command) {
        if let Err(e) = self.commands.try_send(command) {
            self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "network queue full; message dropped");
        }
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    // Consulted in field order when a connection is established: membership first.
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gate: crate::gate::Gate,
    limits: connection_limits::Behaviour,
    gossip: gossipsub::Behaviour,
    direct: request_response::Behaviour<DirectCodec>,
}

/// TCP (no Nagle, [`UNACKED_CLOSE`] on every connection) + Noise + Yamux, every dial and
/// handshake bounded by [`DIAL_TIMEOUT`].
fn transport(
    key: &identity::Keypair,
) -> Result<
    libp2p::core::transport::Boxed<(PeerId, libp2p::core::muxing::StreamMuxerBox)>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    use libp2p::Transport as _;
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .map(|stream, _| with_unacked_close(stream));
    Ok(tcp
        .upgrade(libp2p::core::upgrade::Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .timeout(DIAL_TIMEOUT)
        .map(|(peer, muxer), _| (peer, libp2p::core::muxing::StreamMuxerBox::new(muxer)))
        .boxed())
}

/// `stream` with [`UNACKED_CLOSE`] set (a warning, not a failure, where the system refuses).
fn with_unacked_close(stream: tcp::tokio::TcpStream) -> tcp::tokio::TcpStream {
    let socket = socket2::SockRef::from(&stream.0);
    if let Err(e) = socket.set_tcp_user_timeout(Some(UNACKED_CLOSE)) {
        tracing::warn!(error = %e, "TCP_USER_TIMEOUT not set: a healed link may stay silent");
    }
    stream
}

fn build_swarm(config: &NetConfig, members: &[PeerId]) -> Result<Swarm<Behaviour>, NetError> {
    let keypair = identity::Keypair::ed25519_from_bytes(config.key_seed)
        .map_err(|e| NetError::Key(e.to_string()))?;
    let mut allow = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for member in members {
        allow.allow_peer(*member);
    }
    // Room for members governance adds later ([`Libp2pNet::set_members`]).
    let n =
        u32::try_from(members.len().max(tokenbook_protocol::MAX_VALIDATORS)).unwrap_or(u32::MAX);
    let limits = connection_limits::ConnectionLimits::default()
        // Pending inbound handshakes are bounded by the gate, per IP (issue #16).
        .with_max_pending_outgoing(Some(n.saturating_mul(2).max(8)))
        .with_max_established(Some(n.saturating_mul(2).max(2)))
        .with_max_established_per_peer(Some(2));
    // Gossip is one hop (issue #21): every message the application sends is signed by its
    // author inside (votes, proposals, txs), and the link is Noise-authenticated, so the
    // gossipsub signature on every copy (~5–10 % of a validator's CPU) bought nothing, and
    // gossipsub's relaying sent every message up to n − 1 more times. Nothing received is
    // forwarded ([`Swarm::on_event`] reports each message `Ignore`); the driver relays the
    // consensus messages that matter when a round stalls (consensus deviation 7). The id
    // covers the payload, so a peer that races an author's (source, seqno) with other bytes
    // cannot make the author's message a duplicate.
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Permissive)
        .validate_messages()
        .message_id_fn(gossip_message_id)
        .max_transmit_size(MAX_MESSAGE_BYTES + GOSSIP_OVERHEAD)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(700))
        .flood_publish(true)
        .build()
        .map_err(|e| NetError::Transport(e.to_string()))?;
    let direct_config = request_response::Config::default()
        .with_request_timeout(Duration::from_secs(30))
        // A sync reply is up to 64 one-way messages (the driver's SYNC_BATCH); no more frames
        // than that are read at once per connection.
        .with_max_concurrent_streams(64);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(transport)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            let gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Author(key.public().to_peer_id()),
                gossip_config,
            )?;
            let direct = request_response::Behaviour::with_codec(
                DirectCodec,
                [(StreamProtocol::new(DIRECT_PROTOCOL), request_response::ProtocolSupport::Full)],
                direct_config,
            );
            Ok(Behaviour {
                allow,
                gate: crate::gate::Gate::new(&config.dial),
                limits: connection_limits::Behaviour::new(limits),
                gossip,
                direct,
            })
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3_600)))
        .build();
    Ok(swarm)
}

/// A gossip message's id: its author, sequence number and a digest of its bytes (so the
/// driver's re-sends, with fresh random sequence numbers, are new messages, and forged copies of
/// a (source, seqno) are different ones).
fn gossip_message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let source = message.source.map(|peer| peer.to_bytes()).unwrap_or_default();
    let seqno = message.sequence_number.unwrap_or_default().to_be_bytes();
    let digest = tokenbook_protocol::Hash::digest_parts(&[&source, &seqno, &message.data]);
    gossipsub::MessageId::new(&digest.0)
}

fn dial_targets(addresses: &[Multiaddr]) -> Result<Vec<(PeerId, Multiaddr)>, NetError> {
    addresses
        .iter()
        .map(|address| match address.iter().last() {
            Some(multiaddr::Protocol::P2p(peer)) => Ok((peer, address.clone())),
            _ => Err(NetError::Address {
                address: address.to_string(),
                reason: "a peer address must end in /p2p/<PeerId>".into(),
            }),
        })
        .collect()
}

/// The swarm's task.
struct Task {
    swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    bulk_topic: gossipsub::IdentTopic,
    members: Vec<PeerId>,
    index: HashMap<PeerId, Peer>,
    dial: Vec<(PeerId, Multiaddr)>,
    inbound: mpsc::Sender<(Peer, Vec<u8>)>,
    bulk: mpsc::Sender<(Peer, Vec<u8>)>,
    inbound_bytes: Arc<AtomicUsize>,
    stats: Arc<NetStats>,
    listening: watch::Sender<Vec<Multiaddr>>,
    /// Banned peers and when their ban ends.
    bans: BTreeMap<PeerId, Instant>,
    ban: Duration,
    /// Members no longer listed ([`Libp2pNet::set_members`]): refused, never redialed.
    excluded: BTreeSet<PeerId>,
    /// Members listed whatever `set_members` says.
    always: BTreeSet<PeerId>,
    /// When each connected peer's current run of connections began.
    connected_since: BTreeMap<PeerId, Instant>,
    /// The validators listed last (not the `always` extras, which may be silent observers):
    /// the peers whose links must carry messages.
    validators: BTreeSet<PeerId>,
    /// When a message last arrived over each connected peer's link (gossip it forwarded or
    /// authored, or a direct message).
    last_heard: BTreeMap<PeerId, Instant>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
        redial: Duration,
    ) {
        let mut redial = tokio::time::interval(redial);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                _ = redial.tick() => {
                    self.relink_deaf();
                    self.relink_silent();
                    self.lift_bans();
                    self.redial();
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Broadcast(lane, bytes) => {
                let topic = match lane {
                    Lane::Consensus => self.topic.clone(),
                    Lane::Bulk => self.bulk_topic.clone(),
                };
                if let Err(e) = self.swarm.behaviour_mut().gossip.publish(topic, bytes) {
                    // Nobody subscribed yet (startup) or a full queue: consensus recovers by
                    // its timeouts, as from any lost message.
                    self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "gossip not sent");
                }
            }
            Command::Send(peer, bytes) => match self.member(peer) {
                Some(id) if self.swarm.is_connected(&id) => {
                    let _ =
                        self.swarm.behaviour_mut().direct.send_request(&id, Direct::Message(bytes));
                }
                _ => {
                    self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                }
            },
            Command::Penalize(peer, reason) => {
                if let Some(id) = self.member(peer) {
                    self.penalize(id, &reason);
                }
            }
            Command::SetMembers(keys) => self.set_members(&keys),
        }
    }

    fn set_members(&mut self, keys: &[PublicKey]) {
        let mut listed: BTreeSet<PeerId> = keys.iter().filter_map(|k| peer_id(k).ok()).collect();
        self.validators.clone_from(&listed);
        listed.extend(self.always.iter().copied());
        for id in &listed {
            if !self.index.contains_key(id) {
                self.index.insert(*id, self.members.len() as Peer);
                self.members.push(*id);
                self.swarm.behaviour_mut().allow.allow_peer(*id);
                tracing::info!(peer = %id, "new member allowed");
            } else if self.excluded.remove(id) && !self.bans.contains_key(id) {
                self.swarm.behaviour_mut().allow.allow_peer(*id);
                tracing::info!(peer = %id, "member allowed again");
            }
        }
        let gone: Vec<PeerId> = self
            .members
            .iter()
            .filter(|id| !listed.contains(id) && !self.excluded.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.excluded.insert(id);
            self.swarm.behaviour_mut().allow.disallow_peer(id);
            let _ = self.swarm.disconnect_peer_id(id);
            tracing::info!(peer = %id, "no longer a member: disconnected");
        }
    }

    fn member(&self, peer: Peer) -> Option<PeerId> {
        usize::try_from(peer).ok().and_then(|i| self.members.get(i)).copied()
    }

    fn penalize(&mut self, id: PeerId, reason: &str) {
        tracing::warn!(peer = %id, reason, "disconnecting a misbehaving peer");
        self.stats.penalties.fetch_add(1, Ordering::Relaxed);
        self.swarm.behaviour_mut().allow.disallow_peer(id);
        let _ = self.swarm.disconnect_peer_id(id);
        self.bans.insert(id, Instant::now() + self.ban);
    }

    fn lift_bans(&mut self) {
        let now = Instant::now();
        let over: Vec<PeerId> =
            self.bans.iter().filter(|(_, until)| **until <= now).map(|(id, _)| *id).collect();
        for id in over {
            self.bans.remove(&id);
            if self.excluded.contains(&id) {
                continue;
            }
            self.swarm.behaviour_mut().allow.allow_peer(id);
            tracing::info!(peer = %id, "ban over");
        }
    }

    fn redial(&mut self) {
        for (id, address) in self.dial.clone() {
            if self.bans.contains_key(&id)
                || self.excluded.contains(&id)
                || self.swarm.is_connected(&id)
            {
                continue;
            }
            let options = DialOpts::peer_id(id)
                .addresses(vec![address])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .allocate_new_port()
                .build();
            let _ = self.swarm.dial(options);
        }
    }

    /// Hands a member's message to the node, unless the member is banned (its gossip may still
    /// arrive relayed by others) or the node is behind by too many messages or bytes.
    fn deliver(&mut self, lane: Lane, from: PeerId, bytes: Vec<u8>) {
        let Some(&peer) = self.index.get(&from) else { return };
        if self.bans.contains_key(&from) || self.excluded.contains(&from) {
            return;
        }
        let len = bytes.len();
        // Counted before it is queued, so the receiver never subtracts what was not added.
        let queued = self.inbound_bytes.fetch_add(len, Ordering::Relaxed);
        let queue = match lane {
            Lane::Consensus => &self.inbound,
            Lane::Bulk => &self.bulk,
        };
        if queued.saturating_add(len) > MAX_INBOUND_BYTES || queue.try_send((peer, bytes)).is_err()
        {
            self.inbound_bytes.fetch_sub(len, Ordering::Relaxed);
            self.stats.dropped_inbound.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                self.heard(propagation_source);
                // One hop: never forwarded. The sender is the Noise-authenticated peer that
                // sent it, not the unsigned `source` field it claims.
                self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    gossipsub::MessageAcceptance::Ignore,
                );
                let bulk = message.topic == self.bulk_topic.hash();
                let lane = if bulk { Lane::Bulk } else { Lane::Consensus };
                self.deliver(lane, propagation_source, message.data);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(event)) => self.on_direct(event),
            SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } => {
                self.on_connected(peer_id, num_established.get());
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                self.connected_since.remove(&peer_id);
                self.last_heard.remove(&peer_id);
                self.stats.peers.fetch_sub(1, Ordering::Relaxed);
                tracing::info!(peer = %peer_id, cause = ?cause, "peer disconnected");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
                self.listening.send_modify(|all| all.push(address));
            }
            SwarmEvent::IncomingConnectionError { error, send_back_addr, .. } => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%send_back_addr, %error, "incoming connection refused");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            _ => {}
        }
    }

    /// A connection to `id` is up, the `count`th open one. A member that dials while this
    /// node has been connected to it for longer than a dial takes found every connection dead
    /// (the redial dials only members it has none to): the older ones are stale, and its
    /// gossip has forgotten this node's subscription, which gossipsub announces only on a
    /// first connection. Every connection is dropped, so the redial starts clean on both sides.
    fn on_connected(&mut self, id: PeerId, count: u32) {
        let now = Instant::now();
        if count == 1 {
            self.stats.peers.fetch_add(1, Ordering::Relaxed);
            self.connected_since.insert(id, now);
            self.last_heard.insert(id, now);
            tracing::info!(peer = %id, "peer connected");
            return;
        }
        let since = self.connected_since.get(&id).copied().unwrap_or(now);
        if self.index.contains_key(&id) && now.duration_since(since) > DIAL_TIMEOUT {
            tracing::info!(peer = %id, "member redialed over an open connection: reconnecting");
            self.relink(id);
        }
    }

    /// Drops every member connected for [`SUBSCRIBE_GRACE`] whose subscription to the
    /// consensus topic gossip does not know (it would get none of this node's gossip).
    fn relink_deaf(&mut self) {
        let now = Instant::now();
        let topic = self.topic.hash();
        let subscribed: BTreeSet<PeerId> = (self.swarm.behaviour().gossip.all_peers())
            .filter(|(_, topics)| topics.contains(&&topic))
            .map(|(id, _)| *id)
            .collect();
        let deaf: Vec<PeerId> = (self.connected_since.iter())
            .filter(|(_, since)| now.duration_since(**since) >= SUBSCRIBE_GRACE)
            .filter(|(id, _)| self.index.contains_key(id) && !subscribed.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in deaf {
            tracing::warn!(peer = %id, "member connected without a known gossip subscription: reconnecting");
            self.relink(id);
        }
    }

    /// A message arrived over `id`'s link.
    fn heard(&mut self, id: PeerId) {
        if let Some(at) = self.last_heard.get_mut(&id) {
            *at = Instant::now();
        }
    }

    /// Drops every validator whose link has delivered nothing for [`SILENCE_RELINK`].
    fn relink_silent(&mut self) {
        let now = Instant::now();
        let silent: Vec<PeerId> = (self.last_heard.iter())
            .filter(|(id, at)| {
                self.validators.contains(id) && now.duration_since(**at) >= SILENCE_RELINK
            })
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            tracing::warn!(peer = %id, "no message from a validator's link for {SILENCE_RELINK:?}: reconnecting");
            self.relink(id);
        }
    }

    /// Closes every connection to `id`; the redial makes a new one.
    fn relink(&mut self, id: PeerId) {
        self.stats.relinked.fetch_add(1, Ordering::Relaxed);
        self.connected_since.remove(&id);
        self.last_heard.remove(&id);
        let _ = self.swarm.disconnect_peer_id(id);
    }

    fn on_direct(&mut self, event: request_response::Event<Direct, ()>) {
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            } => match request {
                Direct::Message(bytes) => {
                    self.heard(peer);
                    let _ = self.swarm.behaviour_mut().direct.send_response(channel, ());
                    self.deliver(Lane::Consensus, peer, bytes);
                }
                Direct::Oversized(len) => {
                    // No honest node sends one; the rest of the frame was never read.
                    let max = MAX_MESSAGE_BYTES;
                    self.penalize(peer, &format!("direct frame of {len} bytes; at most {max}"));
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                self.stats.dropped_outbound.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, %error, "direct message not delivered");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "direct message not received");
            }
            _ => {}
        }
    }
}

/// One message per substream: a 4-byte big-endian length, then the bytes; the answer is one
/// byte (an acknowledgement).
#[derive(Clone, Copy, Debug, Default)]
struct DirectCodec;

/// What arrived on a direct substream.
#[derive(Debug)]
enum Direct {
    /// A message's bytes.
    Message(Vec<u8>),
    /// A length prefix over the limit: nothing more was read (request-response does not report
    /// read errors to the behaviour, so the refusal is a value, and the sender can be blamed).
    Oversized(usize),
}

impl request_response::Codec for DirectCodec {
    type Protocol = StreamProtocol;
    type Request = Direct;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Direct>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_MESSAGE_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Direct,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        let Direct::Message(bytes) = request else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a message"));
        };
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        io.write_all(&len.to_be_bytes()).await?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, (): ()) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        io.write_all(&[1]).await?;
        io.close().await
    }
}

/// Reads one length-prefixed frame, refusing (before allocating) one over `max` bytes.
async fn read_frame<T: futures::AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Direct> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_be_bytes(len)).map_err(io::Error::other)?;
    if len > max {
        return Ok(Direct::Oversized(len));
    }
    let mut bytes = vec![0; len];
    io.read_exact(&mut bytes).await?;
    Ok(Direct::Message(bytes))
}
