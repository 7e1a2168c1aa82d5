//! What the validators' logs say about a run: how many heights needed more than one round (a
//! proposal or its votes came too late: the node logs each such height at INFO, while ordinary
//! commits are DEBUG only), and how many gossip messages libp2p dropped because a peer's send
//! queue was full.
//!
//! Promises: read-only; a log that cannot be read counts as empty.

use std::path::Path;

/// Counts from one validator's `node.log`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCounts {
    /// Heights decided in a round after 0.
    pub late_rounds: u64,
    /// "Send Queue full" warnings from gossipsub.
    pub gossip_drops: u64,
}

/// Removes terminal colour sequences (`ESC [ ... m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Counts over a log's text.
#[must_use]
pub fn count(text: &str) -> LogCounts {
    let mut counts = LogCounts::default();
    for line in text.lines() {
        if line.contains("Send Queue full") {
            counts.gossip_drops += 1;
            continue;
        }
        if plain(line).contains(": decided after round 0") {
            counts.late_rounds += 1;
        }
    }
    counts
}

/// Counts from `node.log` in a validator's home.
#[must_use]
pub fn read(home: &Path) -> LogCounts {
    count(&std::fs::read_to_string(home.join("node.log")).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_late_rounds_and_gossip_drops() {
        // The log's colours, as tracing writes them on the first line.
        let text = concat!(
            "\u{1b}[2mT\u{1b}[0m INFO \u{1b}[1mconsensus\u{1b}[0m\u{1b}[1m{\u{1b}[0m",
            "\u{1b}[3mheight\u{1b}[0m\u{1b}[2m=\u{1b}[0m10 \u{1b}[3mround\u{1b}[0m",
            "\u{1b}[2m=\u{1b}[0m0\u{1b}[1m}\u{1b}[0m: tokenbook_node::runtime: ",
            "decided after round 0 height=10 round=1\n",
            "T DEBUG consensus{height=11 round=0}: tokenbook_node::runtime: committed height=11\n",
            "T WARN libp2p_gossipsub::behaviour: Send Queue full. Could not send Rpc.\n",
            "T INFO tokenbook_node::node: node started",
        );
        let c = count(text);
        assert_eq!(c, LogCounts { late_rounds: 1, gossip_drops: 1 });
    }
}
