//! The test hosts and the wire between them.
//!
//! Each validator runs in a network namespace of its own (`tbf<run>-v0` …), and the harness with
//! the load generator in another (`tbf<run>-load`). Each namespace holds one TUN interface with
//! its own address in 198.18.0.0/24 (RFC 2544's benchmarking range, which no real host uses) and
//! nothing else but loopback: no route leaves the namespaces the harness made.
//!
//! The harness process is the wire. Its switch reads every IPv4 packet a host sends, drops it
//! on a cut link or with the link's loss probability, and writes it into the namespace owning
//! the destination after the link's delay plus a random part of its jitter (so jitter reorders,
//! as `netem` does). This machine's kernel has no `netem` qdisc (nor `fq`, `cake` or
//! `fq_codel`); the switch does per link what netem would, and partitions are cut links.
//!
//! Promises: a packet is forwarded at most once, never to a host other than its destination's
//! owner, and never over a cut link; [`Wire::heal`] restores every link of the current profile.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tun::Tun;

/// A host of the test network: `Load` is the harness, `Validator(i)` validator `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    /// The harness and load generator.
    Load,
    /// A validator, by genesis index.
    Validator(usize),
}

impl Host {
    /// Its address.
    #[must_use]
    pub fn address(self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, self.octet())
    }

    fn octet(self) -> u8 {
        match self {
            Host::Load => 2,
            Host::Validator(i) => u8::try_from(10 + i).unwrap_or(u8::MAX),
        }
    }

    fn from_octet(octet: u8) -> Option<Host> {
        match octet {
            2 => Some(Host::Load),
            o if o >= 10 => Some(Host::Validator(usize::from(o - 10))),
            _ => None,
        }
    }
}

/// The namespaces of one run, named after the harness's process id.
#[derive(Clone, Debug)]
pub struct Namespaces {
    /// `tbf<pid>`: every name starts with it.
    pub prefix: String,
    /// Number of validators.
    pub validators: usize,
}

impl Namespaces {
    /// The namespace of `host`.
    #[must_use]
    pub fn name(&self, host: Host) -> String {
        match host {
            Host::Load => format!("{}-load", self.prefix),
            Host::Validator(i) => format!("{}-v{i}", self.prefix),
        }
    }

    /// Every host: the load generator first.
    #[must_use]
    pub fn hosts(&self) -> Vec<Host> {
        std::iter::once(Host::Load).chain((0..self.validators).map(Host::Validator)).collect()
    }

    /// Creates every namespace (with loopback up).
    ///
    /// # Errors
    /// `ip netns add` failed (not root, no `ip`).
    pub fn create(&self) -> Result<(), String> {
        for host in self.hosts() {
            let name = self.name(host);
            ip(&["netns", "add", &name])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Kills whatever still runs in the namespaces and deletes them (errors ignored: this runs
    /// on every exit path).
    pub fn destroy(&self) {
        for host in self.hosts() {
            let name = self.name(host);
            let pids = Command::new("ip").args(["netns", "pids", &name]).output();
            if let Ok(out) = pids {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// Runs `ip ARGS`.
///
/// # Errors
/// `ip` is missing or failed (its stderr).
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` could not run ({e}); install iproute2"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// One direction of a link: what happens to the packets it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Up to this much more, uniformly at random per packet (reorders).
    pub jitter: Duration,
    /// Packets dropped per million.
    pub loss_ppm: u32,
}

/// The links' state: each direction's shape and the cut directions.
#[derive(Debug, Default)]
struct Links {
    shapes: BTreeMap<(Host, Host), Shape>,
    cut: BTreeSet<(Host, Host)>,
}

/// Packets forwarded and dropped, whole run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Written to their destination.
    pub forwarded: AtomicU64,
    /// Dropped by a link's loss.
    pub lost: AtomicU64,
    /// Dropped on a cut link.
    pub cut: AtomicU64,
}

/// The wire: every host's TUN interface, switched by this process.
#[derive(Clone)]
pub struct Wire {
    links: Arc<Mutex<Links>>,
    /// What the switch did.
    pub counters: Arc<Counters>,
}

impl Wire {
    /// Makes one TUN interface per host in this process's namespace (which must be the load
    /// generator's), moves each validator's into its namespace, gives each its address, and
    /// starts switching.
    ///
    /// # Errors
    /// A TUN interface cannot be made, moved or addressed.
    pub fn start(spaces: &Namespaces, seed: u64) -> Result<Wire, String> {
        let wire = Wire { links: Arc::default(), counters: Arc::default() };
        let mut queues = BTreeMap::new();
        let mut readers = Vec::new();
        for host in spaces.hosts() {
            let tun = Arc::new(make_tun(spaces, host)?);
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(host, tx);
            tokio::spawn(deliver(Arc::clone(&tun), rx, Arc::clone(&wire.counters)));
            readers.push((host, tun));
        }
        let queues = Arc::new(queues);
        for (n, (host, tun)) in readers.into_iter().enumerate() {
            let random = Random(seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let switch = Switch { from: host, links: Arc::clone(&wire.links), random };
            tokio::spawn(switch.run(tun, Arc::clone(&queues), Arc::clone(&wire.counters)));
        }
        Ok(wire)
    }

    /// Sets the shape of every direction `from → to` (the profile's).
    pub fn shape(&self, from: Host, to: Host, shape: Shape) {
        if let Ok(mut links) = self.links.lock() {
            links.shapes.insert((from, to), shape);
        }
    }

    /// Cuts the direction `from → to`.
    pub fn cut(&self, from: Host, to: Host) {
        if let Ok(mut links) = self.links.lock() {
            links.cut.insert((from, to));
        }
    }

    /// Cuts both directions between every host of `a` and every host of `b`.
    pub fn cut_between(&self, a: &[Host], b: &[Host]) {
        for &x in a {
            for &y in b {
                self.cut(x, y);
                self.cut(y, x);
            }
        }
    }

    /// Restores every cut link.
    pub fn heal(&self) {
        if let Ok(mut links) = self.links.lock() {
            links.cut.clear();
        }
    }
}

/// A TUN interface for `host`, made here, moved into `host`'s namespace, addressed and up.
fn make_tun(spaces: &Namespaces, host: Host) -> Result<Tun, String> {
    let name = match host {
        Host::Load => "tbf-load".to_string(),
        Host::Validator(i) => format!("tbf-v{i}"),
    };
    let tun = Tun::builder()
        .name(&name)
        .mtu(1500)
        .build()
        .map_err(|e| format!("TUN {name}: {e} (is /dev/net/tun there, and are we root?)"))?
        .pop()
        .ok_or(format!("TUN {name}: none made"))?;
    let address = format!("{}/24", host.address());
    let space = spaces.name(host);
    if host != Host::Load {
        ip(&["link", "set", &name, "netns", &space])?;
    }
    ip(&["-n", &space, "addr", "add", &address, "dev", &name])?;
    ip(&["-n", &space, "link", "set", &name, "up"])?;
    Ok(tun)
}

/// A tiny generator for loss and jitter (xorshift; the wire's randomness need not be secret).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// One host's outgoing side: reads its packets and routes each.
struct Switch {
    from: Host,
    links: Arc<Mutex<Links>>,
    random: Random,
}

type Queues = Arc<BTreeMap<Host, mpsc::UnboundedSender<(Instant, Vec<u8>)>>>;

impl Switch {
    async fn run(mut self, tun: Arc<Tun>, queues: Queues, counters: Arc<Counters>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok(n) = tun.recv(&mut buf).await else { return };
            let packet = &buf[..n];
            // IPv4 only (the hosts have no IPv6 addresses); the destination is bytes 16..20.
            if n < 20 || packet[0] >> 4 != 4 || packet[16..19] != [198, 18, 0] {
                continue;
            }
            let Some(to) = Host::from_octet(packet[19]) else { continue };
            let Some(queue) = queues.get(&to) else { continue };
            let Some(at) = self.route(to, &counters) else { continue };
            let _ = queue.send((at, packet.to_vec()));
        }
    }

    /// When the packet to `to` is due, or `None` when it is dropped.
    fn route(&mut self, to: Host, counters: &Counters) -> Option<Instant> {
        let (shape, cut) = match self.links.lock() {
            Ok(links) => (
                links.shapes.get(&(self.from, to)).copied().unwrap_or_default(),
                links.cut.contains(&(self.from, to)),
            ),
            Err(_) => return None,
        };
        if cut {
            counters.cut.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if shape.loss_ppm > 0 && self.random.below(1_000_000) < u64::from(shape.loss_ppm) {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let jitter_us = u64::try_from(shape.jitter.as_micros()).unwrap_or(0);
        let extra = Duration::from_micros(self.random.below(jitter_us + 1));
        Some(Instant::now() + shape.delay + extra)
    }
}

/// Writes the packets queued for one host when each is due (earliest first).
async fn deliver(
    tun: Arc<Tun>,
    mut queue: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    counters: Arc<Counters>,
) {
    let mut due: BinaryHeap<std::cmp::Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let next = due.peek().map(|std::cmp::Reverse((at, _, _))| *at);
        tokio::select! {
            packet = queue.recv() => {
                let Some((at, bytes)) = packet else { return };
                seq += 1;
                due.push(std::cmp::Reverse((at, seq, bytes)));
            }
            () = sleep_until(next) => {}
        }
        let now = Instant::now();
        while due.peek().is_some_and(|std::cmp::Reverse((at, _, _))| *at <= now) {
            let Some(std::cmp::Reverse((_, _, bytes))) = due.pop() else { break };
            if tun.send(&bytes).await.is_ok() {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
