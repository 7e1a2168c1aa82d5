//! Order flow for a running devnet, through the validators' public API only: traders are
//! registered and funded by member 0, every member publishes both index prices on a shared
//! random walk (the oracle needs a quorum of members), market makers keep a ladder of quotes
//! around each index, and takers cross the spread.
//!
//! Everything is signed here with the traders' and members' keys, exactly as any client would
//! (docs/wire-format.md); the node is never reached any other way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokenbook_protocol::codec::encode;
use tokenbook_protocol::{
    AccountId, AccountLimits, CancelAll, Cash, CashTransfer, Hash, IndexId, IndexObservation,
    Keypair, MarketId, NewOrder, OrderKind, Price, Qty, RegisterAccount, SelfTradePrevention, Side,
    TimeInForce, Timestamp, Tx, TxBody, TxPayload,
};

use crate::setup::CHAIN;

/// The two devnet contracts: market id, index id, reference price in ticks.
pub const MARKETS: [(u32, u32, i64); 2] = [(1, 1, 1_000), (2, 2, 250)];
/// Micro-USD per tick of quoted price ($0.01).
const CASH_PER_TICK: i128 = 10_000;

/// Counters the status line reads.
#[derive(Debug, Default)]
pub struct FlowStats {
    /// Txs the API admitted.
    pub admitted: AtomicU64,
    /// Txs the API refused.
    pub refused: AtomicU64,
    /// The last refusal's code and message.
    pub last_refusal: std::sync::Mutex<String>,
}

/// Signs with per-account nonces (the wall clock in ms, bumped so an account never reuses one).
#[derive(Debug, Default)]
pub struct Signer {
    last: BTreeMap<u64, u64>,
}

impl Signer {
    /// Signs `body` for `account` with `key`.
    pub fn sign(&mut self, key: &Keypair, account: AccountId, body: TxBody) -> Tx {
        let now = tokenbook_node::runtime::now_ms();
        let last = self.last.entry(account.get()).or_insert(0);
        *last = (*last + 1).max(now);
        TxPayload { account, signer: key.public_key(), nonce: *last, body }.sign(key, CHAIN)
    }
}

/// Submits through `api` (`http://host:port`); `wait` blocks until committed.
///
/// # Errors
/// The node is unreachable or refused the tx (its code and message).
pub async fn submit(http: &reqwest::Client, api: &str, tx: &Tx, wait: bool) -> Result<(), String> {
    let url = if wait { format!("{api}/v1/tx?wait=commit") } else { format!("{api}/v1/tx") };
    let response = http.post(url).body(encode(tx)).send().await.map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if !ok || body["accepted"].as_bool() == Some(false) {
        return Err(format!("{}: {}", body["code"], body["message"]));
    }
    Ok(())
}

/// The limits `up` gives its traders.
#[must_use]
pub fn trader_limits() -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(100),
        max_open_orders: 500,
        max_position: Qty::new(5_000),
    }
}

/// Registers and funds every trader with `limits` (member 0 signs, through `api`); returns
/// their account ids, in the order of `traders`.
///
/// All registrations go into the mempool in nonce order, then every one is awaited; the ids
/// (assigned in commit order) are then read back by key, and the deposits follow the same way;
/// then the member posts its guaranty-fund contribution behind them.
///
/// # Errors
/// A tx the node refused, or one not committed within 30 s.
pub async fn fund_traders(
    http: &reqwest::Client,
    api: &str,
    member: &Keypair,
    traders: &[Keypair],
    limits: AccountLimits,
    signer: &mut Signer,
) -> Result<Vec<AccountId>, String> {
    let me = AccountId::new(1);
    let mut registrations = Vec::new();
    for trader in traders {
        let body = TxBody::RegisterAccount(RegisterAccount {
            owner: trader.public_key(),
            limits,
            self_trade_group: 0,
        });
        registrations.push(signer.sign(member, me, body));
    }
    submit_and_await(http, api, &registrations).await?;
    let mut accounts = Vec::new();
    for trader in traders {
        accounts.push(account_of(http, api, trader).await?);
    }
    let deposits: Vec<Tx> = accounts
        .iter()
        .map(|&account| {
            let body = TxBody::Deposit(CashTransfer {
                account,
                amount: Cash::new(10_000_000_000_000), // $10M
                reference: Hash::digest(&account.get().to_le_bytes()),
            });
            signer.sign(member, me, body)
        })
        .collect();
    submit_and_await(http, api, &deposits).await?;
    stand_behind(http, api, member, accounts.len(), signer).await?;
    Ok(accounts)
}

/// The clearing member stands behind its traders: it deposits to its own account and posts a
/// guaranty-fund contribution above what their margin can require (10% of their initial
/// margin, and their margin is at most their $10M each), so the devnet's traders are never
/// held to reducing by a requirement that rises at a variation-margin epoch.
async fn stand_behind(
    http: &reqwest::Client,
    api: &str,
    member: &Keypair,
    traders: usize,
    signer: &mut Signer,
) -> Result<(), String> {
    let me = AccountId::new(1);
    // $1M per trader.
    let amount = Cash::new(1_000_000_000_000 * i128::try_from(traders.max(1)).unwrap_or(1));
    let reference = Hash::digest_parts(&[b"guaranty", &amount.get().to_le_bytes()]);
    let deposit = TxBody::Deposit(CashTransfer { account: me, amount, reference });
    let post = TxBody::PostGuaranty(tokenbook_protocol::GuarantyTransfer { amount });
    // One after the other: in one block the fair sequence could order the post first.
    submit_and_await(http, api, &[signer.sign(member, me, deposit)]).await?;
    submit_and_await(http, api, &[signer.sign(member, me, post)]).await
}

/// Submits `txs` in order without waiting, then waits until each is committed and accepted.
async fn submit_and_await(http: &reqwest::Client, api: &str, txs: &[Tx]) -> Result<(), String> {
    for tx in txs {
        submit(http, api, tx, false).await?;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    for tx in txs {
        let hash = tx.hash();
        loop {
            let receipt = get_json(http, &format!("{api}/v1/tx/{hash}")).await;
            if let Some(r) = receipt.filter(|r| r["status"] == "committed") {
                if r["accepted"].as_bool() != Some(true) {
                    return Err(format!("tx {hash}: {}: {}", r["code"], r["message"]));
                }
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("tx {hash} not committed within 30 s"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The account a registered key owns.
async fn account_of(http: &reqwest::Client, api: &str, key: &Keypair) -> Result<AccountId, String> {
    let url = format!("{api}/v1/keys/{}", key.public_key().to_hex());
    let grant = get_json(http, &url).await.ok_or_else(|| format!("{url}: no answer"))?;
    grant["account"].as_u64().map(AccountId::new).ok_or_else(|| format!("{url}: {grant}"))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// A tiny deterministic generator (the flow's randomness need not be secret).
#[derive(Debug)]
pub struct Walk(u64);

impl Walk {
    /// Seeded.
    #[must_use]
    pub fn new(seed: u64) -> Walk {
        Walk(seed | 1)
    }

    /// Next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Every member publishes both indexes at `prices` (ticks).
///
/// # Errors
/// A node refused a publication.
pub async fn publish_indexes(
    http: &reqwest::Client,
    apis: &[String],
    members: &[Keypair],
    prices: &[i64; 2],
    signer: &mut Signer,
) -> Result<(), String> {
    for (m, member) in members.iter().enumerate() {
        let account = AccountId::new(m as u64 + 1);
        for (k, (_, index, _)) in MARKETS.iter().enumerate() {
            let body = TxBody::PublishIndex(IndexObservation {
                index: IndexId::new(*index),
                price: Cash::new(i128::from(prices[k]) * CASH_PER_TICK),
                observed_at: Timestamp::new(tokenbook_node::runtime::now_ms()),
            });
            // Each member through its own validator; through the others while it is down (a
            // killed validator must not stop the oracle, or the devnet).
            let tx = signer.sign(member, account, body);
            let mut last = Ok(());
            for api in apis.iter().cycle().skip(m % apis.len()).take(apis.len()) {
                last = submit(http, api, &tx, false).await;
                if last.is_ok() {
                    break;
                }
            }
            last?;
        }
    }
    Ok(())
}

/// A limit order body (expire-maker self-trade prevention, no trigger).
#[must_use]
pub fn order(market: u32, side: Side, price: i64, qty: i64, tif: TimeInForce) -> TxBody {
    TxBody::PlaceOrder(NewOrder {
        market: MarketId::new(market),
        side,
        kind: OrderKind::Limit,
        price: Price::new(price),
        qty: Qty::new(qty),
        time_in_force: tif,
        reduce_only: false,
        client_order_id: None,
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    })
}

/// One refresh of a market maker: cancel its quotes, then a ladder of `levels` bids and asks
/// one tick apart around `mid` in every market.
pub fn quotes(signer: &mut Signer, key: &Keypair, account: AccountId, mids: &[i64; 2]) -> Vec<Tx> {
    let mut txs = vec![signer.sign(key, account, TxBody::CancelAll(CancelAll { market: None }))];
    for (k, (market, _, _)) in MARKETS.iter().enumerate() {
        for level in 1..=5 {
            let bid = mids[k] - level;
            let ask = mids[k] + level;
            txs.push(signer.sign(
                key,
                account,
                order(*market, Side::Buy, bid, 5, TimeInForce::Gtc),
            ));
            txs.push(signer.sign(
                key,
                account,
                order(*market, Side::Sell, ask, 5, TimeInForce::Gtc),
            ));
        }
    }
    txs
}

/// One taker order: crosses the spread by two ticks in a random market and direction.
pub fn take(
    signer: &mut Signer,
    key: &Keypair,
    account: AccountId,
    mids: &[i64; 2],
    walk: &mut Walk,
) -> Tx {
    let k = usize::from(walk.below(2) == 1);
    let (market, _, _) = MARKETS[k];
    let (side, price) =
        if walk.below(2) == 0 { (Side::Buy, mids[k] + 2) } else { (Side::Sell, mids[k] - 2) };
    signer.sign(
        key,
        account,
        order(market, side, price, 1 + i64::from(walk.below(3) == 1), TimeInForce::Ioc),
    )
}

/// Submits txs, counting verdicts.
pub async fn send_all(http: &reqwest::Client, api: &str, txs: Vec<Tx>, stats: &Arc<FlowStats>) {
    for tx in txs {
        match submit(http, api, &tx, false).await {
            Ok(()) => stats.admitted.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                if let Ok(mut last) = stats.last_refusal.lock() {
                    *last = e;
                }
                stats.refused.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}
