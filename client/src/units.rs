//! Money at the edge: the CLI reads and prints USD as decimals and converts them to the ledger's
//! integers — cash in micro-USD, prices in ticks of the market's tick size — with the ledger's
//! own conversions (`tokenbook_ledger::units`, one rule for every edge), refusing any amount
//! that is not a whole number of units with the ledger's stable codes (`not_a_number`,
//! `too_precise`, `price_off_tick`, `out_of_range`).

use crate::node::{CliError, CliResult, Node};
use serde_json::Value;
use tokenbook_ledger::units::{self, UnitError};
use tokenbook_protocol::{Cash, Price};

fn refused(e: &UnitError) -> CliError {
    CliError::new(e.code(), e.to_string())
}

/// `"12.5"` USD → 12,500,000 micro-USD.
///
/// # Errors
/// Not a decimal, finer than a micro-dollar, or out of range.
pub fn usd_to_cash(text: &str) -> CliResult<i128> {
    units::cash_from_text(text).map(Cash::get).map_err(|e| refused(&e))
}

/// Micro-USD → `"12.5"`-style text without trailing zeros.
#[must_use]
pub fn cash_to_usd(micros: i128) -> String {
    units::cash_to_short_text(Cash::new(micros))
}

/// A USD price → ticks of `tick_size` micro-USD.
///
/// # Errors
/// Not a decimal, or not a whole number of ticks.
pub fn price_to_ticks(text: &str, tick_size: i128) -> CliResult<i64> {
    units::price_from_text_on(Cash::new(tick_size), text).map(Price::get).map_err(|e| refused(&e))
}

/// Ticks → USD text.
#[must_use]
pub fn ticks_to_price(ticks: i64, tick_size: i128) -> String {
    units::price_to_text_on(Cash::new(tick_size), Price::new(ticks))
}

/// A listed market's terms, as `/v1/markets` gives them.
#[derive(Debug, Clone)]
pub struct MarketInfo {
    /// Id.
    pub id: u32,
    /// Symbol.
    pub symbol: String,
    /// Micro-USD per tick.
    pub tick_size: i128,
}

/// Every market the node lists.
///
/// # Errors
/// The node's errors.
pub fn markets(node: &Node) -> CliResult<Vec<MarketInfo>> {
    parse_markets(&node.get("/v1/markets")?)
}

/// Every market the node lists, from the CLI's cache in `dir` when it has them (the terms a
/// CLI uses — id, symbol, tick size — never change once listed).
///
/// # Errors
/// The node's errors.
pub fn markets_cached(node: &Node, dir: &std::path::Path) -> CliResult<Vec<MarketInfo>> {
    let mut cache = crate::cache::Cache::open(dir);
    let mut entry = cache.node(&node.url);
    if let Some(list) = &entry.markets {
        let parsed: Option<Vec<MarketInfo>> = list
            .iter()
            .map(|m| {
                Some(MarketInfo {
                    id: m.id,
                    symbol: m.symbol.clone(),
                    tick_size: m.tick_size.parse().ok()?,
                })
            })
            .collect();
        if let Some(parsed) = parsed {
            return Ok(parsed);
        }
    }
    let fresh = markets(node)?;
    entry.markets = Some(
        fresh
            .iter()
            .map(|m| crate::cache::CachedMarket {
                id: m.id,
                symbol: m.symbol.clone(),
                tick_size: m.tick_size.to_string(),
            })
            .collect(),
    );
    cache.store(&node.url, entry);
    Ok(fresh)
}

/// The terms in a `/v1/markets` answer.
///
/// # Errors
/// An answer that is not a list of markets (`node_bad_answer`).
pub fn parse_markets(list: &Value) -> CliResult<Vec<MarketInfo>> {
    let bad = || CliError::new("node_bad_answer", "a market without id, symbol or tick size");
    let parse = |m: &Value| -> CliResult<MarketInfo> {
        Ok(MarketInfo {
            id: m["id"].as_u64().and_then(|id| u32::try_from(id).ok()).ok_or_else(bad)?,
            symbol: m["symbol"].as_str().ok_or_else(bad)?.to_string(),
            tick_size: m["tick_size"].as_str().and_then(|t| t.parse().ok()).ok_or_else(bad)?,
        })
    };
    list.as_array().ok_or_else(bad)?.iter().map(parse).collect()
}

/// The market named by symbol (case-insensitive) or id.
///
/// # Errors
/// No such market (`market_unknown`), or the node's errors.
pub fn market(node: &Node, name: &str) -> CliResult<MarketInfo> {
    find(&markets(node)?, name).cloned()
}

/// The market named by symbol (case-insensitive) or id among `markets`.
///
/// # Errors
/// No such market (`market_unknown`).
pub fn find<'a>(markets: &'a [MarketInfo], name: &str) -> CliResult<&'a MarketInfo> {
    markets
        .iter()
        .find(|m| m.symbol.eq_ignore_ascii_case(name) || m.id.to_string() == name)
        .ok_or_else(|| {
            CliError::new("market_unknown", format!("no market {name:?} (see `tokenbook markets`)"))
        })
}

/// A quantity field (JSON decimal string) as an integer.
#[must_use]
pub fn int(value: &Value) -> i64 {
    value.as_str().and_then(|s| s.parse().ok()).or_else(|| value.as_i64()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_round_trips_through_micro_units() {
        assert_eq!(usd_to_cash("12.5"), Ok(12_500_000));
        assert_eq!(usd_to_cash("-0.000001"), Ok(-1));
        assert_eq!(cash_to_usd(12_500_000), "12.5");
        assert_eq!(usd_to_cash("0.0000001").map_err(|e| e.code), Err("too_precise".into()));
        assert_eq!(usd_to_cash("ten").map_err(|e| e.code), Err("not_a_number".into()));
    }

    #[test]
    fn prices_must_be_whole_ticks() {
        assert_eq!(price_to_ticks("10.01", 10_000), Ok(1_001));
        assert_eq!(ticks_to_price(1_001, 10_000), "10.01");
        assert_eq!(
            price_to_ticks("10.015", 10_000).map_err(|e| e.code),
            Err("price_off_tick".into())
        );
    }
}
