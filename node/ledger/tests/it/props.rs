//! Random trading through `apply_block`: every block keeps the invariants (checked inside
//! `apply_block`, fully in debug builds), replays are byte-identical, and the fair sequence makes
//! the proposer's tx order irrelevant.

use crate::harness::*;
use proptest::prelude::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

#[derive(Clone, Debug)]
enum Action {
    Place {
        trader: usize,
        market: bool,
        buy: bool,
        offset: i64,
        qty: i64,
        tif: u8,
        stp: u8,
        reduce_only: bool,
        cid: Option<u64>,
    },
    Cancel {
        trader: usize,
        market: bool,
        cid: u64,
    },
    CancelAll {
        trader: usize,
    },
    Replace {
        trader: usize,
        market: bool,
        cid: u64,
        offset: i64,
        qty: i64,
    },
    Deadman {
        trader: usize,
        ms: u64,
    },
    Deposit {
        trader: usize,
        amount: i128,
    },
    /// Not a tx: the oracle feed moves the market's index this many ticks from its listing price.
    Oracle {
        market: bool,
        offset: i64,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let t = 0usize..6;
    prop_oneof![
        8 => (t.clone(), any::<bool>(), any::<bool>(), -30i64..30, 1i64..40, 0u8..6, 0u8..3, prop::bool::weighted(0.1), prop::option::of(0u64..8))
            .prop_map(|(trader, market, buy, offset, qty, tif, stp, reduce_only, cid)| Action::Place { trader, market, buy, offset, qty, tif, stp, reduce_only, cid }),
        3 => (t.clone(), any::<bool>(), 0u64..8).prop_map(|(trader, market, cid)| Action::Cancel { trader, market, cid }),
        1 => t.clone().prop_map(|trader| Action::CancelAll { trader }),
        2 => (t.clone(), any::<bool>(), 0u64..8, -30i64..30, 1i64..40).prop_map(|(trader, market, cid, offset, qty)| Action::Replace { trader, market, cid, offset, qty }),
        1 => (t.clone(), 0u64..4_000).prop_map(|(trader, ms)| Action::Deadman { trader, ms }),
        1 => (t, 1i128..1_000_000_000).prop_map(|(trader, amount)| Action::Deposit { trader, amount }),
        1 => (any::<bool>(), -200i64..200).prop_map(|(market, offset)| Action::Oracle { market, offset }),
    ]
}

fn body(a: &Action) -> TxBody {
    let market = |m: bool| if m { AIT } else { H100 };
    let mid = |m: bool| if m { 1_000 } else { 250 };
    match *a {
        Action::Place { market: m, buy, offset, qty, tif, stp, reduce_only, cid, .. } => {
            let time_in_force = [
                TimeInForce::Gtc,
                TimeInForce::Ioc,
                TimeInForce::Fok,
                TimeInForce::PostOnly,
                TimeInForce::Gtt(Timestamp::new(GENESIS_MS + 20_000)),
                TimeInForce::Gtc,
            ][tif as usize];
            TxBody::PlaceOrder(NewOrder {
                market: market(m),
                side: if buy { Side::Buy } else { Side::Sell },
                kind: if tif == 5 { OrderKind::Market } else { OrderKind::Limit },
                price: Price::new(mid(m) + offset),
                qty: Qty::new(qty),
                time_in_force: if tif == 5 { TimeInForce::Ioc } else { time_in_force },
                reduce_only,
                client_order_id: cid.map(ClientOrderId::new),
                self_trade: [
                    SelfTradePrevention::ExpireMaker,
                    SelfTradePrevention::ExpireTaker,
                    SelfTradePrevention::ExpireBoth,
                ][stp as usize],
                trigger: None,
            })
        }
        Action::Cancel { market: m, cid, .. } => TxBody::CancelOrder(CancelOrder {
            market: market(m),
            order: OrderRef::Client(ClientOrderId::new(cid)),
        }),
        Action::CancelAll { .. } => TxBody::CancelAll(CancelAll { market: None }),
        Action::Replace { market: m, cid, offset, qty, .. } => TxBody::ReplaceOrder(ReplaceOrder {
            market: market(m),
            order: OrderRef::Client(ClientOrderId::new(cid)),
            new_price: Price::new(mid(m) + offset),
            new_qty: Qty::new(qty),
        }),
        Action::Deadman { ms, .. } => TxBody::SetDeadman(SetDeadman { timeout_ms: ms }),
        Action::Deposit { trader, amount } => TxBody::Deposit(CashTransfer {
            account: AccountId::new(6 + trader as u64),
            amount: Cash::new(amount),
            reference: Hash::digest(&amount.to_le_bytes()),
        }),
        Action::Oracle { .. } => unreachable!("oracle moves are not txs"),
    }
}

fn trader_of(a: &Action) -> usize {
    match *a {
        Action::Place { trader, .. }
        | Action::Cancel { trader, .. }
        | Action::CancelAll { trader }
        | Action::Replace { trader, .. }
        | Action::Deadman { trader, .. }
        | Action::Deposit { trader, .. } => trader,
        Action::Oracle { .. } => 0,
    }
}

/// The state as ordered key → value bytes.
type StateBytes = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

/// Six traders; the last two hold little cash, so oracle moves can take them below maintenance
/// margin (up to 40 lots of AIT at 1,000 ticks is a 4 × 10^10 position).
fn setup() -> (Harness, Vec<AccountId>) {
    let mut h = Harness::new();
    let traders = (0..6)
        .map(|i| {
            let cash = if i < 4 { 50_000_000_000 } else { 3_000_000_000 };
            h.trader_with(1 + (i % 2) as u64, cash, (i / 3) as u64)
        })
        .collect();
    (h, traders)
}

/// The block's txs; oracle moves are applied to the harness's feed instead.
fn txs_of(h: &mut Harness, traders: &[AccountId], block: &[Action]) -> Vec<Tx> {
    block
        .iter()
        .filter_map(|a| match a {
            Action::Oracle { market, offset } => {
                let (m, listing) = if *market { (AIT, 1_000) } else { (H100, 250) };
                h.set_index_ticks(m, (listing + offset).max(1));
                None
            }
            Action::Deposit { .. } => {
                Some(h.tx(Harness::member(1 + (trader_of(a) % 2) as u64), body(a)))
            }
            _ => Some(h.tx(traders[trader_of(a)], body(a))),
        })
        .collect()
}

/// Runs the blocks from a fresh ledger; returns every block's receipts and the final state bytes.
fn run(blocks: &[Vec<Action>]) -> (Vec<Vec<Receipt>>, StateBytes) {
    let (mut h, traders) = setup();
    let mut all = Vec::new();
    for block in blocks {
        let txs = txs_of(&mut h, &traders, block);
        all.push(h.block(&txs).receipts);
    }
    invariants::check_full(&h.state).unwrap();
    (all, kv::export(&h.state))
}

/// Everything but the block hash (which covers the tx order) and the position of each tx.
fn comparable(h: &Harness, mut receipts: Vec<Receipt>) -> (Vec<Receipt>, StateBytes) {
    receipts.iter_mut().for_each(|r| r.tx_index = 0);
    let mut state = h.state.clone();
    state.last_block_hash = Hash::ZERO;
    (receipts, kv::export(&state))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Invariants hold after every block (asserted inside apply_block, fully in debug builds),
    /// and two runs of the same stream give the same receipts and byte-identical state.
    #[test]
    fn random_trading_is_deterministic_and_keeps_invariants(
        blocks in prop::collection::vec(prop::collection::vec(action(), 0..25), 1..15)
    ) {
        let (receipts_a, state_a) = run(&blocks);
        let (receipts_b, state_b) = run(&blocks);
        prop_assert_eq!(receipts_a, receipts_b);
        prop_assert!(state_a == state_b, "state differs between two runs of the same stream");
    }

    /// After any history, the order in which the proposer lists a block's txs changes nothing
    /// but the block hash.
    #[test]
    fn the_proposer_cannot_choose_who_goes_first(
        history in prop::collection::vec(prop::collection::vec(action(), 0..15), 0..6),
        block in prop::collection::vec(action(), 1..30),
    ) {
        let (mut h, traders) = setup();
        for b in &history {
            let txs = txs_of(&mut h, &traders, b);
            h.block(&txs);
        }
        let txs = txs_of(&mut h, &traders, &block);
        let mut reversed_h = h.clone();
        let mut reversed = txs.clone();
        reversed.reverse();
        let forward = h.block(&txs).receipts;
        let backward = reversed_h.block(&reversed).receipts;
        let mut a = comparable(&h, forward);
        let mut b = comparable(&reversed_h, backward);
        a.0.sort_by_key(|r| r.tx_hash);
        b.0.sort_by_key(|r| r.tx_hash);
        prop_assert_eq!(a, b);
    }
}

/// The random streams above do reach liquidation and deleveraging (so the invariants are tested
/// through them): over 64 streams from a fixed seed, both happen.
#[test]
fn random_streams_exercise_liquidation() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let stream = prop::collection::vec(prop::collection::vec(action(), 0..25), 1..15);
    let (mut liquidations, mut deleveraged) = (0, 0);
    for _ in 0..64 {
        let blocks = stream.new_tree(&mut runner).unwrap().current();
        let (mut h, traders) = setup();
        for block in &blocks {
            let txs = txs_of(&mut h, &traders, block);
            for event in h.block(&txs).end_events {
                match event {
                    Event::Liquidated { .. } => liquidations += 1,
                    Event::Deleveraged { .. } => deleveraged += 1,
                    _ => {}
                }
            }
        }
    }
    println!("{liquidations} liquidations, {deleveraged} deleveraging fills over 64 streams");
    assert!(liquidations > 0 && deleveraged > 0, "{liquidations} liquidations, {deleveraged} ADL");
}

#[test]
fn fair_sequence_classes_and_proposer_independence() {
    let mut h = Harness::new();
    let a = h.trader(1_000_000_000_000);
    let place_tx = h.tx(
        a,
        place(NewOrder {
            client_order_id: Some(ClientOrderId::new(1)),
            ..limit(AIT, Side::Buy, 990, 1)
        }),
    );
    let post = h.tx(
        a,
        place(NewOrder { time_in_force: TimeInForce::PostOnly, ..limit(AIT, Side::Buy, 989, 1) }),
    );
    let cancel = h.tx(
        a,
        TxBody::CancelOrder(CancelOrder {
            market: AIT,
            order: OrderRef::Client(ClientOrderId::new(1)),
        }),
    );
    let index = h.tx(
        Harness::member(1),
        TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(1),
            observed_at: Timestamp::new(h.time),
        }),
    );
    let txs = vec![place_tx.clone(), post.clone(), cancel.clone(), index.clone()];
    let order = fair_sequence(&h.state.last_block_hash, &txs);
    // Oracle first, then the cancel, then post-only, then the rest.
    assert_eq!(order, vec![3, 2, 1, 0]);
    let out = h.block(&txs);
    // The cancel ran before the order it names existed.
    assert_eq!(out.receipts[1].result.as_ref().unwrap_err().code, RejectCode::OrderUnknown);
    // Within a class the order comes from SHA-256(previous block hash ‖ tx hash), not position.
    let many: Vec<Tx> =
        (0..20).map(|i| h.tx(a, place(limit(AIT, Side::Buy, 900 + i, 1)))).collect();
    let forward = fair_sequence(&h.state.last_block_hash, &many);
    let mut reversed = many.clone();
    reversed.reverse();
    let backward: Vec<usize> =
        fair_sequence(&h.state.last_block_hash, &reversed).into_iter().map(|i| 19 - i).collect();
    assert_eq!(forward, backward);
    assert_ne!(forward, (0..20).collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// Each block's change set, applied to a store holding the previous state, gives exactly the
    /// new state's bytes; a ledger reloaded from the store then behaves identically.
    #[test]
    fn change_sets_and_reload_track_the_ledger(
        blocks in prop::collection::vec(prop::collection::vec(action(), 0..25), 1..10),
        last in prop::collection::vec(action(), 1..25),
    ) {
        let (mut h, traders) = setup();
        let mut store = kv::MemStore(kv::export(&h.state));
        for b in &blocks {
            let txs = txs_of(&mut h, &traders, b);
            let outcome = h.block(&txs);
            kv::StateStore::apply_changes(&mut store, &kv::changes(&h.state, &outcome.touched))
                .unwrap();
            prop_assert!(store.0 == kv::export(&h.state), "store diverged from the ledger");
        }
        // Signed before the clone, so both harnesses sign the same oracle feed after them.
        let txs = txs_of(&mut h, &traders, &last);
        let mut reloaded = h.clone();
        reloaded.state = kv::import(&kv::StateStore::load_all(&store).unwrap()).unwrap();
        prop_assert!(kv::export(&reloaded.state) == store.0, "reload does not round-trip");
        let a = h.block(&txs);
        let b = reloaded.block(&txs);
        prop_assert_eq!(a, b);
        let (x, y) = (kv::export(&h.state), kv::export(&reloaded.state));
        let differing: Vec<_> = x.iter().filter(|(k, v)| y.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
        prop_assert!(x == y, "differ: {:?}", differing);
    }
}

#[test]
fn import_refuses_damaged_stores() {
    let (h, _) = setup();
    let good = kv::export(&h.state);
    assert!(kv::import(&good).is_ok());
    let mut no_globals = good.clone();
    no_globals.remove(&vec![kv::table::GLOBALS]);
    assert!(kv::import(&no_globals).unwrap_err().contains("globals"));
    let mut truncated = good.clone();
    let account = truncated.keys().find(|k| k[0] == kv::table::ACCOUNT).unwrap().clone();
    truncated.get_mut(&account).unwrap().pop();
    assert!(kv::import(&truncated).unwrap_err().contains("account"));
    let mut foreign = good.clone();
    foreign.insert(vec![0x7f], vec![]);
    assert!(kv::import(&foreign).unwrap_err().contains("unknown table"));
    // Decodable but absurd: two accounts holding i128::MAX each overflow the recount.
    let mut rich = good;
    for (key, value) in rich.iter_mut().filter(|(k, _)| k[0] == kv::table::ACCOUNT).take(2) {
        let mut account: state::Account = tokenbook_protocol::codec::decode_record(value).unwrap();
        account.cash = Cash::new(i128::MAX);
        *value = tokenbook_protocol::codec::encode(&account);
        assert_eq!(key[0], kv::table::ACCOUNT);
    }
    assert!(kv::import(&rich).unwrap_err().contains("overflow"));
}

/// The state bytes with the parts a refused tx may change blanked out: the block's globals
/// (height, time, hash) and every account's nonce window.
fn without_nonces_and_clock(state: &LedgerState) -> StateBytes {
    let mut bytes = kv::export(state);
    bytes.remove(&vec![kv::table::GLOBALS]);
    for (key, value) in bytes.iter_mut() {
        if key[0] == kv::table::ACCOUNT {
            let mut account: state::Account =
                tokenbook_protocol::codec::decode_record(value).unwrap();
            account.nonces = NonceWindow::default();
            *value = tokenbook_protocol::codec::encode(&account);
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// A refused tx changes nothing but its signer's nonce window: applied alone in a block with
    /// no housekeeping, the state is otherwise byte-identical.
    #[test]
    fn refused_txs_change_nothing(
        history in prop::collection::vec(prop::collection::vec(action(), 0..15), 0..5),
        probes in prop::collection::vec(action(), 1..40),
    ) {
        let (mut h, traders) = setup();
        for b in &history {
            let txs = txs_of(&mut h, &traders, b);
            h.block(&txs);
        }
        for probe in probes.iter().filter(|p| !matches!(p, Action::Oracle { .. })) {
            let before = without_nonces_and_clock(&h.state);
            let txs = txs_of(&mut h, &traders, std::slice::from_ref(probe));
            let out = h.block(&txs);
            let quiet = out.begin_events.is_empty() && out.end_events.is_empty() && !h.fed;
            if out.receipts[0].result.is_err() && quiet {
                prop_assert!(before == without_nonces_and_clock(&h.state), "refused {:?} changed the state", probe);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// A damaged store is refused with an error, never a panic: random bytes under every table,
    /// and random single-byte corruptions of a real store.
    #[test]
    fn import_never_panics_on_damaged_stores(
        entries in prop::collection::vec((0u8..9, prop::collection::vec(any::<u8>(), 0..48), prop::collection::vec(any::<u8>(), 0..300)), 0..12),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (h, _) = setup();
        let mut random: kv::KvMap = kv::export(&h.state);
        for (table, id, value) in entries {
            let mut key = vec![table];
            key.extend_from_slice(&id);
            random.insert(key, value);
        }
        let _ = kv::import(&random);
        let mut damaged = kv::export(&h.state);
        let keys: Vec<Vec<u8>> = damaged.keys().cloned().collect();
        let key = &keys[flip.index(keys.len())];
        if let Some(value) = damaged.get_mut(key) {
            if !value.is_empty() {
                let at = flip.index(value.len());
                value[at] ^= byte | 1;
            }
        }
        let _ = kv::import(&damaged);
    }
}

/// Any body at all, with extreme field values: the ledger must refuse or apply it, never panic.
fn wild_body() -> impl Strategy<Value = TxBody> {
    let price = prop_oneof![any::<i64>(), -5i64..2_000, Just(i64::MAX), Just(i64::MIN)];
    let qty = prop_oneof![any::<i64>(), -5i64..50, Just(i64::MAX)];
    let cash = prop_oneof![any::<i128>(), -5i128..1_000_000_000, Just(i128::MAX), Just(i128::MIN)];
    let time = prop_oneof![any::<u64>(), Just(GENESIS_MS), Just(u64::MAX)];
    let market = (0u32..4).prop_map(MarketId::new);
    let account = (0u64..16).prop_map(AccountId::new);
    let key = any::<[u8; 32]>().prop_map(PublicKey);
    let limits = (qty.clone(), any::<u32>(), qty.clone()).prop_map(|(q, o, p)| AccountLimits {
        max_order_qty: Qty::new(q),
        max_open_orders: o,
        max_position: Qty::new(p),
    });
    let params = (
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        qty.clone(),
        qty.clone(),
    )
        .prop_map(|(mf, tf, im, mm, band, pl, impact)| MarketParams {
            maker_fee_bps: mf,
            taker_fee_bps: tf,
            initial_margin_bps: im,
            maintenance_margin_bps: mm,
            price_band_bps: band,
            position_limit: Qty::new(pl),
            impact_lots: Qty::new(impact),
        });
    let window = prop_oneof![Just(0u64), Just(60_000), Just(3_600_000), any::<u64>()];
    let spec = (
        cash.clone(),
        any::<u64>(),
        any::<u64>(),
        time.clone(),
        price.clone(),
        params.clone(),
        window,
    )
        .prop_map(|(tick, lot, mult, expiry, reference, params, window)| MarketSpec {
            symbol: "WILD-1".into(),
            index: IndexId::new(1),
            tick_size: Cash::new(tick),
            lot_size: lot,
            multiplier: mult,
            expiry: Timestamp::new(expiry),
            settlement_window_ms: window,
            reference_price: Price::new(reference),
            params,
        });
    let order = (
        market.clone(),
        any::<bool>(),
        any::<bool>(),
        price.clone(),
        qty.clone(),
        any::<bool>(),
        time.clone(),
    )
        .prop_map(|(market, buy, ro, p, q, trig, t)| NewOrder {
            market,
            side: if buy { Side::Buy } else { Side::Sell },
            kind: OrderKind::Limit,
            price: Price::new(p),
            qty: Qty::new(q),
            time_in_force: if trig {
                TimeInForce::Gtt(Timestamp::new(t))
            } else {
                TimeInForce::Gtc
            },
            reduce_only: ro,
            client_order_id: Some(ClientOrderId::new(t % 4)),
            self_trade: SelfTradePrevention::ExpireBoth,
            trigger: trig.then_some(Trigger { kind: TriggerKind::Stop, price: Price::new(p) }),
        });
    let gov = prop_oneof![
        spec.prop_map(GovAction::ListMarket),
        (market.clone(), params)
            .prop_map(|(market, params)| GovAction::SetMarketParams { market, params }),
        market.clone().prop_map(|market| GovAction::SetMarketStatus {
            market,
            change: MarketStatusChange::Delist
        }),
        (key.clone(), any::<u64>()).prop_map(|(k, power)| GovAction::AddValidator(Validator {
            consensus_key: k,
            network_key: k,
            power
        })),
        key.clone().prop_map(|k| GovAction::AddMember(MemberSpec { key: k, name: "Wild".into() })),
        account.clone().prop_map(|member| GovAction::RemoveMember { member }),
    ];
    prop_oneof![
        order.prop_map(TxBody::PlaceOrder),
        (market.clone(), any::<u64>()).prop_map(|(market, id)| TxBody::CancelOrder(CancelOrder {
            market,
            order: OrderRef::Id(OrderId::new(id))
        })),
        (market.clone(), any::<u64>(), price, qty).prop_map(|(market, id, p, q)| {
            TxBody::ReplaceOrder(ReplaceOrder {
                market,
                order: OrderRef::Client(ClientOrderId::new(id % 4)),
                new_price: Price::new(p),
                new_qty: Qty::new(q),
            })
        }),
        any::<u64>().prop_map(|timeout_ms| TxBody::SetDeadman(SetDeadman { timeout_ms })),
        (key.clone(), prop::option::of(time.clone())).prop_map(|(key, expires_at)| {
            TxBody::AuthoriseKey(AuthoriseKey { key, expires_at: expires_at.map(Timestamp::new) })
        }),
        (key, limits.clone(), any::<u64>()).prop_map(|(owner, limits, g)| TxBody::RegisterAccount(
            RegisterAccount { owner, limits, self_trade_group: g }
        )),
        (account.clone(), cash.clone(), any::<[u8; 32]>()).prop_map(|(account, c, r)| {
            TxBody::Deposit(CashTransfer { account, amount: Cash::new(c), reference: Hash(r) })
        }),
        (account.clone(), cash.clone(), any::<[u8; 32]>()).prop_map(|(account, c, r)| {
            TxBody::Withdraw(CashTransfer { account, amount: Cash::new(c), reference: Hash(r) })
        }),
        (account.clone(), limits)
            .prop_map(|(account, limits)| TxBody::SetLimits(SetLimits { account, limits })),
        (account, any::<bool>())
            .prop_map(|(account, frozen)| TxBody::SetFrozen(SetFrozen { account, frozen })),
        (cash, time.clone()).prop_map(|(c, t)| TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(c),
            observed_at: Timestamp::new(t)
        })),
        (gov, time).prop_map(|(action, t)| TxBody::Propose(Propose {
            action,
            expires_at: Timestamp::new(t)
        })),
        any::<u64>().prop_map(|p| TxBody::Approve(Approve { proposal: ProposalId::new(p % 4) })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Wild bodies from members and traders never panic the ledger, and every block keeps the
    /// invariants (checked inside apply_block).
    #[test]
    fn wild_txs_never_panic(blocks in prop::collection::vec(prop::collection::vec((0usize..8, wild_body()), 0..20), 1..8)) {
        let (mut h, traders) = setup();
        for block in &blocks {
            let txs: Vec<Tx> = block
                .iter()
                .map(|(who, body)| {
                    let account = if *who < 2 { Harness::member(1 + *who as u64) } else { traders[*who - 2] };
                    h.tx(account, body.clone())
                })
                .collect();
            h.block(&txs);
        }
        invariants::check_full(&h.state).map_err(TestCaseError::fail)?;
    }
}
