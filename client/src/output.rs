//! Printing: aligned text tables for people, one JSON document for programs (`--json`), and one
//! readable line per ledger event.

use crate::units::{MarketInfo, cash_to_usd, int, ticks_to_price};
use serde_json::Value;

/// Prints rows under headers with columns padded to their widest cell.
#[allow(clippy::print_stdout)]
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a JSON value on one line.
#[allow(clippy::print_stdout)]
pub fn json(value: &Value) {
    println!("{value}");
}

/// The market a JSON market id names.
fn by_id<'a>(markets: &'a [MarketInfo], market: &Value) -> Option<&'a MarketInfo> {
    markets.iter().find(|m| Some(u64::from(m.id)) == market.as_u64())
}

/// A price in ticks as USD, given the market id and the markets' terms.
#[must_use]
pub fn price(markets: &[MarketInfo], market: &Value, ticks: &Value) -> String {
    by_id(markets, market).map_or_else(
        || format!("{} ticks", int(ticks)),
        |m| ticks_to_price(int(ticks), m.tick_size),
    )
}

/// A market id as its symbol.
#[must_use]
pub fn symbol(markets: &[MarketInfo], market: &Value) -> String {
    by_id(markets, market).map_or_else(|| market.to_string(), |m| m.symbol.clone())
}

/// One ledger event (the API's tagged JSON) as a line for people.
#[must_use]
pub fn event_line(markets: &[MarketInfo], e: &Value) -> String {
    let m = &e["market"];
    let at = |field: &str| price(markets, m, &e[field]);
    match e["event"].as_str().unwrap_or("?") {
        "order_accepted" => format!(
            "order {} accepted: {} {} {} @ {}, {} resting",
            e["order"],
            e["side"].as_str().unwrap_or("?"),
            int(&e["qty"]),
            symbol(markets, m),
            at("price"),
            int(&e["resting"])
        ),
        "fill" => format!(
            "fill: {} lots of {} @ {} (maker order {} of account {}, taker order {} of account {})",
            int(&e["qty"]),
            symbol(markets, m),
            at("price"),
            e["maker_order"],
            e["maker"],
            e["taker_order"],
            e["taker"]
        ),
        "order_cancelled" => format!(
            "order {} cancelled ({}), {} lots unfilled",
            e["order"],
            e["reason"].as_str().map_or_else(|| e["reason"].to_string(), String::from),
            int(&e["remaining"])
        ),
        "order_replaced" => format!(
            "order {} replaced: {} lots at {} ticks{}",
            e["order"],
            int(&e["qty"]),
            int(&e["price"]),
            if e["kept_priority"] == Value::Bool(true) { ", kept its place" } else { "" }
        ),
        "deposited" | "withdrawn" => format!(
            "{} ${} for account {}",
            e["event"].as_str().unwrap_or("?"),
            cash_to_usd(int(&e["amount"]).into()),
            e["account"]
        ),
        "account_registered" => {
            format!(
                "account {} registered (member {}, owner {})",
                e["account"], e["member"], e["owner"]
            )
        }
        other => format!("{other}: {}", compact(e)),
    }
}

/// The event's fields other than its tag.
fn compact(e: &Value) -> String {
    let mut fields = e.clone();
    if let Some(map) = fields.as_object_mut() {
        map.remove("event");
    }
    fields.to_string()
}

/// Prints a submit answer: the receipt's events (committed) or the admitted hash.
#[allow(clippy::print_stdout)]
pub fn receipt(markets: &[MarketInfo], answer: &Value, as_json: bool) {
    if as_json {
        return json(answer);
    }
    let hash = answer["hash"].as_str().unwrap_or("?");
    match answer["status"].as_str() {
        Some("committed") if answer["accepted"] == Value::Bool(false) => println!(
            "refused at height {} (tx {hash}): {} ({})",
            answer["height"],
            answer["message"].as_str().unwrap_or("?"),
            answer["code"].as_str().unwrap_or("?")
        ),
        Some("committed") => {
            println!("committed at height {} (tx {hash})", answer["height"]);
            for event in answer["events"].as_array().into_iter().flatten() {
                println!("  {}", event_line(markets, event));
            }
        }
        Some("pending") => println!("pending in the mempool (tx {hash})"),
        _ => println!("admitted to the mempool (tx {hash}); `tokenbook tx {hash}` shows its fate"),
    }
}
