//! Trading commands: place, cancel, cancel-all, replace, and the dead-man's switch — each one
//! signed tx (docs/wire-format.md) sent to the node, optionally waiting for its commit.

use crate::node::{CliError, CliResult, Node};
use crate::sign::{KeyChoice, Signer};
use crate::units::{self, MarketInfo};
use clap::{Subcommand, ValueEnum};
use tokenbook_protocol::{
    CancelAll, CancelOrder, ClientOrderId, MarketId, NewOrder, OrderId, OrderKind, OrderRef, Price,
    Qty, ReplaceOrder, SelfTradePrevention, SetDeadman, Side, TimeInForce, Timestamp, TxBody,
};

/// `tokenbook order …`.
#[derive(Subcommand, Debug, Clone)]
pub enum OrderCommand {
    /// Place an order: `order place H100-HR-DEC26 buy 5 --price 2.50`.
    Place {
        /// Market symbol or id.
        market: String,
        /// buy or sell.
        side: SideArg,
        /// Lots.
        qty: i64,
        /// Limit price in USD (with `--market-order`, the protection price it never fills
        /// beyond).
        #[arg(long)]
        price: String,
        /// Time in force.
        #[arg(long, value_enum, default_value_t = TifArg::Gtc)]
        tif: TifArg,
        /// For `--tif gtt`: seconds the order lives (block time).
        #[arg(long)]
        expires_in: Option<u64>,
        /// A market order (IOC up to the protection `--price`).
        #[arg(long)]
        market_order: bool,
        /// Only ever reduce the position.
        #[arg(long)]
        reduce_only: bool,
        /// Your own id for the order (cancel/replace by it with `c:ID`).
        #[arg(long)]
        client_id: Option<u64>,
        /// Self-trade prevention: which order is cancelled when yours would match your own.
        #[arg(long, value_enum, default_value_t = StpArg::Maker)]
        stp: StpArg,
        /// Wait until the order is committed and print what happened to it.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel one order by id (or `c:CLIENT_ID`).
    Cancel {
        /// Market symbol or id.
        market: String,
        /// Order id, or `c:` and your client id.
        id: String,
        /// Wait for the commit.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel every open order (in one market, or all).
    CancelAll {
        /// Market symbol or id (default: every market).
        market: Option<String>,
        /// Wait for the commit.
        #[arg(long)]
        wait: bool,
    },
    /// Change an open order's price and size.
    Replace {
        /// Market symbol or id.
        market: String,
        /// Order id, or `c:` and your client id.
        id: String,
        /// New price in USD.
        #[arg(long)]
        price: String,
        /// New total lots.
        #[arg(long)]
        qty: i64,
        /// Wait for the commit.
        #[arg(long)]
        wait: bool,
    },
}

/// Order side.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SideArg {
    /// Bid.
    Buy,
    /// Ask.
    Sell,
}

/// Time in force.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TifArg {
    /// Good until cancelled.
    Gtc,
    /// Good until a time (`--expires-in`).
    Gtt,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Rest only.
    PostOnly,
}

/// Self-trade prevention mode.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum StpArg {
    /// Cancel the resting (maker) order.
    Maker,
    /// Cancel the incoming (taker) order.
    Taker,
    /// Cancel both.
    Both,
}

/// Runs an order command.
///
/// # Errors
/// Bad arguments, key or node errors, the ledger's refusal.
pub fn run(node: &Node, key: &KeyChoice, command: OrderCommand, as_json: bool) -> CliResult<()> {
    // The chain id, the markets and the key's account come from the cache when it has them:
    // the order is then one request. A refusal that says the cache may be stale clears it and
    // the order is signed again from what the node says now.
    match send_order(node, key, command.clone(), as_json) {
        Err(e) if crate::cache::STALE.contains(&e.code.as_str()) && cached(node, key) => {
            crate::cache::Cache::open(&key.dir).forget(&node.url);
            send_order(node, key, command, as_json)
        }
        result => result,
    }
}

fn cached(node: &Node, key: &KeyChoice) -> bool {
    crate::cache::Cache::open(&key.dir).node(&node.url) != crate::cache::NodeEntry::default()
}

fn send_order(node: &Node, key: &KeyChoice, command: OrderCommand, as_json: bool) -> CliResult<()> {
    let signer = Signer::open(node, key)?;
    let markets = units::markets_cached(node, &key.dir)?;
    let (body, wait) = body(&markets, command)?;
    let answer = signer.send(body, wait)?;
    crate::output::receipt(&markets, &answer, as_json);
    Ok(())
}

fn body(markets: &[MarketInfo], command: OrderCommand) -> CliResult<(TxBody, bool)> {
    Ok(match command {
        OrderCommand::Place {
            market,
            side,
            qty,
            price,
            tif,
            expires_in,
            market_order,
            reduce_only,
            client_id,
            stp,
            wait,
        } => {
            let m = units::find(markets, &market)?;
            let order = NewOrder {
                market: MarketId::new(m.id),
                side: match side {
                    SideArg::Buy => Side::Buy,
                    SideArg::Sell => Side::Sell,
                },
                kind: if market_order { OrderKind::Market } else { OrderKind::Limit },
                price: Price::new(units::price_to_ticks(&price, m.tick_size)?),
                qty: Qty::new(qty),
                time_in_force: time_in_force(tif, expires_in)?,
                reduce_only,
                client_order_id: client_id.map(ClientOrderId::new),
                self_trade: match stp {
                    StpArg::Maker => SelfTradePrevention::ExpireMaker,
                    StpArg::Taker => SelfTradePrevention::ExpireTaker,
                    StpArg::Both => SelfTradePrevention::ExpireBoth,
                },
                trigger: None,
            };
            (TxBody::PlaceOrder(order), wait)
        }
        OrderCommand::Cancel { market, id, wait } => {
            let market = MarketId::new(units::find(markets, &market)?.id);
            (TxBody::CancelOrder(CancelOrder { market, order: order_ref(&id)? }), wait)
        }
        OrderCommand::CancelAll { market, wait } => {
            let market = market
                .map(|m| units::find(markets, &m).map(|m| MarketId::new(m.id)))
                .transpose()?;
            (TxBody::CancelAll(CancelAll { market }), wait)
        }
        OrderCommand::Replace { market, id, price, qty, wait } => {
            let m = units::find(markets, &market)?;
            let replace = ReplaceOrder {
                market: MarketId::new(m.id),
                order: order_ref(&id)?,
                new_price: Price::new(units::price_to_ticks(&price, m.tick_size)?),
                new_qty: Qty::new(qty),
            };
            (TxBody::ReplaceOrder(replace), wait)
        }
    })
}

fn time_in_force(tif: TifArg, expires_in: Option<u64>) -> CliResult<TimeInForce> {
    Ok(match tif {
        TifArg::Gtc => TimeInForce::Gtc,
        TifArg::Ioc => TimeInForce::Ioc,
        TifArg::Fok => TimeInForce::Fok,
        TifArg::PostOnly => TimeInForce::PostOnly,
        TifArg::Gtt => {
            let secs = expires_in.ok_or_else(|| {
                CliError::new("bad_argument", "--tif gtt needs --expires-in SECONDS")
            })?;
            let at = crate::sign::now_ms().saturating_add(secs.saturating_mul(1_000));
            TimeInForce::Gtt(Timestamp::new(at))
        }
    })
}

/// `123` → by order id; `c:42` → by client id.
fn order_ref(text: &str) -> CliResult<OrderRef> {
    let bad =
        || CliError::new("bad_argument", format!("{text:?}: an order id, or c: and a client id"));
    match text.strip_prefix("c:") {
        Some(client) => {
            Ok(OrderRef::Client(ClientOrderId::new(client.parse().map_err(|_| bad())?)))
        }
        None => Ok(OrderRef::Id(OrderId::new(text.parse().map_err(|_| bad())?))),
    }
}

/// `tokenbook deadman set SECONDS` (0 disarms).
///
/// # Errors
/// Key or node errors, the ledger's refusal.
pub fn deadman(node: &Node, key: &KeyChoice, seconds: u64, as_json: bool) -> CliResult<()> {
    let signer = Signer::open(node, key)?;
    let body = TxBody::SetDeadman(SetDeadman { timeout_ms: seconds.saturating_mul(1_000) });
    let answer = signer.send(body, true)?;
    crate::output::receipt(&[], &answer, as_json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_refs_parse_both_forms() {
        assert_eq!(order_ref("17"), Ok(OrderRef::Id(OrderId::new(17))));
        assert_eq!(order_ref("c:9"), Ok(OrderRef::Client(ClientOrderId::new(9))));
        assert!(order_ref("c:x").is_err());
    }
}
