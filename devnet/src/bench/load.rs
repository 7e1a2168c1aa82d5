//! The bench's order flow, signed in worker threads ahead of the pacer.
//!
//! Promises: with both indexes fresh and constant at the markets' reference prices, every tx it
//! signs is one the ledger accepts for an account funded by `fund_traders` with
//! [`bench_limits`]:
//! - ~40% passive GTC orders 3–10 ticks away from the mid, which never meet a crossing order;
//! - ~50% GTC and ~10% IOC orders 1–2 ticks through the mid, each account alternating buy and
//!   sell with the same size in the same market, so its position stays within a few lots;
//! - a cancel-all every [`CANCEL_EVERY`] txs of an account, so open orders stay far below
//!   `max_open_orders`.
//!
//! Each account is signed for by one thread only, with strictly increasing nonces, and sent to one
//! validator only (as a trader would use one API), so its txs reach a mempool in nonce order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{
    AccountId, AccountLimits, CancelAll, Keypair, Qty, Side, TimeInForce, TxBody,
};

use crate::flow::{MARKETS, Signer, Walk};

/// Every this many txs, an account cancels all its orders.
pub const CANCEL_EVERY: u64 = 50;

/// A signed tx ready to send.
#[derive(Debug)]
pub struct Signed {
    /// Index of the validator whose API receives it.
    pub validator: usize,
    /// Canonical bytes (the POST body).
    pub bytes: Vec<u8>,
    /// Its hash (as the stream names it).
    pub hash: [u8; 32],
}

/// One bench account.
#[derive(Debug)]
pub struct Trader {
    key: Keypair,
    account: AccountId,
    validator: usize,
    sent: u64,
    crossing: u64,
}

impl Trader {
    /// Account `account`, owned by `key`, sending through validator `validator`; `phase`
    /// staggers which side it crosses first so both sides are always present.
    #[must_use]
    pub fn new(key: &Keypair, account: AccountId, validator: usize, phase: u64) -> Trader {
        Trader {
            key: Keypair::from_seed(&key.seed()),
            account,
            validator,
            sent: 0,
            crossing: phase,
        }
    }
}

impl Trader {
    /// Signs this trader's next tx (see [`next_body`]).
    pub fn sign_next(&mut self, signer: &mut Signer, walk: &mut Walk) -> tokenbook_protocol::Tx {
        let body = next_body(self, walk);
        signer.sign(&self.key, self.account, body)
    }
}

/// The limits of bench accounts: room for ~20 resting orders and a drifting position.
#[must_use]
pub fn bench_limits() -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(100),
        max_open_orders: 500,
        max_position: Qty::new(10_000),
    }
}

/// The next tx body of `trader` (see the module's promises).
pub fn next_body(trader: &mut Trader, walk: &mut Walk) -> TxBody {
    trader.sent += 1;
    if trader.sent % CANCEL_EVERY == 0 {
        return TxBody::CancelAll(CancelAll { market: None });
    }
    let roll = walk.below(10);
    if roll < 4 {
        let (market, _, mid) = MARKETS[usize::from(walk.below(2) == 1)];
        let away = 3 + i64::from(u8::try_from(walk.below(8)).unwrap_or(0));
        let qty = 1 + i64::from(u8::try_from(walk.below(5)).unwrap_or(0));
        return if walk.below(2) == 0 {
            crate::flow::order(market, Side::Buy, mid - away, qty, TimeInForce::Gtc)
        } else {
            crate::flow::order(market, Side::Sell, mid + away, qty, TimeInForce::Gtc)
        };
    }
    // Pairs of crossing orders: buy then sell of the same size in the same market.
    let pair = trader.crossing / 2;
    let buy = trader.crossing % 2 == 0;
    trader.crossing += 1;
    let (market, _, mid) = MARKETS[usize::from(pair % 2 == 1)];
    let qty = 1 + i64::from(u8::try_from(pair % 3).unwrap_or(0));
    let (reach, tif) = if roll < 9 { (1, TimeInForce::Gtc) } else { (2, TimeInForce::Ioc) };
    if buy {
        crate::flow::order(market, Side::Buy, mid + reach, qty, tif)
    } else {
        crate::flow::order(market, Side::Sell, mid - reach, qty, tif)
    }
}

/// Signs `count` txs before the timed window, on `threads` threads sharing `traders` (each
/// account in one thread, so each account's nonces rise in the order returned): the generator
/// then costs the validators' cores nothing but the sending.
#[must_use]
pub fn presign(traders: Vec<Trader>, threads: usize, count: usize) -> Vec<Signed> {
    let threads = threads.clamp(1, traders.len().max(1));
    let mut shares: Vec<Vec<Trader>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, trader) in traders.into_iter().enumerate() {
        shares[i % threads].push(trader);
    }
    let per_thread = count.div_ceil(threads);
    let signed: Vec<Vec<Signed>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(t, share)| scope.spawn(move || sign_n(share, t as u64, per_thread)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    // Interleave the threads' lists (each keeps its accounts' order).
    let mut lists: Vec<std::vec::IntoIter<Signed>> =
        signed.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let before = out.len();
        out.extend(lists.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            break;
        }
    }
    out.truncate(count);
    out
}

fn sign_n(mut traders: Vec<Trader>, seed: u64, count: usize) -> Vec<Signed> {
    let mut signer = Signer::default();
    let mut walk = Walk::new(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut out = Vec::with_capacity(count);
    while out.len() < count && !traders.is_empty() {
        for trader in &mut traders {
            let body = next_body(trader, &mut walk);
            let tx = signer.sign(&trader.key, trader.account, body);
            out.push(Signed { validator: trader.validator, bytes: encode(&tx), hash: tx.hash().0 });
        }
    }
    out
}

/// Sends `signed` into `out` in order on one thread until it is done, `stop` is set or `out` is
/// closed.
#[must_use]
pub fn spawn_feeder(
    signed: Vec<Signed>,
    out: &tokio::sync::mpsc::Sender<Signed>,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let (out, stop) = (out.clone(), Arc::clone(stop));
    std::thread::spawn(move || {
        for item in signed {
            if stop.load(Ordering::Relaxed) || out.blocking_send(item).is_err() {
                return;
            }
        }
    })
}

/// The signature bound of this machine for `validators` validators: orders a second when every
/// core does nothing but verify each order once per validator — the shipped batch verifier
/// (`verify_txs`, 64 a batch, keys cached as a validator caches them) over `sample`,
/// `validators` passes spread over all cores. The best of three measurements: the bound is what
/// the machine can do, and a noisy neighbour only ever slows a measurement down.
#[must_use]
pub fn signature_bound(sample: &[tokenbook_protocol::Tx], validators: usize, chain: &str) -> f64 {
    (0..3).map(|_| measure_bound(sample, validators, chain)).fold(0.0, f64::max)
}

fn measure_bound(sample: &[tokenbook_protocol::Tx], validators: usize, chain: &str) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for core in 0..cores {
            scope.spawn(move || {
                for _pass in (core..validators).step_by(cores) {
                    let mut checker = tokenbook_node::sigs::SigChecker::new();
                    for chunk in sample.chunks(64) {
                        let verdicts = tokenbook_node::mempool::verify_txs(
                            &mut checker,
                            chain,
                            chunk.to_vec(),
                        );
                        debug_assert!(verdicts.iter().all(Result::is_ok));
                    }
                }
            });
        }
    });
    #[allow(clippy::cast_precision_loss)]
    let orders = sample.len() as f64;
    orders / started.elapsed().as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trader() -> Trader {
        Trader::new(&Keypair::from_seed(&[7; 32]), AccountId::new(9), 0, 0)
    }

    fn order_of(body: &TxBody) -> Option<&tokenbook_protocol::NewOrder> {
        match body {
            TxBody::PlaceOrder(order) => Some(order),
            _ => None,
        }
    }

    #[test]
    fn crossing_orders_alternate_sides_with_equal_sizes_per_market() {
        let (mut trader, mut walk) = (trader(), Walk::new(1));
        let mut net = std::collections::BTreeMap::<u32, i64>::new();
        let mut cancels = 0;
        for _ in 0..10_000 {
            let body = next_body(&mut trader, &mut walk);
            let Some(order) = order_of(&body) else {
                cancels += 1;
                continue;
            };
            let (_, _, mid) = MARKETS[usize::try_from(order.market.get() - 1).unwrap_or(0)];
            let through = match order.side {
                Side::Buy => order.price.get() >= mid,
                Side::Sell => order.price.get() <= mid,
            };
            if through {
                let signed =
                    if order.side == Side::Buy { order.qty.get() } else { -order.qty.get() };
                *net.entry(order.market.get()).or_default() += signed;
                assert!(net.values().all(|n| n.abs() <= 3), "{net:?}");
            } else {
                assert!((order.price.get() - mid).abs() >= 3, "passive orders never cross");
            }
        }
        assert_eq!(cancels, 10_000 / CANCEL_EVERY);
    }
}
