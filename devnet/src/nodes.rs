//! The validator processes of a devnet: the sibling `tokenbook-node` binary (built once if
//! missing), one child process per validator with its log in `node.log`, readiness by polling
//! `/v1/status`, and a clean stop (SIGTERM, SIGKILL after 15 s).
//!
//! Promises: `pids` and `devnet.pid` in the devnet's directory name every process started (kept
//! current across restarts), so `down` can stop them from another shell; `stop` waits for every
//! child, resuming a paused one first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::setup;

/// The `tokenbook-node` binary next to this one, built first if it is missing.
///
/// # Errors
/// The binary is missing and cannot be built.
pub fn node_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no directory for this executable")?;
    let node = dir.join("tokenbook-node");
    if node.exists() {
        return Ok(node);
    }
    eprintln!("building tokenbook-node (once) …");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = if dir.ends_with("release") { vec!["--release"] } else { vec![] };
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "tokenbook-node", "--bin", "tokenbook-node"])
        .args(profile)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() || !node.exists() {
        return Err(format!("could not build {}", node.display()));
    }
    Ok(node)
}

/// How one validator is started: the command line and the log its stderr is appended to.
#[derive(Clone, Debug)]
struct Launch {
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    log: PathBuf,
}

impl Launch {
    fn spawn(&self) -> Result<tokio::process::Child, String> {
        self.spawn_with(&[])
    }

    fn spawn_with(&self, extra: &[String]) -> Result<tokio::process::Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        tokio::process::Command::new(&self.program)
            .args(&self.args)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.program.display()))
    }
}

/// The running validator processes, in genesis order.
pub struct Nodes {
    launches: Vec<Launch>,
    children: Vec<tokio::process::Child>,
    dir: PathBuf,
}

impl Nodes {
    /// Starts one `tokenbook-node start` per validator of `devnet`.
    ///
    /// # Errors
    /// A log file or pid file cannot be written, or a process cannot be spawned.
    pub fn start(binary: &Path, devnet: &setup::Devnet) -> Result<Nodes, String> {
        Nodes::start_wrapped(binary, devnet, &|_| Vec::new())
    }

    /// Starts every validator as `wrap(i)` followed by `tokenbook-node start …` (for example
    /// `ip netns exec NAME`, which execs the node in place: the child's pid is the node's).
    ///
    /// # Errors
    /// As [`Nodes::start`].
    pub fn start_wrapped(
        binary: &Path,
        devnet: &setup::Devnet,
        wrap: &dyn Fn(usize) -> Vec<String>,
    ) -> Result<Nodes, String> {
        let mut launches = Vec::new();
        for (i, v) in devnet.validators.iter().enumerate() {
            let mut line: Vec<std::ffi::OsString> = wrap(i).into_iter().map(Into::into).collect();
            line.push(binary.into());
            line.extend(["start".into(), "--home".into(), v.home.0.clone().into()]);
            if let Some(kind) = devnet.misbehave.get(&i) {
                line.extend(["--misbehave".into(), kind.into()]);
            }
            let program = PathBuf::from(line.remove(0));
            let log = v.home.0.join("node.log");
            // A fresh log per start of the devnet; restarts append.
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            launches.push(Launch { program, args: line, log });
        }
        let children = launches.iter().map(Launch::spawn).collect::<Result<Vec<_>, _>>()?;
        let nodes = Nodes { launches, children, dir: devnet.dir.clone() };
        nodes.write_pids()?;
        std::fs::write(devnet.dir.join("devnet.pid"), std::process::id().to_string())
            .map_err(|e| e.to_string())?;
        Ok(nodes)
    }

    fn write_pids(&self) -> Result<(), String> {
        let pids: String =
            self.children.iter().map(|c| format!("{}\n", c.id().unwrap_or(0))).collect();
        std::fs::write(self.dir.join("pids"), pids).map_err(|e| e.to_string())
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to validator `i`'s process.
    pub fn signal(&self, i: usize, signal: &str) {
        if let Some(pid) = self.children.get(i).and_then(tokio::process::Child::id) {
            send_signal(pid, signal);
        }
    }

    /// Waits (at most `limit`) for validator `i`'s process to exit; whether it did.
    pub async fn wait_exit(&mut self, i: usize, limit: Duration) -> bool {
        let Some(child) = self.children.get_mut(i) else { return true };
        tokio::time::timeout(limit, child.wait()).await.is_ok()
    }

    /// Starts validator `i` again with the command line it was first started with (its log is
    /// appended to). The old process must have exited.
    ///
    /// # Errors
    /// It cannot be spawned, or the pid file cannot be written.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.restart_with(i, &[])
    }

    /// As [`Nodes::restart`], with `extra` arguments after the first command line (this start
    /// only: a later [`Nodes::restart`] leaves them out).
    ///
    /// # Errors
    /// As [`Nodes::restart`].
    pub fn restart_with(&mut self, i: usize, extra: &[String]) -> Result<(), String> {
        let launch = self.launches.get(i).ok_or(format!("no validator {i}"))?;
        self.children[i] = launch.spawn_with(extra)?;
        self.write_pids()
    }

    /// Validator `i`'s process id while it runs.
    #[must_use]
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children.get(i).and_then(tokio::process::Child::id)
    }

    /// SIGTERM to every node, then waits for each (SIGKILL after 15 s).
    pub async fn stop(mut self) {
        for child in &self.children {
            if let Some(pid) = child.id() {
                // A paused node would never act on TERM.
                send_signal(pid, "CONT");
                terminate(pid);
            }
        }
        for child in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
                let _ = child.start_kill();
            }
        }
    }

    /// The process ids of the validators still known to the OS, in genesis order.
    #[must_use]
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(tokio::process::Child::id).collect()
    }

    /// The validators whose process has exited.
    pub fn exited(&mut self) -> Vec<usize> {
        (0..self.children.len())
            .filter(|&i| self.children[i].try_wait().ok().flatten().is_some())
            .collect()
    }
}

/// Starts the validators of `devnet`, runs `work` with their API URLs (`http://host:port`),
/// and stops every validator cleanly when `work` ends, on Ctrl-C or on SIGTERM.
///
/// # Errors
/// The validators cannot be started, or `work`'s error.
pub async fn run_with<W>(binary: &Path, devnet: &setup::Devnet, work: W) -> Result<(), String>
where
    W: AsyncFnOnce(&[String], &mut Nodes) -> Result<(), String>,
{
    let mut nodes = Nodes::start(binary, devnet)?;
    let apis: Vec<String> = devnet.validators.iter().map(|v| format!("http://{}", v.api)).collect();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let outcome = tokio::select! {
        r = work(&apis, &mut nodes) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    println!("\nstopping {} validators …", devnet.validators.len());
    nodes.stop().await;
    println!("stopped");
    outcome
}

/// SIGTERM through the shell's builtin `kill` (no procps needed).
pub fn terminate(pid: u32) {
    send_signal(pid, "TERM");
}

/// `kill -SIGNAL pid` through the shell's builtin (no procps needed).
pub fn send_signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid} 2>/dev/null")])
        .status();
}

/// Waits until every API answers `/v1/status` and, with more than one validator, has a peer
/// (a validator with none refuses txs with `503 no_peers`) — at most 60 s.
///
/// # Errors
/// A validator did not answer, or found no peer, in time.
pub async fn wait_ready(http: &reqwest::Client, apis: &[String]) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let peers_needed = u64::from(apis.len() > 1);
    for api in apis {
        loop {
            let status = match http.get(format!("{api}/v1/status")).send().await {
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                _ => None,
            };
            if status.is_some_and(|s| s["peers"].as_u64().unwrap_or(0) >= peers_needed) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "{api} did not start, or found no peer, within 60 s; see its node.log"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
