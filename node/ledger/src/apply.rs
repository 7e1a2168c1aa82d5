//! `apply_block`: the one way the ledger state changes after genesis.
//!
//! Steps, all deterministic and driven by the header's time only:
//! 1. Check the header follows the state (chain id, next height, strictly later time).
//! 2. Housekeeping at the block's time: pending validator sets take effect, proposals lapse,
//!    good-til-time orders expire, expired markets settle, dead-man's switches fire (in key
//!    order).
//! 3. Put the txs in the fair sequence ([`fair_sequence`], docs/adr/0003-fair-sequencing.md).
//! 4. For each tx: authorise the signer for the account, apply the nonce rule, then the body.
//!    A refused tx changes nothing but its nonce (once authorised, a nonce is spent either way,
//!    so a refused tx cannot be replayed into success later).
//! 5. End of block: index prices, marks, variation margin at epoch boundaries, stop and
//!    take-profit triggers, liquidation ([`crate::oracle`], [`crate::liquidation`]).
//! 6. Assert the invariants ([`crate::invariants`]); a violation is a bug and stops the process.
//!
//! The outcome lists what the block touched; [`crate::kv::changes`] turns that into the store's
//! writes (new values and deletions), so `apply_block` + `changes` is the
//! `(receipts, state changes)` of the design.
//!
//! Signatures are not checked here: a block reaches `apply_block` only after its signatures
//! were verified (by the validators that certified it, or by an auditor before replaying).

use crate::receipt::{BlockOutcome, CancelReason, Events, Receipt, TouchLog};
use crate::reject::{Reject, RejectCode, reject};
use crate::state::{
    Account, AccountKind, Genesis, IndexState, KeyGrant, LedgerState, Market, MarketStatus,
};
use std::collections::BTreeMap;
use tokenbook_protocol::{
    AccountId, BlockHeader, BlockNonces, Hash, Height, IndexId, MarketId, Tx, TxBody, ValidatorSet,
};

/// Why a block cannot be applied at all (consensus never commits such a block; an auditor
/// replaying a tampered chain meets these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Header's chain id differs from the state's.
    #[error("block is for chain {found}, the ledger is {expected}")]
    WrongChain {
        /// State's chain id.
        expected: String,
        /// Header's chain id.
        found: String,
    },
    /// Header height is not the next height.
    #[error("block height {found} does not follow {current}")]
    WrongHeight {
        /// State's height.
        current: Height,
        /// Header's height.
        found: Height,
    },
    /// Header time does not increase.
    #[error("block time {found} is not after {current}")]
    TimeNotIncreasing {
        /// State's time.
        current: u64,
        /// Header's time.
        found: u64,
    },
    /// Too many orders in one block for the order id scheme.
    #[error("block has more than {0} txs")]
    TooManyTxs(usize),
}

/// Builds the genesis state.
///
/// # Errors
/// A description of what is inconsistent in the genesis document.
pub fn genesis_state(genesis: &Genesis) -> Result<LedgerState, String> {
    let validators =
        ValidatorSet::new(genesis.members.iter().filter_map(|m| m.validator).collect())?;
    let mut state =
        LedgerState::empty(genesis.chain_id.clone(), genesis.time, genesis.risk, validators);
    if !tokenbook_protocol::is_valid_chain_id(&state.chain_id) {
        return Err(format!("invalid chain id {:?}", state.chain_id));
    }
    // The checks governance applies to the same values later (markets pass `list_market`'s).
    crate::governance::check_risk(&genesis.risk).map_err(|r| r.message)?;
    crate::members::check_limits(&genesis.member_limits).map_err(|r| r.message)?;
    for member in &genesis.members {
        let id = state
            .open_account(AccountKind::Member, member.key, None, genesis.member_limits, 0)
            .map_err(|r| r.message)?;
        state.open_guaranty(id);
    }
    for admin in &genesis.admins {
        state
            .open_account(AccountKind::Admin, admin.key, None, genesis.member_limits, 0)
            .map_err(|r| r.message)?;
    }
    for index in &genesis.indexes {
        state.list_index(index.clone());
    }
    for spec in &genesis.markets {
        let market = state.list_market(spec.clone()).map_err(|r| r.message)?;
        if let Some(m) = state.markets.get_mut(&market) {
            m.status = MarketStatus::Active;
        }
    }
    state.vm_epoch = crate::oracle::vm_epoch(state.time, &state.risk);
    state.touched = TouchLog::default();
    crate::invariants::check(&state).map_err(|e| format!("genesis breaks an invariant: {e}"))?;
    Ok(state)
}

/// Orders ids are `height << ORDER_SEQ_BITS | sequence in block`.
pub const ORDER_SEQ_BITS: u32 = 20;

/// Applies a block's txs at the header's time. On `Err` the state is unchanged.
///
/// # Errors
/// [`BlockError`] when the header does not follow the state.
pub fn apply_block(
    state: &mut LedgerState,
    header: &BlockHeader,
    txs: &[Tx],
) -> Result<BlockOutcome, BlockError> {
    let hashes: Vec<Hash> = txs.iter().map(Tx::hash).collect();
    apply_block_with_hashes(state, header, txs, &hashes)
}

/// [`apply_block`] for a caller that already has every tx's hash (the node computes them when
/// txs enter its mempool). `hashes[i]` must be `txs[i].hash()`; a mismatch is a caller bug.
///
/// # Errors
/// [`BlockError`] when the header does not follow the state.
pub fn apply_block_with_hashes(
    state: &mut LedgerState,
    header: &BlockHeader,
    txs: &[Tx],
    hashes: &[Hash],
) -> Result<BlockOutcome, BlockError> {
    assert_eq!(txs.len(), hashes.len(), "one hash per tx");
    debug_assert!(txs.iter().zip(hashes).all(|(tx, h)| tx.hash() == *h));
    check_header(state, header, txs.len())?;
    state.touched = TouchLog { globals: true, ..TouchLog::default() };
    state.height = header.height;
    state.time = header.time;
    state.order_seq = 0;
    let begin_events = state.begin_block();
    let mut receipts = Vec::with_capacity(txs.len());
    let sequence = sequence_of(&header.prev_block_hash, txs, hashes);
    for chunk in sequence.chunks(TOUCH_AHEAD) {
        state.touch_ahead(chunk.iter().map(|&i| &txs[i]));
        for &index in chunk {
            // The receipt is built in place: its events are written straight into it.
            receipts.push(Receipt {
                tx_hash: hashes[index],
                tx_index: u32::try_from(index).unwrap_or(u32::MAX),
                result: Ok(Events::new()),
            });
            let receipt = receipts.len() - 1;
            if let Ok(events) = &mut receipts[receipt].result {
                if let Err(refusal) = state.apply_tx(&txs[index], events) {
                    receipts[receipt].result = Err(refusal);
                }
            }
        }
    }
    let end_events = state.end_block();
    state.last_block_hash = header.hash();
    // A broken invariant means the engine is wrong; continuing would fork the ledger.
    let verdict = crate::invariants::check(state);
    assert!(verdict.is_ok(), "ledger invariant violated at height {}: {verdict:?}", header.height);
    Ok(BlockOutcome {
        begin_events,
        receipts,
        end_events,
        touched: std::mem::take(&mut state.touched).finish(),
    })
}

fn check_header(
    state: &LedgerState,
    header: &BlockHeader,
    tx_count: usize,
) -> Result<(), BlockError> {
    if header.chain_id != state.chain_id {
        return Err(BlockError::WrongChain {
            expected: state.chain_id.clone(),
            found: header.chain_id.clone(),
        });
    }
    if state.height.next() != Some(header.height) {
        return Err(BlockError::WrongHeight { current: state.height, found: header.height });
    }
    if header.time <= state.time {
        return Err(BlockError::TimeNotIncreasing {
            current: state.time.get(),
            found: header.time.get(),
        });
    }
    if tx_count >= 1 << ORDER_SEQ_BITS {
        return Err(BlockError::TooManyTxs(1 << ORDER_SEQ_BITS));
    }
    Ok(())
}

/// The sequence class of a tx: lower classes apply first.
#[must_use]
pub fn sequence_class(body: &TxBody) -> u8 {
    match body {
        TxBody::Propose(_) | TxBody::Approve(_) | TxBody::PublishIndex(_) => 0,
        TxBody::RegisterAccount(_)
        | TxBody::Deposit(_)
        | TxBody::Withdraw(_)
        | TxBody::SetLimits(_)
        | TxBody::SetFrozen(_)
        | TxBody::AuthoriseKey(_)
        | TxBody::RevokeKey(_)
        | TxBody::SetDeadman(_)
        | TxBody::PostGuaranty(_)
        | TxBody::ReleaseGuaranty(_) => 1,
        TxBody::CancelOrder(_) | TxBody::CancelAll(_) => 2,
        TxBody::PlaceOrder(order)
            if order.time_in_force == tokenbook_protocol::TimeInForce::PostOnly =>
        {
            3
        }
        TxBody::PlaceOrder(_) | TxBody::ReplaceOrder(_) => 4,
    }
}

/// The order in which a block's txs apply (indexes into `txs`): by [`sequence_class`], then by
/// `SHA-256(prev_block_hash ‖ tx_hash)`, then by position (only identical txs tie). The proposer
/// chooses which txs enter a block, not who goes first.
#[must_use]
pub fn fair_sequence(prev_block_hash: &Hash, txs: &[Tx]) -> Vec<usize> {
    let hashes: Vec<Hash> = txs.iter().map(Tx::hash).collect();
    sequence_of(prev_block_hash, txs, &hashes)
}

/// [`fair_sequence`] with the txs' hashes already computed.
fn sequence_of(prev_block_hash: &Hash, txs: &[Tx], hashes: &[Hash]) -> Vec<usize> {
    sequence_by(
        txs.len(),
        |i| sequence_class(&txs[i].payload.body),
        |i| Hash::digest_pair(prev_block_hash, &hashes[i]),
    )
}

/// Positions `0..n` in (class, rank, position) order.
///
/// Each one sorts as one u128: its class (8 bits), the first 11 bytes of its rank (88 bits) and
/// its position (32 bits), so a plain integer sort orders by (class, rank head, position).
/// Positions whose heads are equal (identical txs, or an astronomically rare 88-bit collision)
/// are then put in (full rank, position) order.
fn sequence_by(n: usize, class: impl Fn(usize) -> u8, rank: impl Fn(usize) -> Hash) -> Vec<usize> {
    let mut keyed: Vec<u128> = (0..n)
        .map(|i| {
            let mut key = [0u8; 16];
            key[0] = class(i);
            key[1..12].copy_from_slice(&rank(i).0[..11]);
            key[12..].copy_from_slice(&position(i).to_be_bytes());
            u128::from_be_bytes(key)
        })
        .collect();
    keyed.sort_unstable();
    let head = |key: u128| key >> 32;
    let mut start = 0;
    while start < keyed.len() {
        let run = keyed[start..].iter().take_while(|&&k| head(k) == head(keyed[start])).count();
        if run > 1 {
            keyed[start..start + run].sort_by_cached_key(|&k| (rank(index_of(k)), index_of(k)));
        }
        start += run;
    }
    keyed.into_iter().map(index_of).collect()
}

/// A tx's position as the low 32 bits of its sort key (`check_header` bounds the count).
fn position(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The position stored in a sort key.
fn index_of(key: u128) -> usize {
    (key & u128::from(u32::MAX)) as usize
}

/// How many txs of the sequence are touched together before they are applied.
const TOUCH_AHEAD: usize = 16;

impl LedgerState {
    /// Reads the first line of each tx and of its account, with no effect on the state: the fair
    /// sequence visits txs in random order, so each would otherwise be a cache miss waited for
    /// alone; read together, their misses overlap.
    fn touch_ahead<'a>(&self, txs: impl Iterator<Item = &'a Tx>) {
        for tx in txs {
            let account = self.accounts.get(&tx.payload.account);
            std::hint::black_box(account.map(|a| a.owner.0[0]));
        }
    }

    /// What a mempool checks before admitting a tx, without changing anything: every
    /// [`crate::admission::admission_check`] against this state.
    ///
    /// # Errors
    /// The refusal `apply_block` would give.
    pub fn precheck_tx(&self, tx: &Tx) -> Result<(), Reject> {
        crate::admission::admission_check(self, tx)
    }

    /// Authorises, spends the nonce, and applies one tx.
    fn apply_tx(&mut self, tx: &Tx, events: &mut Events) -> Result<(), Reject> {
        let payload = &tx.payload;
        let account_id = payload.account;
        let Some(account) = self.accounts.get(&account_id) else {
            return reject(
                RejectCode::AccountUnknown,
                format!("account {account_id} does not exist"),
            );
        };
        let scoped = self.authorise(account, &payload.signer)?;
        if scoped && !payload.body.is_trading() {
            return reject(
                RejectCode::KeyScope,
                "a scoped trading key may only place, cancel and replace orders",
            );
        }
        if scoped {
            self.spend_scoped_nonce(account_id, payload.signer, payload.nonce)?;
        } else {
            self.spend_nonce(account_id, payload.nonce)?;
        }
        self.apply_body(account_id, &payload.body, events)
    }

    /// Applies the nonce rule against the account's window as it stood at the block's start.
    fn spend_nonce(&mut self, account_id: AccountId, nonce: u64) -> Result<(), Reject> {
        let time = self.time;
        self.touched.account(account_id);
        let Some(account) = self.accounts.get_mut(&account_id) else {
            return reject(
                RejectCode::AccountUnknown,
                format!("account {account_id} does not exist"),
            );
        };
        // Dense by account id; an entry stamped with an older height is from an earlier block.
        let slot = usize::try_from(account_id.get() - 1).unwrap_or(usize::MAX);
        if self.block_nonces.len() <= slot {
            self.block_nonces.resize(slot + 1, (Height::new(0), BlockNonces::default()));
        }
        let (stamp, nonces) = &mut self.block_nonces[slot];
        if *stamp != self.height {
            *stamp = self.height;
            nonces.restart(&account.nonces);
        }
        nonces.accept(&mut account.nonces, nonce, time).map_err(crate::admission::nonce_reject)
    }

    /// [`Self::spend_nonce`] for a scoped key's own window.
    fn spend_scoped_nonce(
        &mut self,
        account_id: AccountId,
        key: tokenbook_protocol::PublicKey,
        nonce: u64,
    ) -> Result<(), Reject> {
        let time = self.time;
        self.touched.account(account_id);
        let Some(window) =
            self.accounts.get_mut(&account_id).and_then(|a| a.scoped_keys.get_mut(&key))
        else {
            return reject(RejectCode::UnauthorisedSigner, format!("key {key} is not scoped"));
        };
        let (stamp, blocks) = &mut self.block_scoped_nonces;
        if *stamp != self.height {
            *stamp = self.height;
            blocks.clear();
        }
        let nonces = blocks.entry((account_id, key)).or_insert_with(|| BlockNonces::new(window));
        nonces.accept(window, nonce, time).map_err(crate::admission::nonce_reject)
    }

    /// True if the signer is a scoped key (false for the owner); refuses anyone else.
    fn authorise(
        &self,
        account: &Account,
        signer: &tokenbook_protocol::PublicKey,
    ) -> Result<bool, Reject> {
        crate::admission::authorise(self, account, signer)
    }

    fn apply_body(
        &mut self,
        account: AccountId,
        body: &TxBody,
        events: &mut Events,
    ) -> Result<(), Reject> {
        match body {
            TxBody::PlaceOrder(order) => self.place_order(account, order, events),
            TxBody::CancelOrder(cancel) => self.cancel_order(account, cancel, events),
            TxBody::CancelAll(cancel) => {
                self.cancel_all(account, cancel.market, CancelReason::CancelAll, events)
            }
            TxBody::ReplaceOrder(replace) => self.replace_order(account, replace, events),
            TxBody::SetDeadman(set) => self.set_deadman(account, set.timeout_ms, events),
            TxBody::AuthoriseKey(auth) => self.authorise_key(account, auth, events),
            TxBody::RevokeKey(revoke) => self.revoke_key(account, revoke.key, events),
            TxBody::RegisterAccount(register) => self.register_account(account, register, events),
            TxBody::Deposit(transfer) => self.deposit(account, transfer, events),
            TxBody::Withdraw(transfer) => self.withdraw(account, transfer, events),
            TxBody::SetLimits(set) => self.set_limits(account, set, events),
            TxBody::SetFrozen(set) => self.set_frozen(account, set, events),
            TxBody::PublishIndex(observation) => self.publish_index(account, observation, events),
            TxBody::Propose(propose) => self.propose(account, propose, events),
            TxBody::Approve(approve) => self.approve(account, approve.proposal, events),
            TxBody::PostGuaranty(t) => self.post_guaranty(account, t.amount, events),
            TxBody::ReleaseGuaranty(t) => self.release_guaranty(account, t.amount, events),
        }
    }

    /// Housekeeping at the block's time, before any tx.
    fn begin_block(&mut self) -> Events {
        let mut events = Events::new();
        if let Some(set) = self.pending_validators.remove(&self.height) {
            self.validators = set;
        }
        self.lapse_proposals(&mut events);
        self.expire_orders(&mut events);
        self.expire_markets(&mut events);
        self.fire_deadmen(&mut events);
        events
    }

    /// A mutable account, marked as touched.
    pub(crate) fn account_mut(&mut self, id: AccountId) -> Result<&mut Account, Reject> {
        self.touched.account(id);
        self.accounts.get_mut(&id).ok_or_else(|| {
            Reject::new(RejectCode::AccountUnknown, format!("account {id} does not exist"))
        })
    }

    /// A mutable market, marked as touched.
    pub(crate) fn market_mut(&mut self, id: MarketId) -> Result<&mut Market, Reject> {
        if self.touched.markets.last() != Some(&id) {
            self.touched.markets.push(id);
        }
        self.markets.get_mut(&id).ok_or_else(|| {
            Reject::new(RejectCode::MarketUnknown, format!("market {id} does not exist"))
        })
    }

    /// Creates an account and registers its owner key.
    pub(crate) fn open_account(
        &mut self,
        kind: AccountKind,
        owner: tokenbook_protocol::PublicKey,
        member: Option<AccountId>,
        limits: tokenbook_protocol::AccountLimits,
        self_trade_group: u64,
    ) -> Result<AccountId, Reject> {
        self.check_new_key(&owner)?;
        let id = self.next_account;
        self.next_account = AccountId::new(id.get() + 1);
        let account = Account::new(id, kind, owner, member.unwrap_or(id), limits, self_trade_group);
        self.accounts.push(account);
        self.keys.insert(owner, KeyGrant::Owner(id));
        self.touched.account(id);
        self.touched.keys.push(owner);
        self.touched.globals = true;
        Ok(id)
    }

    /// Refuses a key that is already registered or fails the key half of the signature rule.
    pub(crate) fn check_new_key(&self, key: &tokenbook_protocol::PublicKey) -> Result<(), Reject> {
        if self.keys.contains_key(key) {
            return reject(RejectCode::KeyInUse, format!("key {key} is already registered"));
        }
        check_key(key)
    }

    /// Adds an index.
    pub(crate) fn list_index(&mut self, spec: tokenbook_protocol::IndexSpec) -> IndexId {
        let id = self.next_index;
        self.next_index = IndexId::new(id.get() + 1);
        self.indexes.insert(
            id,
            IndexState {
                spec,
                submissions: BTreeMap::new(),
                price: None,
                fresh: false,
                twap: crate::oracle::Twap::default(),
            },
        );
        self.touched.indexes.push(id);
        self.touched.globals = true;
        id
    }
}

/// Refuses a key that fails the key half of the signature rule (docs/adr/0002).
pub(crate) fn check_key(key: &tokenbook_protocol::PublicKey) -> Result<(), Reject> {
    tokenbook_protocol::VerifiedKey::new(key)
        .map(|_| ())
        .map_err(|e| Reject::new(RejectCode::InvalidKey, format!("key {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The packed-key sort gives exactly the (class, full rank, position) order, also when
        /// ranks share their first 11 bytes (forced here: heads come from a tiny alphabet) or
        /// are identical (the same tx twice).
        #[test]
        fn sequence_is_class_rank_position(
            txs in proptest::collection::vec((0u8..5, 0u8..3, 0u8..4), 0..300),
        ) {
            let rank = |i: usize| {
                let (_, head, tail) = txs[i];
                let mut bytes = [head; 32];
                bytes[11] = tail;
                Hash(bytes)
            };
            let got = sequence_by(txs.len(), |i| txs[i].0, rank);
            let mut want: Vec<usize> = (0..txs.len()).collect();
            want.sort_by_key(|&i| (txs[i].0, rank(i), i));
            prop_assert_eq!(got, want);
        }
    }
}
