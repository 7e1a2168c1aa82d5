//! Permissions, nonces, keys, cash and members through `apply_block`.

use crate::harness::*;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const FUNDS: i128 = 1_000_000_000_000;

#[test]
fn replayed_tx_never_applies_twice() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let tx = h.tx(a, place(limit(AIT, Side::Buy, 990, 1)));
    // Twice in one block, and again in a later block.
    let out = h.block(&[tx.clone(), tx.clone()]);
    let codes: Vec<_> =
        out.receipts.iter().map(|r| r.result.as_ref().err().map(|e| e.code)).collect();
    assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 1);
    assert!(codes.contains(&Some(RejectCode::NonceReplayed)));
    let out = h.block(&[tx]);
    assert_eq!(out.receipts[0].result.as_ref().unwrap_err().code, RejectCode::NonceReplayed);
    assert_eq!(h.state.markets[&AIT].book.len(), 1);
}

#[test]
fn nonce_window_edges() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let signer = Keypair::from_seed(&h.keys[&a].seed());
    let tx = |nonce: u64| {
        TxPayload {
            account: a,
            signer: signer.public_key(),
            nonce,
            body: TxBody::SetDeadman(SetDeadman { timeout_ms: 0 }),
        }
        .sign(&signer, CHAIN)
    };
    let day = 86_400_000;
    let now = h.time + 1_000;
    let out = h.block(&[tx(now + day + 1), tx(now - day - 1)]);
    assert!(
        out.receipts
            .iter()
            .all(|r| r.result.as_ref().unwrap_err().code == RejectCode::NonceOutOfRange)
    );
    // 40 txs in one block, nonces in any order: all apply (verdicts use the start-of-block window).
    let txs: Vec<Tx> = (0..40).map(|i| tx(now + 1_000 - i)).collect();
    let out = h.block(&txs);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()));
    // Now the window is full; a nonce below its floor is too old even though never used.
    let out = h.block(&[tx(now + 1_000 - 39 - 5)]);
    assert_eq!(out.receipts[0].result.as_ref().unwrap_err().code, RejectCode::NonceTooOld);
}

#[test]
fn unknown_account_and_unauthorised_key() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let b = h.trader(FUNDS);
    let b_key = Keypair::from_seed(&h.keys[&b].seed());
    let tx = h.tx_signed(AccountId::new(999), &b_key, place(limit(AIT, Side::Buy, 990, 1)));
    assert_eq!(
        h.block(&[tx]).receipts[0].result.as_ref().unwrap_err().code,
        RejectCode::AccountUnknown
    );
    // b's key signing for a.
    let tx = h.tx_signed(a, &b_key, place(limit(AIT, Side::Buy, 990, 1)));
    let out = h.block(&[tx]);
    assert_eq!(out.receipts[0].result.as_ref().unwrap_err().code, RejectCode::UnauthorisedSigner);
}

#[test]
fn scoped_keys_trade_but_cannot_withdraw_or_manage_keys() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let scoped = key(77_777);
    let expiry = Timestamp::new(h.time + 10_000);
    h.apply(
        a,
        TxBody::AuthoriseKey(AuthoriseKey { key: scoped.public_key(), expires_at: Some(expiry) }),
    )
    .unwrap();
    assert_eq!(
        h.code(
            a,
            TxBody::AuthoriseKey(AuthoriseKey { key: scoped.public_key(), expires_at: None })
        ),
        RejectCode::KeyInUse
    );
    let tx = h.tx_signed(a, &scoped, place(limit(AIT, Side::Buy, 990, 1)));
    assert!(h.block(&[tx]).receipts[0].result.is_ok());
    let tx = h.tx_signed(
        a,
        &scoped,
        TxBody::AuthoriseKey(AuthoriseKey { key: key(5_555).public_key(), expires_at: None }),
    );
    assert_eq!(h.block(&[tx]).receipts[0].result.as_ref().unwrap_err().code, RejectCode::KeyScope);
    // A scoped key cannot act as a member either (withdrawals are member actions).
    let tx = h.tx_signed(
        a,
        &scoped,
        TxBody::Withdraw(CashTransfer { account: a, amount: Cash::new(1), reference: Hash::ZERO }),
    );
    assert_eq!(h.block(&[tx]).receipts[0].result.as_ref().unwrap_err().code, RejectCode::KeyScope);
    // Expired keys stop working; revoked keys too.
    h.advance(10_000);
    let tx = h.tx_signed(a, &scoped, place(limit(AIT, Side::Buy, 990, 1)));
    assert_eq!(
        h.block(&[tx]).receipts[0].result.as_ref().unwrap_err().code,
        RejectCode::UnauthorisedSigner
    );
    h.apply(a, TxBody::RevokeKey(RevokeKey { key: scoped.public_key() })).unwrap();
    assert_eq!(
        h.code(a, TxBody::RevokeKey(RevokeKey { key: scoped.public_key() })),
        RejectCode::KeyUnknown
    );
    // A small-order point is not a key.
    let weak = PublicKey([0u8; 32]);
    assert_eq!(
        h.code(a, TxBody::AuthoriseKey(AuthoriseKey { key: weak, expires_at: None })),
        RejectCode::InvalidKey
    );
}

#[test]
fn frozen_accounts_cannot_trade_or_withdraw() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    h.apply(a, place(limit(AIT, Side::Buy, 990, 1))).unwrap();
    let member = Harness::member(1);
    let events =
        h.apply(member, TxBody::SetFrozen(SetFrozen { account: a, frozen: true })).unwrap();
    assert!(matches!(events[0], Event::OrderCancelled { reason: CancelReason::AccountFrozen, .. }));
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 990, 1))), RejectCode::AccountFrozen);
    let w = TxBody::Withdraw(CashTransfer {
        account: a,
        amount: Cash::new(1),
        reference: Hash::digest(b"w1"),
    });
    assert_eq!(h.code(member, w.clone()), RejectCode::AccountFrozen);
    // Another member cannot unfreeze it.
    assert_eq!(
        h.code(Harness::member(2), TxBody::SetFrozen(SetFrozen { account: a, frozen: false })),
        RejectCode::NotAccountsMember
    );
    h.apply(member, TxBody::SetFrozen(SetFrozen { account: a, frozen: false })).unwrap();
    h.apply(member, w).unwrap();
}

#[test]
fn deposits_and_withdrawals_conserve_cash() {
    let mut h = Harness::new();
    let a = h.trader(0);
    let member = Harness::member(1);
    let transfer = |amount: i128, r: &[u8]| CashTransfer {
        account: a,
        amount: Cash::new(amount),
        reference: Hash::digest(r),
    };
    h.apply(member, TxBody::Deposit(transfer(500_000_000, b"d1"))).unwrap();
    assert_eq!(h.code(member, TxBody::Deposit(transfer(1, b"d1"))), RejectCode::DuplicateReference);
    assert_eq!(h.code(member, TxBody::Deposit(transfer(0, b"d2"))), RejectCode::AmountNotPositive);
    assert_eq!(
        h.code(Harness::member(2), TxBody::Deposit(transfer(1, b"d3"))),
        RejectCode::NotAccountsMember
    );
    assert_eq!(h.code(a, TxBody::Deposit(transfer(1, b"d4"))), RejectCode::NotMember);
    assert_eq!(
        h.code(member, TxBody::Withdraw(transfer(500_000_001, b"w1"))),
        RejectCode::InsufficientCash
    );
    // Margin held by an open order: 10% of 1 lot × 1,000 ticks × $1 = $100 of IM; cash is $500.
    h.apply(a, place(limit(AIT, Side::Buy, 1_000, 1))).unwrap();
    assert_eq!(
        h.code(member, TxBody::Withdraw(transfer(400_000_001, b"w2"))),
        RejectCode::InsufficientMargin
    );
    h.apply(member, TxBody::Withdraw(transfer(400_000_000, b"w3"))).unwrap();
    assert_eq!(h.cash(a), 100_000_000);
    // Deposits less withdrawals: a's cash and the members' opening guaranty contributions.
    let opening = 4 * tokenbook_ledger::genesis::GUARANTY_FLOOR;
    assert_eq!(h.state.total_guaranty.get(), opening);
    assert_eq!(
        h.state.total_deposits.get() - h.state.total_withdrawals.get(),
        100_000_000 + opening
    );
    tokenbook_ledger::invariants::check_full(&h.state).unwrap();
}

#[test]
fn members_register_accounts_with_valid_limits() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let k = key(31_337);
    let reg = |limits| {
        TxBody::RegisterAccount(RegisterAccount {
            owner: k.public_key(),
            limits,
            self_trade_group: 0,
        })
    };
    assert_eq!(h.code(a, reg(limits())), RejectCode::NotMember);
    let bad = AccountLimits { max_open_orders: 0, ..limits() };
    assert_eq!(h.code(Harness::member(1), reg(bad)), RejectCode::InvalidLimits);
    h.apply(Harness::member(1), reg(limits())).unwrap();
    assert_eq!(h.code(Harness::member(2), reg(limits())), RejectCode::KeyInUse);
    let set = TxBody::SetLimits(SetLimits {
        account: a,
        limits: AccountLimits { max_order_qty: Qty::new(2), ..limits() },
    });
    h.apply(Harness::member(1), set).unwrap();
    assert_eq!(h.code(a, place(limit(AIT, Side::Buy, 990, 3))), RejectCode::OrderTooLarge);
}

#[test]
fn index_observations_from_members_only_and_fresh() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let obs = |t: u64| {
        TxBody::PublishIndex(IndexObservation {
            index: IndexId::new(1),
            price: Cash::new(10_000_000),
            observed_at: Timestamp::new(t),
        })
    };
    let now = h.time + 1_000;
    assert_eq!(h.code(a, obs(now)), RejectCode::NotMember);
    let now = h.time + 1_000;
    h.apply(Harness::member(1), obs(now - 5_000)).unwrap();
    let now = h.time + 1_000;
    assert_eq!(h.code(Harness::member(1), obs(now - 31_000)), RejectCode::StaleObservation);
    let now = h.time + 1_000;
    assert_eq!(h.code(Harness::member(1), obs(now + 1)), RejectCode::StaleObservation);
    let bad_index = TxBody::PublishIndex(IndexObservation {
        index: IndexId::new(9),
        price: Cash::new(1),
        observed_at: Timestamp::new(h.time + 1_000),
    });
    assert_eq!(h.code(Harness::member(1), bad_index), RejectCode::IndexUnknown);
}

#[test]
fn precheck_agrees_with_the_block_and_changes_nothing() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let good = h.tx(a, place(limit(AIT, Side::Buy, 990, 1)));
    let before = kv::export(&h.state);
    assert_eq!(h.state.precheck_tx(&good), Ok(()));
    assert!(kv::export(&h.state) == before, "precheck changed the state");
    // Unknown account, a stranger's key, an unknown market: the codes the block would give.
    let stranger = key(777);
    let cases = [
        (
            h.tx_signed(AccountId::new(999), &stranger, place(limit(AIT, Side::Buy, 990, 1))),
            RejectCode::AccountUnknown,
        ),
        (
            h.tx_signed(a, &stranger, place(limit(AIT, Side::Buy, 990, 1))),
            RejectCode::UnauthorisedSigner,
        ),
        (h.tx(a, place(limit(MarketId::new(99), Side::Buy, 990, 1))), RejectCode::MarketUnknown),
        // Issue #19: what the block refused after a 202 is refused at admission, same code.
        (h.tx(a, place(limit(AIT, Side::Buy, 990, 0))), RejectCode::QtyNotPositive),
        (h.tx(a, place(limit(AIT, Side::Buy, 0, 1))), RejectCode::PriceNotPositive),
        (h.tx(a, place(limit(AIT, Side::Buy, 5_000, 1))), RejectCode::PriceOutsideBand),
        (h.tx(a, place(limit(AIT, Side::Buy, 990, 1_000_000))), RejectCode::OrderTooLarge),
        (
            h.tx(a, place(NewOrder { kind: OrderKind::Market, ..limit(AIT, Side::Buy, 990, 1) })),
            RejectCode::InvalidOrderType,
        ),
        (
            h.tx(
                a,
                TxBody::Deposit(CashTransfer {
                    account: a,
                    amount: Cash::new(1),
                    reference: Hash::digest(b"not a member"),
                }),
            ),
            RejectCode::NotMember,
        ),
    ];
    for (tx, code) in cases {
        assert_eq!(h.state.precheck_tx(&tx).unwrap_err().code, code);
        let out = h.block(&[tx]);
        assert_eq!(out.receipts[0].result.as_ref().unwrap_err().code, code);
    }
    // Once the block spends the nonce, the same tx fails the precheck as a replay.
    h.block(std::slice::from_ref(&good));
    assert_eq!(h.state.precheck_tx(&good).unwrap_err().code, RejectCode::NonceReplayed);
}

/// Issue #18, finding 7: a member's deposit/withdraw cycles grow the lifetime deposit total for
/// ever; the deposit that would overflow it is refused (it used to panic every validator).
#[test]
fn deposits_beyond_the_lifetime_cap_are_refused_never_overflow() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let transfer = |seq: u8, amount: i128| {
        TxBody::Deposit(CashTransfer {
            account: a,
            amount: Cash::new(amount),
            reference: Hash::digest(&[0xde, seq]),
        })
    };
    // As after ~1.7 × 10^8 cycles of the largest deposit and its withdrawal.
    let cycles = i128::MAX - 10 - h.state.total_deposits.get();
    h.state.total_deposits = Cash::new(h.state.total_deposits.get() + cycles);
    h.state.total_withdrawals = Cash::new(h.state.total_withdrawals.get() + cycles);
    assert_eq!(h.code(Harness::member(1), transfer(1, 100)), RejectCode::Overflow);
    // At the cap exactly a deposit still lands; one unit more does not.
    let room = margin::MAX_TOTAL_DEPOSITS - 1_000 - h.state.total_deposits.get();
    h.state.total_deposits = Cash::new(h.state.total_deposits.get() + room);
    h.state.total_withdrawals = Cash::new(h.state.total_withdrawals.get() + room);
    h.apply(Harness::member(1), transfer(2, 1_000)).unwrap();
    assert_eq!(h.state.total_deposits.get(), margin::MAX_TOTAL_DEPOSITS);
    assert_eq!(h.code(Harness::member(1), transfer(3, 1)), RejectCode::Overflow);
}

/// Issue #18, finding 4: every signer of an account shared one nonce window, so a scoped key
/// could fill it with 32 nonces a day ahead and lock the owner out — its cancels and the
/// revocation of that very key refused for a day. Each signer now has its own window.
#[test]
fn a_scoped_key_cannot_lock_the_owner_out_of_the_nonce_window() {
    let mut h = Harness::new();
    let a = h.trader(FUNDS);
    let rogue = key(66_666);
    let auth = TxBody::AuthoriseKey(AuthoriseKey { key: rogue.public_key(), expires_at: None });
    h.apply(a, auth).unwrap();
    let ahead = h.time + 23 * 3_600_000;
    let spam: Vec<Tx> = (0..32)
        .map(|i| {
            let body = TxBody::CancelAll(CancelAll { market: None });
            TxPayload { account: a, signer: rogue.public_key(), nonce: ahead + i, body }
                .sign(&rogue, CHAIN)
        })
        .collect();
    let out = h.block(&spam);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()), "{:?}", out.receipts[0]);
    // The owner, signing at the current time, revokes the rogue key.
    let revoke = TxBody::RevokeKey(RevokeKey { key: rogue.public_key() });
    h.apply(a, revoke).unwrap();
    // And the rogue key's window went with it: it cannot act any more.
    let body = TxBody::CancelAll(CancelAll { market: None });
    let late = TxPayload { account: a, signer: rogue.public_key(), nonce: ahead + 100, body }
        .sign(&rogue, CHAIN);
    let code = h.block(&[late]).receipts[0].result.as_ref().unwrap_err().code;
    assert_eq!(code, RejectCode::UnauthorisedSigner);
}
