//! Read-only commands: status, markets, book, trades, account, tx — each one API read printed
//! as a table (or the node's JSON with `--json`).

use crate::node::{CliResult, Node};
use crate::output::{self, price, symbol, table};
use crate::units::{self, cash_to_usd, int};
use serde_json::Value;

/// `tokenbook status`.
///
/// # Errors
/// The node's errors.
#[allow(clippy::print_stdout)]
pub fn status(node: &Node, as_json: bool) -> CliResult<()> {
    let s = node.get("/v1/status")?;
    if as_json {
        output::json(&s);
        return Ok(());
    }
    println!("chain       {}", s["chain_id"].as_str().unwrap_or("?"));
    println!("height      {}", s["height"]);
    println!("state root  {}", s["state_root"].as_str().unwrap_or("?"));
    println!("validators  {}", s["validators"].as_array().map_or(0, Vec::len));
    println!("peers       {}", s["peers"]);
    println!("catching up {}", s["catching_up"]);
    println!("mempool     {}", s["mempool"]);
    Ok(())
}

/// `tokenbook markets`.
///
/// # Errors
/// The node's errors.
pub fn markets(node: &Node, as_json: bool) -> CliResult<()> {
    let list = node.get("/v1/markets")?;
    if as_json {
        output::json(&list);
        return Ok(());
    }
    let terms = units::parse_markets(&list)?;
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let px = |field: &str| {
                if m[field].is_null() { "-".into() } else { price(&terms, &m["id"], &m[field]) }
            };
            vec![
                m["id"].to_string(),
                m["symbol"].as_str().unwrap_or("?").into(),
                m["status"].as_str().map_or_else(|| m["status"].to_string(), String::from),
                px("mark"),
                px("best_bid"),
                px("best_ask"),
                cash_to_usd(int(&m["tick_size"]).into()),
                m["resting_orders"].to_string(),
            ]
        })
        .collect();
    table(&["id", "symbol", "status", "mark", "bid", "ask", "tick", "orders"], &rows);
    Ok(())
}

/// `tokenbook book MARKET`.
///
/// # Errors
/// The node's errors (`market_unknown`).
#[allow(clippy::print_stdout)]
pub fn book(node: &Node, market: &str, depth: usize, as_json: bool) -> CliResult<()> {
    let m = units::market(node, market)?;
    let book = node.get(&format!("/v1/markets/{}/book?depth={depth}", m.symbol))?;
    if as_json {
        output::json(&book);
        return Ok(());
    }
    println!("{} at height {}", m.symbol, book["height"]);
    let level = |l: &Value, side: &str| {
        vec![
            side.to_string(),
            units::ticks_to_price(int(&l["price"]), m.tick_size),
            int(&l["qty"]).to_string(),
            l["orders"].to_string(),
        ]
    };
    let asks = book["asks"].as_array().cloned().unwrap_or_default();
    let bids = book["bids"].as_array().cloned().unwrap_or_default();
    // Asks from the highest down to the best, then bids from the best down: a ladder.
    let mut rows: Vec<Vec<String>> = asks.iter().rev().map(|l| level(l, "ask")).collect();
    rows.extend(bids.iter().map(|l| level(l, "bid")));
    table(&["side", "price", "lots", "orders"], &rows);
    Ok(())
}

/// `tokenbook trades MARKET`.
///
/// # Errors
/// The node's errors.
pub fn trades(node: &Node, market: &str, last: usize, as_json: bool) -> CliResult<()> {
    let m = units::market(node, market)?;
    let answer = node.get(&format!("/v1/markets/{}/trades", m.symbol))?;
    let all = answer["trades"].as_array().cloned().unwrap_or_default();
    let recent = &all[all.len().saturating_sub(last)..];
    if as_json {
        output::json(&Value::Array(recent.to_vec()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = recent
        .iter()
        .map(|t| {
            vec![
                t["height"].to_string(),
                units::ticks_to_price(int(&t["price"]), m.tick_size),
                int(&t["qty"]).to_string(),
                t["taker_side"].as_str().unwrap_or("?").into(),
                t["maker"].to_string(),
                t["taker"].to_string(),
            ]
        })
        .collect();
    table(&["height", "price", "lots", "taker side", "maker", "taker"], &rows);
    Ok(())
}

/// `tokenbook account [ID]` (default: the signing key's account).
///
/// # Errors
/// The node's errors (`account_unknown`).
#[allow(clippy::print_stdout)]
pub fn account(node: &Node, id: u64, as_json: bool) -> CliResult<()> {
    let a = node.get(&format!("/v1/accounts/{id}"))?;
    if as_json {
        output::json(&a);
        return Ok(());
    }
    let terms = units::markets(node)?;
    println!("account {} (member {}) at height {}", a["id"], a["member"], a["height"]);
    println!("owner   {}", a["owner"].as_str().unwrap_or("?"));
    println!(
        "cash    ${}",
        cash_to_usd(a["cash"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0))
    );
    if a["frozen"] == Value::Bool(true) {
        println!("FROZEN");
    }
    let positions: Vec<Vec<String>> = a["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| vec![symbol(&terms, &p["market"]), int(&p["position"]["qty"]).to_string()])
        .collect();
    if !positions.is_empty() {
        println!();
        table(&["market", "position (lots)"], &positions);
    }
    let orders: Vec<Vec<String>> = a["open_orders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            vec![
                o["id"].to_string(),
                symbol(&terms, &o["market"]),
                o["side"].as_str().unwrap_or("?").into(),
                price(&terms, &o["market"], &o["price"]),
                int(&o["qty"]).to_string(),
                if o["client_order_id"].is_null() {
                    "-".into()
                } else {
                    o["client_order_id"].to_string()
                },
            ]
        })
        .collect();
    if !orders.is_empty() {
        println!();
        table(&["order", "market", "side", "price", "lots left", "client id"], &orders);
    }
    Ok(())
}

/// `tokenbook tx HASH`.
///
/// # Errors
/// The node's errors (`tx_unknown`).
pub fn tx(node: &Node, hash: &str, as_json: bool) -> CliResult<()> {
    let mut answer = node.get(&format!("/v1/tx/{hash}"))?;
    answer["hash"] = Value::String(hash.into());
    let terms = units::markets(node)?;
    output::receipt(&terms, &answer, as_json);
    Ok(())
}
