//! A ledger with a devnet-like genesis and helpers to sign txs and apply blocks.

use std::collections::BTreeMap;
use tokenbook_ledger::state::{GenesisAdmin, GenesisMember};
use tokenbook_ledger::*;
use tokenbook_protocol::*;

pub const CHAIN: &str = "tokenbook-test";
pub const GENESIS_MS: u64 = 1_795_478_400_000; // 2026-11-24
pub const DEC26_MS: u64 = 1_798_675_200_000; // 2026-12-31
pub const AIT: MarketId = MarketId::new(1);
pub const H100: MarketId = MarketId::new(2);
pub const ADMIN: AccountId = AccountId::new(5);

pub fn key(seed: u64) -> Keypair {
    let mut bytes = [0x5au8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    Keypair::from_seed(&bytes)
}

pub fn params() -> MarketParams {
    tokenbook_ledger::genesis::devnet_params()
}

pub fn ait_spec() -> MarketSpec {
    tokenbook_ledger::genesis::inference_contract()
}

pub fn h100_spec() -> MarketSpec {
    tokenbook_ledger::genesis::gpu_hour_contract()
}

pub fn limits() -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(1_000),
        max_open_orders: 100,
        max_position: Qty::new(5_000),
    }
}

pub fn genesis() -> Genesis {
    let members = (1..=4)
        .map(|n| GenesisMember {
            name: format!("Member {n}"),
            key: key(n).public_key(),
            validator: Some(Validator {
                consensus_key: key(100 + n).public_key(),
                network_key: key(200 + n).public_key(),
                power: 10,
            }),
        })
        .collect();
    let admins = vec![GenesisAdmin { name: "Operations".into(), key: key(5).public_key() }];
    Genesis {
        member_limits: limits(),
        ..tokenbook_ledger::genesis::devnet(CHAIN, Timestamp::new(GENESIS_MS), members, admins)
    }
}

pub struct Harness {
    pub state: LedgerState,
    pub keys: BTreeMap<AccountId, Keypair>,
    pub time: u64,
    seq: u64,
    next_key: u64,
    /// Block time of the last oracle feed; `None` = never. See [`Harness::block_at_current_time`].
    last_feed: Option<u64>,
    /// False turns the feed off (tests of the oracle itself).
    pub feed: bool,
    /// True when the last block carried the feed's publications.
    pub fed: bool,
    /// Index prices the feed publishes instead of the listing prices.
    feed_prices: BTreeMap<IndexId, i128>,
}

/// The feed publishes when its last publication is this old (fresh for 30 s in the devnet risk).
const FEED_EVERY_MS: u64 = 10_000;

impl Clone for Harness {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            keys: self.keys.iter().map(|(a, k)| (*a, Keypair::from_seed(&k.seed()))).collect(),
            time: self.time,
            seq: self.seq,
            next_key: self.next_key,
            last_feed: self.last_feed,
            feed: self.feed,
            fed: self.fed,
            feed_prices: self.feed_prices.clone(),
        }
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::from_genesis(&genesis())
    }

    /// A harness whose members hold no guaranty fund (floor and requirement 0): the default
    /// waterfall goes straight to the insurance fund (tests of the fund alone).
    pub fn without_guaranty() -> Self {
        let mut genesis = genesis();
        genesis.risk.guaranty_floor = Cash::ZERO;
        genesis.risk.guaranty_margin_bps = 0;
        Self::from_genesis(&genesis)
    }

    pub fn from_genesis(genesis: &Genesis) -> Self {
        let state = genesis_state(genesis).unwrap();
        let keys = (1..=5).map(|n| (AccountId::new(n), key(n))).collect();
        Self {
            state,
            keys,
            time: GENESIS_MS,
            seq: 0,
            next_key: 1_000,
            last_feed: None,
            feed: true,
            fed: false,
            feed_prices: BTreeMap::new(),
        }
    }

    pub fn member(n: u64) -> AccountId {
        AccountId::new(n)
    }

    /// A tx signed by the account's owner key.
    pub fn tx(&mut self, account: AccountId, body: TxBody) -> Tx {
        let signer = Keypair::from_seed(&self.keys[&account].seed());
        self.tx_signed(account, &signer, body)
    }

    /// A tx signed by any key.
    pub fn tx_signed(&mut self, account: AccountId, signer: &Keypair, body: TxBody) -> Tx {
        self.seq += 1;
        TxPayload { account, signer: signer.public_key(), nonce: self.time + self.seq, body }
            .sign(signer, CHAIN)
    }

    /// Applies a block one second after the previous one.
    pub fn block(&mut self, txs: &[Tx]) -> BlockOutcome {
        self.advance(1_000);
        self.block_at_current_time(txs)
    }

    pub fn advance(&mut self, ms: u64) {
        self.time += ms;
    }

    /// Applies a block at the current time. Markets on a stale index refuse new risk, so while
    /// `feed` is on, every [`FEED_EVERY_MS`] the block also carries members 1–3's publications of
    /// both indexes at the listing prices; their receipts are left out of the outcome, so a test
    /// sees exactly the receipts of its own txs, in applied order.
    pub fn block_at_current_time(&mut self, txs: &[Tx]) -> BlockOutcome {
        let feed = self.oracle_feed();
        let feed_hashes: Vec<Hash> = feed.iter().map(Tx::hash).collect();
        self.fed = !feed.is_empty();
        let all: Vec<Tx> = txs.iter().cloned().chain(feed).collect();
        let mut out = self.apply_raw(&all);
        out.receipts.retain(|r| !feed_hashes.contains(&r.tx_hash));
        out
    }

    /// From the next block on, the feed publishes the market's index at `ticks` of that market
    /// (so its mark moves there, within the band around the book's mid).
    pub fn set_index_ticks(&mut self, market: MarketId, ticks: i64) {
        let spec = &self.state.markets[&market].spec;
        self.feed_prices.insert(spec.index, i128::from(ticks) * spec.tick_size.get());
        self.last_feed = None;
    }

    fn oracle_feed(&mut self) -> Vec<Tx> {
        if !self.feed || self.last_feed.is_some_and(|t| self.time - t < FEED_EVERY_MS) {
            return Vec::new();
        }
        self.last_feed = Some(self.time);
        let prices: Vec<(IndexId, i128)> = [AIT, H100]
            .iter()
            .map(|m| {
                let spec = &self.state.markets[m].spec;
                let listing = i128::from(spec.reference_price.get()) * spec.tick_size.get();
                (spec.index, self.feed_prices.get(&spec.index).copied().unwrap_or(listing))
            })
            .collect();
        let mut feed = Vec::new();
        for member in 1..=3 {
            for (index, price) in &prices {
                let body = TxBody::PublishIndex(IndexObservation {
                    index: *index,
                    price: Cash::new(*price),
                    observed_at: Timestamp::new(self.time),
                });
                feed.push(self.tx(Self::member(member), body));
            }
        }
        feed
    }

    fn apply_raw(&mut self, txs: &[Tx]) -> BlockOutcome {
        let header = BlockHeader {
            chain_id: CHAIN.into(),
            height: self.state.height.next().unwrap(),
            time: Timestamp::new(self.time),
            proposer: key(101).public_key(),
            prev_block_hash: self.state.last_block_hash,
            prev_certificate_hash: Hash::ZERO,
            tx_root: tx_root(txs),
            state_root: Hash::ZERO,
            validator_set_hash: self.state.validators.hash(),
            next_validator_set_hash: self.state.validators.hash(),
        };
        apply_block(&mut self.state, &header, txs).unwrap()
    }

    /// Applies one tx in its own block and returns its result.
    pub fn apply(&mut self, account: AccountId, body: TxBody) -> Result<Events, Reject> {
        let tx = self.tx(account, body);
        self.block(&[tx]).receipts.remove(0).result
    }

    /// The reject code of a tx that must fail.
    pub fn code(&mut self, account: AccountId, body: TxBody) -> RejectCode {
        match self.apply(account, body) {
            Err(r) => r.code,
            Ok(events) => panic!("expected a rejection, got {events:?}"),
        }
    }

    /// A new trader under member 1 with `cash` deposited.
    pub fn trader(&mut self, cash: i128) -> AccountId {
        self.trader_with(1, cash, 0)
    }

    pub fn trader_with(&mut self, member: u64, cash: i128, group: u64) -> AccountId {
        self.next_key += 1;
        let k = key(self.next_key);
        let events = self
            .apply(
                Self::member(member),
                TxBody::RegisterAccount(RegisterAccount {
                    owner: k.public_key(),
                    limits: limits(),
                    self_trade_group: group,
                }),
            )
            .unwrap();
        let Event::AccountRegistered { account, .. } = events[0] else { panic!("{events:?}") };
        self.keys.insert(account, k);
        if cash > 0 {
            self.deposit(member, account, cash);
        }
        account
    }

    pub fn deposit(&mut self, member: u64, account: AccountId, amount: i128) {
        self.seq += 1;
        let reference = Hash::digest(&self.seq.to_le_bytes());
        self.apply(
            Self::member(member),
            TxBody::Deposit(CashTransfer { account, amount: Cash::new(amount), reference }),
        )
        .unwrap();
    }

    /// Member 1 proposes, members 2 and 3 approve (the quorum of four): the action takes effect.
    /// Returns the events of the approval that enacted it.
    pub fn govern(&mut self, action: GovAction) -> Events {
        let expires_at = Timestamp::new(self.time + 60_000);
        let opened =
            self.apply(Self::member(1), TxBody::Propose(Propose { action, expires_at })).unwrap();
        let Some(Event::ProposalOpened { proposal }) = opened.first().cloned() else {
            panic!("{opened:?}")
        };
        self.apply(Self::member(2), TxBody::Approve(Approve { proposal })).unwrap();
        let done = self.apply(Self::member(3), TxBody::Approve(Approve { proposal })).unwrap();
        assert!(done.contains(&Event::ProposalExecuted { proposal }), "{done:?}");
        done
    }

    pub fn cash(&self, account: AccountId) -> i128 {
        self.state.accounts[&account].cash.get()
    }

    pub fn position(&self, account: AccountId, market: MarketId) -> i64 {
        self.state.accounts[&account].positions.get(&market).map_or(0, |p| p.qty.get())
    }
}

/// A GTC limit order.
pub fn limit(market: MarketId, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder {
        market,
        side,
        kind: OrderKind::Limit,
        price: Price::new(price),
        qty: Qty::new(qty),
        time_in_force: TimeInForce::Gtc,
        reduce_only: false,
        client_order_id: None,
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    }
}

pub fn place(order: NewOrder) -> TxBody {
    TxBody::PlaceOrder(order)
}

/// The id of the order a successful place created.
pub fn order_id(events: &[Event]) -> OrderId {
    events
        .iter()
        .find_map(|e| match e {
            Event::OrderAccepted { order, .. } | Event::TriggerAccepted { order, .. } => {
                Some(*order)
            }
            _ => None,
        })
        .expect("an accepted order")
}

pub fn fills(events: &[Event]) -> Vec<(i64, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fill { price, qty, .. } => Some((price.get(), qty.get())),
            _ => None,
        })
        .collect()
}
