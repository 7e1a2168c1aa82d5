//! `tokenbook watch`: follows the node's WebSocket stream (`/v1/stream`) and prints fills,
//! trades, blocks or the top of a book as they are committed, one line each (JSON lines with
//! `--json`). A client the node drops for lagging is told so and exits non-zero.

use crate::node::{CliError, CliResult, Node};
use crate::output::event_line;
use crate::units::{self, MarketInfo, int};
use clap::ValueEnum;
use serde_json::{Value, json};

/// What to watch.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Your account's fills (or `--account`'s).
    Fills,
    /// Every trade (or one market's).
    Trades,
    /// The top of one market's book after every block.
    Book,
    /// Every committed block.
    Blocks,
}

/// The watch's options.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The topic.
    pub topic: Topic,
    /// Market filter (trades) or the market (book).
    pub market: Option<String>,
    /// Account filter (fills).
    pub account: Option<u64>,
    /// Stop after this many printed lines.
    pub count: Option<u64>,
}

/// Runs until interrupted (or `count` lines).
///
/// # Errors
/// Connection failures, a market that does not exist, being dropped for lagging.
pub fn run(node: &Node, watch: &Watch, as_json: bool) -> CliResult<()> {
    let markets = units::markets(node)?;
    let market = watch.market.as_deref().map(|m| units::market(node, m)).transpose()?;
    if watch.topic == Topic::Book && market.is_none() {
        return Err(CliError::new("bad_argument", "watch book needs a MARKET"));
    }
    let mut url = format!("{}/v1/stream", node.url.replacen("http", "ws", 1));
    if let Some(account) = watch.account.filter(|_| watch.topic == Topic::Fills) {
        url.push_str(&format!("?account={account}"));
    }
    let (mut socket, _) = tungstenite::connect(&url)
        .map_err(|e| CliError::new("node_unreachable", format!("{url}: {e}")))?;
    let mut printed = 0u64;
    while watch.count.is_none_or(|n| printed < n) {
        let message =
            socket.read().map_err(|e| CliError::new("stream_closed", format!("{url}: {e}")))?;
        let Ok(text) = message.to_text() else { continue };
        let Ok(event) = serde_json::from_str::<Value>(text) else { continue };
        if event["type"] == "lagged" {
            return Err(CliError::new(
                "stream_lagged",
                format!("fell behind by {} messages", event["missed"]),
            ));
        }
        if let Some(line) = line(node, watch, market.as_ref(), &markets, &event, as_json)? {
            output_line(&line);
            printed += 1;
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn output_line(line: &str) {
    println!("{line}");
}

/// The line to print for a stream message, if the watch wants it.
fn line(
    node: &Node,
    watch: &Watch,
    market: Option<&MarketInfo>,
    markets: &[MarketInfo],
    event: &Value,
    as_json: bool,
) -> CliResult<Option<String>> {
    let kind = event["type"].as_str().unwrap_or("");
    let in_market = market.is_none_or(|m| event["market"].as_u64() == Some(u64::from(m.id)));
    Ok(match (watch.topic, kind) {
        (Topic::Blocks, "block") => Some(if as_json {
            event.to_string()
        } else {
            format!(
                "height {} txs {} root {}",
                event["height"],
                event["txs"],
                event["state_root"].as_str().unwrap_or("?")
            )
        }),
        (Topic::Fills | Topic::Trades, "trade") if in_market => Some(if as_json {
            event.to_string()
        } else {
            let mut fill = event.clone();
            fill["event"] = json!("fill");
            format!("height {} {}", event["height"], event_line(markets, &fill))
        }),
        (Topic::Book, "block") => match market {
            Some(m) => Some(top_of_book(node, m, as_json)?),
            None => None,
        },
        _ => None,
    })
}

fn top_of_book(node: &Node, m: &MarketInfo, as_json: bool) -> CliResult<String> {
    let book = node.get(&format!("/v1/markets/{}/book?depth=1", m.symbol))?;
    if as_json {
        return Ok(book.to_string());
    }
    let side = |name: &str| {
        book[name].get(0).map_or_else(
            || "-".to_string(),
            |l| {
                format!(
                    "{} x {}",
                    int(&l["qty"]),
                    units::ticks_to_price(int(&l["price"]), m.tick_size)
                )
            },
        )
    };
    Ok(format!(
        "height {} {}  bid {}  ask {}",
        book["height"],
        m.symbol,
        side("bids"),
        side("asks")
    ))
}
