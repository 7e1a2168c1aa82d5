//! Sample values of every wire type and every enum variant, built deterministically from fixed
//! seeds. Used by the frozen-format fixture and the round-trip tests.

use tokenbook_protocol::*;

pub const CHAIN: &str = "tokenbook-test";

pub fn keypair(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

pub fn limits() -> AccountLimits {
    AccountLimits {
        max_order_qty: Qty::new(1_000),
        max_open_orders: 200,
        max_position: Qty::new(5_000),
    }
}

pub fn market_params() -> MarketParams {
    MarketParams {
        maker_fee_bps: -1,
        taker_fee_bps: 4,
        initial_margin_bps: 1_000,
        maintenance_margin_bps: 500,
        price_band_bps: 2_000,
        position_limit: Qty::new(10_000),
        impact_lots: Qty::new(10),
    }
}

pub fn market_spec() -> MarketSpec {
    MarketSpec {
        symbol: "AIT-FRONTIER-DEC26".into(),
        index: IndexId::new(1),
        tick_size: Cash::new(10_000),
        lot_size: 1,
        multiplier: 100,
        expiry: Timestamp::new(1_798_675_200_000),
        settlement_window_ms: 3_600_000,
        reference_price: Price::new(1_000),
        params: market_params(),
    }
}

pub fn risk_params() -> RiskParams {
    RiskParams {
        oracle_freshness_ms: 30_000,
        max_liquidations_per_block: 64,
        liquidation_fee_bps: 50,
        calendar_spread_charge_bps: 5_000,
        settlement_epoch_ms: 43_200_000,
        mark_band_bps: 100,
        cross_index_credit_bps: 0,
        guaranty_floor: Cash::new(1_000_000_000_000),
        guaranty_margin_bps: 1_000,
        guaranty_assessment_cap_bps: 10_000,
    }
}

pub fn new_order() -> NewOrder {
    NewOrder {
        market: MarketId::new(1),
        side: Side::Buy,
        kind: OrderKind::Limit,
        price: Price::new(1_250),
        qty: Qty::new(10),
        time_in_force: TimeInForce::Gtc,
        reduce_only: false,
        client_order_id: Some(ClientOrderId::new(42)),
        self_trade: SelfTradePrevention::ExpireMaker,
        trigger: None,
    }
}

/// Every governance action variant.
pub fn gov_actions() -> Vec<(&'static str, GovAction)> {
    let k = keypair(9).public_key();
    vec![
        ("list_market", GovAction::ListMarket(market_spec())),
        (
            "set_market_params",
            GovAction::SetMarketParams { market: MarketId::new(1), params: market_params() },
        ),
        (
            "halt",
            GovAction::SetMarketStatus {
                market: MarketId::new(1),
                change: MarketStatusChange::Halt,
            },
        ),
        (
            "resume",
            GovAction::SetMarketStatus {
                market: MarketId::new(1),
                change: MarketStatusChange::Resume,
            },
        ),
        (
            "delist",
            GovAction::SetMarketStatus {
                market: MarketId::new(1),
                change: MarketStatusChange::Delist,
            },
        ),
        ("set_risk_params", GovAction::SetRiskParams(risk_params())),
        (
            "add_validator",
            GovAction::AddValidator(Validator { consensus_key: k, network_key: k, power: 10 }),
        ),
        ("remove_validator", GovAction::RemoveValidator { consensus_key: k }),
        (
            "add_member",
            GovAction::AddMember(MemberSpec { key: k, name: "Example Clearing LLC".into() }),
        ),
        ("remove_member", GovAction::RemoveMember { member: AccountId::new(3) }),
        ("list_index", GovAction::ListIndex(IndexSpec { name: "h100-usd-per-hour".into() })),
        ("fund_insurance", GovAction::FundInsurance { amount: Cash::new(1_000_000) }),
        (
            "transfer_accounts",
            GovAction::TransferAccounts { from: AccountId::new(3), to: AccountId::new(2) },
        ),
    ]
}

/// Every tx body variant, with each order-type variant too.
pub fn bodies() -> Vec<(String, TxBody)> {
    let mut out: Vec<(String, TxBody)> = Vec::new();
    let o = new_order();
    let tifs = [
        ("gtc", TimeInForce::Gtc),
        ("gtt", TimeInForce::Gtt(Timestamp::new(1_800_000_060_000))),
        ("ioc", TimeInForce::Ioc),
        ("fok", TimeInForce::Fok),
        ("post_only", TimeInForce::PostOnly),
    ];
    for (name, tif) in tifs {
        out.push((
            format!("place_{name}"),
            TxBody::PlaceOrder(NewOrder { time_in_force: tif, ..o.clone() }),
        ));
    }
    out.push((
        "place_market_sell_reduce_only".into(),
        TxBody::PlaceOrder(NewOrder {
            side: Side::Sell,
            kind: OrderKind::Market,
            price: Price::new(900),
            time_in_force: TimeInForce::Ioc,
            reduce_only: true,
            client_order_id: None,
            self_trade: SelfTradePrevention::ExpireBoth,
            ..o.clone()
        }),
    ));
    for (name, kind) in [("stop", TriggerKind::Stop), ("take_profit", TriggerKind::TakeProfit)] {
        out.push((
            format!("place_{name}"),
            TxBody::PlaceOrder(NewOrder {
                trigger: Some(Trigger { kind, price: Price::new(1_100) }),
                self_trade: SelfTradePrevention::ExpireTaker,
                ..o.clone()
            }),
        ));
    }
    let m = MarketId::new(1);
    out.push((
        "cancel_by_id".into(),
        TxBody::CancelOrder(CancelOrder { market: m, order: OrderRef::Id(OrderId::new(1 << 20)) }),
    ));
    out.push((
        "cancel_by_client_id".into(),
        TxBody::CancelOrder(CancelOrder {
            market: m,
            order: OrderRef::Client(ClientOrderId::new(42)),
        }),
    ));
    out.push(("cancel_all_market".into(), TxBody::CancelAll(CancelAll { market: Some(m) })));
    out.push(("cancel_all".into(), TxBody::CancelAll(CancelAll { market: None })));
    out.push((
        "replace".into(),
        TxBody::ReplaceOrder(ReplaceOrder {
            market: m,
            order: OrderRef::Id(OrderId::new(7)),
            new_price: Price::new(1_251),
            new_qty: Qty::new(5),
        }),
    ));
    out.push(("set_deadman".into(), TxBody::SetDeadman(SetDeadman { timeout_ms: 10_000 })));
    let k = keypair(7).public_key();
    out.push((
        "authorise_key".into(),
        TxBody::AuthoriseKey(AuthoriseKey {
            key: k,
            expires_at: Some(Timestamp::new(1_900_000_000_000)),
        }),
    ));
    out.push(("revoke_key".into(), TxBody::RevokeKey(RevokeKey { key: k })));
    out.push((
        "register_account".into(),
        TxBody::RegisterAccount(RegisterAccount {
            owner: k,
            limits: limits(),
            self_trade_group: 5,
        }),
    ));
    let transfer = CashTransfer {
        account: AccountId::new(11),
        amount: Cash::new(1_000_000_000),
        reference: Hash::digest(b"wire-2026-11-24-001"),
    };
    out.push(("deposit".into(), TxBody::Deposit(transfer)));
    out.push(("withdraw".into(), TxBody::Withdraw(transfer)));
    out.push((
        "set_limits".into(),
        TxBody::SetLimits(SetLimits { account: AccountId::new(11), limits: limits() }),
    ));
    out.push((
        "freeze".into(),
        TxBody::SetFrozen(SetFrozen { account: AccountId::new(11), frozen: true }),
    ));
    out.push((
        "publish_index".into(),
        TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(12_500_000),
            observed_at: Timestamp::new(1_800_000_000_000),
        }),
    ));
    for (name, action) in gov_actions() {
        out.push((
            format!("propose_{name}"),
            TxBody::Propose(Propose { action, expires_at: Timestamp::new(1_800_086_400_000) }),
        ));
    }
    out.push(("approve".into(), TxBody::Approve(Approve { proposal: ProposalId::new(3) })));
    let guaranty = GuarantyTransfer { amount: Cash::new(250_000_000_000) };
    out.push(("post_guaranty".into(), TxBody::PostGuaranty(guaranty)));
    out.push(("release_guaranty".into(), TxBody::ReleaseGuaranty(guaranty)));
    out
}

/// A signed tx for each body.
pub fn txs() -> Vec<(String, Tx)> {
    let key = keypair(1);
    bodies()
        .into_iter()
        .enumerate()
        .map(|(i, (name, body))| {
            let payload = TxPayload {
                account: AccountId::new(11),
                signer: key.public_key(),
                nonce: 1_800_000_000_000 + i as u64,
                body,
            };
            (name, payload.sign(&key, CHAIN))
        })
        .collect()
}

pub fn validator_set() -> ValidatorSet {
    ValidatorSet::new(
        (1..=4)
            .map(|n| Validator {
                consensus_key: keypair(n).public_key(),
                network_key: keypair(n + 100).public_key(),
                power: 10,
            })
            .collect(),
    )
    .unwrap()
}

pub fn block() -> Block {
    let txs: Vec<Tx> = txs().into_iter().map(|(_, tx)| tx).take(3).collect();
    let set = validator_set();
    let header = BlockHeader {
        chain_id: CHAIN.into(),
        height: Height::new(2),
        time: Timestamp::new(1_800_000_000_500),
        proposer: keypair(1).public_key(),
        prev_block_hash: Hash::digest(b"block 1"),
        prev_certificate_hash: Hash::digest(b"certificate 1"),
        tx_root: tx_root(&txs),
        state_root: Hash::digest(b"state after 1"),
        validator_set_hash: set.hash(),
        next_validator_set_hash: set.hash(),
    };
    Block { header, txs }
}

pub fn vote(kind: VoteKind, value: Option<Hash>, signer: u8) -> Vote {
    VotePayload {
        kind,
        height: Height::new(2),
        round: Round::new(0),
        value,
        validator: keypair(signer).public_key(),
    }
    .sign(&keypair(signer), CHAIN)
}

pub fn proposal() -> Proposal {
    ProposalPayload {
        height: Height::new(2),
        round: Round::new(1),
        pol_round: Some(Round::new(0)),
        value: block().hash(),
        proposer: keypair(1).public_key(),
    }
    .sign(&keypair(1), CHAIN)
}

pub fn certificate() -> CommitCertificate {
    let hash = block().hash();
    let mut signatures: Vec<CommitSignature> = (1..=3)
        .map(|n| {
            let v = vote(VoteKind::Precommit, Some(hash), n);
            CommitSignature { validator: v.payload.validator, signature: v.signature }
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    CommitCertificate { height: Height::new(2), round: Round::new(0), block_hash: hash, signatures }
}

pub fn evidence() -> DuplicateVoteEvidence {
    let a = vote(VoteKind::Prevote, Some(Hash::digest(b"a")), 2);
    let b = vote(VoteKind::Prevote, None, 2);
    DuplicateVoteEvidence::new(a, b).unwrap()
}
