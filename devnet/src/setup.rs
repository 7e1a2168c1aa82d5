//! Building a devnet on disk: keys, a genesis naming every validator, one home per validator
//! (config dialing every other validator, on loopback or at each validator's own address), member and trader key files
//! (`members/member-N.key`, `traders/trader-N.key`), and `devnet.json` (what `status` and
//! `down` read). Validator 0's API takes `127.0.0.1:8080`, the CLI's default, when it is free.
//!
//! Promises: every key comes from the OS's randomness and is written 0600; ports are asked of
//! the OS (all distinct within one devnet) just before the nodes bind them; nothing is
//! overwritten in a directory that already holds a devnet.

use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use tokenbook_ledger::Genesis;
use tokenbook_ledger::state::GenesisMember;
use tokenbook_node::home::{Config, Home, write_key};
use tokenbook_protocol::{Keypair, Timestamp, Validator};

/// The chain id of every devnet.
pub const CHAIN: &str = "tokenbook-devnet";

/// One validator of the devnet.
#[derive(Debug)]
pub struct ValidatorSetup {
    /// Its home directory.
    pub home: Home,
    /// The member's key (account `index + 1`), which also publishes index prices.
    pub member: Keypair,
    /// Its API address (host:port).
    pub api: String,
}

/// A devnet on disk.
#[derive(Debug)]
pub struct Devnet {
    /// Where everything lives.
    pub dir: PathBuf,
    /// The validators, in genesis order.
    pub validators: Vec<ValidatorSetup>,
    /// The traders' keys (files under `traders/`).
    pub traders: Vec<Keypair>,
    /// Validators started misbehaving (`--misbehave KIND`), by index.
    pub misbehave: std::collections::BTreeMap<usize, String>,
}

/// A fresh random key.
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn random_key() -> Result<Keypair, String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(Keypair::from_seed(&seed))
}

/// Loopback ports asked of the OS. Each stays bound until the picker is dropped, so one devnet
/// never gets the same port twice (the OS does not hand out a port that is bound); another
/// process can still take one between the drop and the validator's own bind.
#[derive(Default)]
struct Ports(Vec<std::net::TcpListener>);

impl Ports {
    fn free(&mut self) -> Result<u16, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        self.0.push(listener);
        Ok(port)
    }

    /// The CLI's default node (`http://127.0.0.1:8080`) is validator 0's API when the port is
    /// free; `TOKENBOOK_DEVNET_API_PORT` picks another (`0`: any, what tests running devnets
    /// side by side use).
    fn api(&mut self, validator: usize) -> Result<u16, String> {
        let wanted = std::env::var("TOKENBOOK_DEVNET_API_PORT").ok().and_then(|p| p.parse().ok());
        let wanted: u16 = wanted.unwrap_or(8080);
        let free = wanted != 0 && std::net::TcpListener::bind(("127.0.0.1", wanted)).is_ok();
        if validator == 0 && free { Ok(wanted) } else { self.free() }
    }
}

/// Where the validators listen.
#[derive(Clone, Debug)]
pub enum Hosts {
    /// Every validator on `127.0.0.1`, ports asked of the OS (validator 0's API on 8080 when
    /// free).
    Loopback,
    /// Validator `i` alone on the address `addresses[i]` (its own network namespace), P2P on
    /// [`HOST_P2P_PORT`] and API on [`HOST_API_PORT`].
    Own(Vec<std::net::Ipv4Addr>),
}

/// The P2P port of a validator with a host of its own.
pub const HOST_P2P_PORT: u16 = 26_656;
/// The API port of a validator with a host of its own.
pub const HOST_API_PORT: u16 = 8_080;

impl Hosts {
    /// Validator `i`'s IP address, P2P port and API port.
    fn of(&self, i: usize, ports: &mut Ports) -> Result<(String, u16, u16), String> {
        match self {
            Hosts::Loopback => Ok(("127.0.0.1".into(), ports.free()?, ports.api(i)?)),
            Hosts::Own(addresses) => {
                let ip = addresses.get(i).ok_or(format!("no address for validator {i}"))?;
                Ok((ip.to_string(), HOST_P2P_PORT, HOST_API_PORT))
            }
        }
    }
}

/// Writes a devnet of `validators` validators and `traders` traders into `dir`, all on
/// loopback.
///
/// # Errors
/// `dir` already holds a devnet; a file cannot be written.
pub fn create(dir: &Path, validators: usize, traders: usize) -> Result<Devnet, String> {
    create_on(dir, validators, traders, &Hosts::Loopback)
}

/// Writes a devnet whose validators listen where `hosts` says.
///
/// # Errors
/// `dir` already holds a devnet; a file cannot be written; `hosts` names too few addresses.
pub fn create_on(
    dir: &Path,
    validators: usize,
    traders: usize,
    hosts: &Hosts,
) -> Result<Devnet, String> {
    if dir.join("devnet.json").exists() {
        return Err(format!(
            "{} already holds a devnet: `tokenbook-devnet up --dir` a new directory, or delete it",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir.join("traders")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut members = Vec::new();
    let mut keys = Vec::new();
    for i in 0..validators {
        let (member, consensus, network) = (random_key()?, random_key()?, random_key()?);
        members.push(GenesisMember {
            name: format!("member-{i}"),
            key: member.public_key(),
            validator: Some(Validator {
                consensus_key: consensus.public_key(),
                network_key: network.public_key(),
                power: 1,
            }),
        });
        keys.push((member, consensus, network));
    }
    let now = tokenbook_node::runtime::now_ms();
    let genesis =
        tokenbook_ledger::genesis::dated_devnet(CHAIN, Timestamp::new(now), members, vec![]);
    let mut ports = Ports::default();
    let places: Vec<(String, u16, u16)> =
        (0..validators).map(|i| hosts.of(i, &mut ports)).collect::<Result<_, _>>()?;
    let peer_address = |i: usize, network: &Keypair| -> Result<String, String> {
        let peer = tokenbook_node::node::peer_id_of(&network.public_key())?;
        let (ip, p2p, _) = &places[i];
        Ok(format!("/ip4/{ip}/tcp/{p2p}/p2p/{peer}"))
    };
    let addresses: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, (_, _, network))| peer_address(i, network))
        .collect::<Result<_, _>>()?;
    // Every validator's console shows the whole devnet.
    let console: Vec<String> =
        places.iter().map(|(ip, _, api_port)| format!("http://{ip}:{api_port}")).collect();
    let mut setups = Vec::new();
    std::fs::create_dir_all(dir.join("members")).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (i, (member, consensus, network)) in keys.into_iter().enumerate() {
        let home = Home(dir.join(format!("validator-{i}")));
        write_key(&dir.join("members").join(format!("member-{i}.key")), &member.seed())?;
        let (ip, p2p, api_port) = &places[i];
        let api = format!("{ip}:{api_port}");
        let peers = addresses.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| a.clone());
        let listen = format!("/ip4/{ip}/tcp/{p2p}");
        let place = Place { listen: &listen, api: &api, console: &console };
        write_home(&home, &consensus, &network, &genesis, &place, peers.collect())?;
        setups.push(ValidatorSetup { home, member, api });
    }
    let traders: Vec<Keypair> = (0..traders).map(|_| random_key()).collect::<Result<_, _>>()?;
    for (i, trader) in traders.iter().enumerate() {
        write_key(&dir.join("traders").join(format!("trader-{i}.key")), &trader.seed())?;
    }
    let devnet = Devnet {
        dir: dir.to_path_buf(),
        validators: setups,
        traders,
        misbehave: std::collections::BTreeMap::new(),
    };
    write_manifest(&devnet)?;
    Ok(devnet)
}

/// Where a validator listens, and the API URLs its console polls.
struct Place<'a> {
    listen: &'a str,
    api: &'a str,
    console: &'a [String],
}

fn write_home(
    home: &Home,
    consensus: &Keypair,
    network: &Keypair,
    genesis: &Genesis,
    place: &Place<'_>,
    peers: Vec<String>,
) -> Result<(), String> {
    let mut config = Config { chain_id: CHAIN.into(), ..Config::default() };
    config.p2p.listen = vec![place.listen.to_string()];
    config.p2p.peers = peers;
    config.p2p.redial_ms = 500;
    config.api.listen = place.api.into();
    config.console.nodes = place.console.to_vec();
    // Every devnet client (the flows, the load generator, the console) is one address, loopback:
    // the per-address limits are the whole devnet's.
    config.api.rate_per_second = 100_000;
    config.api.burst = 200_000;
    config.consensus.propose_base_ms = 1_000;
    config.consensus.vote_base_ms = 500;
    // Loopback: a live proposer's block arrives within milliseconds, so a member that sent
    // nothing on its last turn is waited for 100 ms, not 200 (consensus deviation 9).
    config.consensus.propose_absent_ms = 100;
    // Loopback peers: a 20 ms pause between heights instead of the node's 50 ms default halves
    // submit→final latency at moderate load (docs/benchmarks.md, "End-to-end").
    config.block.interval_ms = 20;
    // `TOKENBOOK_DEVNET_HEARTBEAT_MS` overrides the idle heartbeat (`0`: a block every interval
    // whatever is pending, as before idle waits: for measuring what they save).
    if let Some(ms) =
        std::env::var("TOKENBOOK_DEVNET_HEARTBEAT_MS").ok().and_then(|v| v.parse().ok())
    {
        config.block.heartbeat_ms = ms;
    }
    home.write(consensus, network, &config, genesis)
}

/// `devnet.json`: the validators' homes and API URLs, and the trader key files.
fn write_manifest(devnet: &Devnet) -> Result<(), String> {
    let manifest = json!({
        "chain_id": CHAIN,
        "validators": devnet.validators.iter().map(|v| json!({
            "home": v.home.0,
            "api": format!("http://{}", v.api),
        })).collect::<Vec<_>>(),
        "traders": (0..devnet.traders.len())
            .map(|i| devnet.dir.join("traders").join(format!("trader-{i}.key")))
            .collect::<Vec<_>>(),
    });
    let path = devnet.dir.join("devnet.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The API URLs a `devnet.json` lists.
///
/// # Errors
/// The file is missing or not a devnet manifest.
pub fn read_apis(dir: &Path) -> Result<Vec<String>, String> {
    let path = dir.join("devnet.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    manifest["validators"]
        .as_array()
        .map(|all| all.iter().filter_map(|v| v["api"].as_str().map(String::from)).collect())
        .ok_or_else(|| format!("{}: no validators listed", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports picked for one devnet are distinct: each is held until the picker is dropped.
    #[test]
    fn one_devnet_never_gets_a_port_twice() {
        let mut ports = Ports::default();
        let picked: Vec<u16> = (0..64).map(|_| ports.free().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = picked.iter().copied().collect();
        assert_eq!(distinct.len(), picked.len(), "{picked:?}");
    }
}
