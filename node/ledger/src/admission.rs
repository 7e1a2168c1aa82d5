//! Admission: the checks a node runs on a tx before it may enter a mempool, against the last
//! committed state — the ledger itself, or a published copy of it read on another thread
//! ([`Committed`]).
//!
//! Promises:
//! - **Cheap, and before the signature.** Only lookups and arithmetic: the account exists, the
//!   signer may act for it (a scoped key only trades, and only until it expires), the nonce
//!   passes the rule against the signer's window, a member-only tx comes from a member, and an
//!   order names an active market with a sane price, size and type inside the price band and
//!   the account's per-order limit. A node verifies a signature only after these pass, so junk
//!   signed by unknown keys costs a lookup, not a verification.
//! - **The block's own verdicts.** Each refusal here is the one `apply_block` gives the same
//!   tx against the same state, with the same code ([`crate::RejectCode`]); a tx that passes
//!   may still be refused in its block (the state moves on).
//! - **Local policy, never consensus.** Block validity does not depend on admission.

use crate::reject::{Reject, RejectCode, reject};
use crate::state::{Account, AccountKind, KeyGrant, MarketStatus};
use tokenbook_protocol::{
    AccountId, MarketId, MarketParams, NewOrder, NonceError, Price, PublicKey, Timestamp, Tx,
    TxBody,
};

/// What admission reads of a market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketTerms {
    /// Lifecycle status.
    pub status: MarketStatus,
    /// Mark price (ticks).
    pub mark: Price,
    /// Trading parameters (the price band).
    pub params: MarketParams,
}

/// The committed state admission reads.
pub trait Committed {
    /// Block time of the committed height.
    fn time(&self) -> Timestamp;
    /// An account.
    fn account(&self, id: AccountId) -> Option<&Account>;
    /// A key's grant.
    fn grant(&self, key: &PublicKey) -> Option<KeyGrant>;
    /// A market's terms.
    fn market(&self, id: MarketId) -> Option<MarketTerms>;
}

/// Every admission check of `tx` against `state`.
///
/// # Errors
/// The first refusal, as its block would give it.
pub fn admission_check(state: &impl Committed, tx: &Tx) -> Result<(), Reject> {
    let payload = &tx.payload;
    let Some(account) = state.account(payload.account) else {
        return reject(
            RejectCode::AccountUnknown,
            format!("account {} does not exist", payload.account),
        );
    };
    let scoped = authorise(state, account, &payload.signer)?;
    if scoped && !payload.body.is_trading() {
        return reject(
            RejectCode::KeyScope,
            "a scoped trading key may only place, cancel and replace orders",
        );
    }
    let window = account.scoped_keys.get(&payload.signer).unwrap_or(&account.nonces);
    window.check(payload.nonce, state.time(), window.floor()).map_err(nonce_reject)?;
    if member_only(&payload.body) && account.kind != AccountKind::Member {
        return reject(RejectCode::NotMember, format!("account {} is not a member", account.id));
    }
    check_body(state, account, &payload.body)
}

/// True if `signer` is a scoped key of `account` (false for the owner); refuses anyone else and
/// a scoped key past its expiry.
///
/// # Errors
/// `unauthorised_signer`.
pub fn authorise(
    state: &impl Committed,
    account: &Account,
    signer: &PublicKey,
) -> Result<bool, Reject> {
    if account.owner == *signer {
        return Ok(false);
    }
    match state.grant(signer) {
        Some(KeyGrant::Trading { account: a, expires_at }) if a == account.id => {
            if expires_at.is_some_and(|t| t <= state.time()) {
                return reject(RejectCode::UnauthorisedSigner, "the scoped key has expired");
            }
            Ok(true)
        }
        _ => reject(
            RejectCode::UnauthorisedSigner,
            format!("key {signer} may not act for account {}", account.id),
        ),
    }
}

/// A nonce refusal as a ledger refusal.
pub(crate) fn nonce_reject(e: NonceError) -> Reject {
    let code = match e {
        NonceError::OutOfRange { .. } => RejectCode::NonceOutOfRange,
        NonceError::Replayed(_) => RejectCode::NonceReplayed,
        NonceError::TooOld { .. } => RejectCode::NonceTooOld,
    };
    Reject::new(code, e.to_string())
}

/// Txs only a member account may sign.
fn member_only(body: &TxBody) -> bool {
    matches!(
        body,
        TxBody::RegisterAccount(_)
            | TxBody::Deposit(_)
            | TxBody::Withdraw(_)
            | TxBody::SetLimits(_)
            | TxBody::SetFrozen(_)
            | TxBody::Propose(_)
            | TxBody::Approve(_)
            | TxBody::PostGuaranty(_)
            | TxBody::ReleaseGuaranty(_)
    )
}

/// The order checks that need no more than the account and the market's terms.
fn check_body(state: &impl Committed, account: &Account, body: &TxBody) -> Result<(), Reject> {
    let market_of = |id: MarketId| {
        state.market(id).ok_or_else(|| {
            Reject::new(RejectCode::MarketUnknown, format!("market {id} does not exist"))
        })
    };
    match body {
        TxBody::PlaceOrder(order) => check_order(
            account,
            order,
            state.time(),
            || active(order.market, market_of(order.market)?),
            |m| (m.mark, m.params.price_band_bps),
        )
        .map(|_| ()),
        TxBody::ReplaceOrder(replace) => {
            if account.frozen {
                return reject(
                    RejectCode::AccountFrozen,
                    format!("account {} is frozen", account.id),
                );
            }
            let market = active(replace.market, market_of(replace.market)?)?;
            crate::trading::check_price_qty(replace.new_price, replace.new_qty)?;
            crate::trading::check_band(market.mark, replace.new_price, market.params.price_band_bps)
        }
        TxBody::CancelOrder(cancel) => market_of(cancel.market).map(|_| ()),
        _ => Ok(()),
    }
}

/// The checks of a new order that need only the account, the market's mark and band, and the
/// time — shared by admission and the block (`trading::check_new_order`), in the block's order:
/// admin, frozen, the market (`active_market`: unknown or not active), price and size, type,
/// band, per-order limit. Returns the market `active_market` found.
///
/// # Errors
/// The first refusal.
pub(crate) fn check_order<M>(
    account: &Account,
    order: &NewOrder,
    time: Timestamp,
    active_market: impl FnOnce() -> Result<M, Reject>,
    mark_and_band: impl Fn(&M) -> (Price, u32),
) -> Result<M, Reject> {
    if account.kind == AccountKind::Admin {
        return reject(RejectCode::AccountCannotTrade, "admin accounts cannot trade");
    }
    if account.frozen {
        return reject(RejectCode::AccountFrozen, format!("account {} is frozen", account.id));
    }
    let market = active_market()?;
    let (mark, band_bps) = mark_and_band(&market);
    crate::trading::check_price_qty(order.price, order.qty)?;
    crate::trading::check_order_type(order, time)?;
    crate::trading::check_band(mark, order.price, band_bps)?;
    if order.qty > account.limits.max_order_qty {
        return reject(
            RejectCode::OrderTooLarge,
            format!(
                "{} lots exceeds the account's per-order limit of {}",
                order.qty, account.limits.max_order_qty
            ),
        );
    }
    Ok(market)
}

fn active(id: MarketId, market: MarketTerms) -> Result<MarketTerms, Reject> {
    if market.status != MarketStatus::Active {
        return reject(RejectCode::MarketNotActive, format!("market {id} is {:?}", market.status));
    }
    Ok(market)
}

impl Committed for crate::LedgerState {
    fn time(&self) -> Timestamp {
        self.time
    }

    fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    fn grant(&self, key: &PublicKey) -> Option<KeyGrant> {
        self.keys.get(key).copied()
    }

    fn market(&self, id: MarketId) -> Option<MarketTerms> {
        self.markets.get(&id).map(|m| MarketTerms {
            status: m.status,
            mark: m.mark,
            params: m.spec.params,
        })
    }
}
