//! The transaction envelope and every transaction body.
//!
//! `Tx = { account, signer, nonce, body, signature }`. The signature covers
//! `encode("tokenbook/tx/v1") ‖ encode(chain_id) ‖ encode(account, signer, nonce, body)`, i.e. the
//! tx's own encoding without its last 64 bytes, behind the domain tag and chain id. The tx hash is
//! SHA-256 of the whole encoding, signature included (signatures are non-malleable under the
//! validity rule, so one tx has one hash).
//!
//! `account` is the account acted for; `signer` is the key that signed, which the ledger checks
//! is the account's owner key or a scoped key the owner authorised (trading bodies only).

use crate::admin::{
    Approve, CashTransfer, GuarantyTransfer, IndexObservation, Propose, RegisterAccount, SetFrozen,
    SetLimits,
};
use crate::codec::{self, wire_kind};
use crate::crypto::{self, Domain, Keypair, PublicKey, SigError, Signature, VerifiedKey};
use crate::hash::Hash;
use crate::ids::AccountId;
use crate::order::{
    AuthoriseKey, CancelAll, CancelOrder, NewOrder, ReplaceOrder, RevokeKey, SetDeadman,
};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Largest encoded tx in bytes.
pub const MAX_TX_BYTES: usize = 1024;
/// Longest chain id in bytes (printable ASCII).
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// Every transaction kind. The variant index is the wire tag: append, never reorder.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "body")]
pub enum TxBody {
    /// 0: trader places an order.
    PlaceOrder(NewOrder),
    /// 1: trader cancels one order.
    CancelOrder(CancelOrder),
    /// 2: trader cancels all orders (in one market or all).
    CancelAll(CancelAll),
    /// 3: trader replaces an order's price/size.
    ReplaceOrder(ReplaceOrder),
    /// 4: trader arms/refreshes/disarms the dead-man's switch.
    SetDeadman(SetDeadman),
    /// 5: trader authorises a scoped trading key.
    AuthoriseKey(AuthoriseKey),
    /// 6: trader revokes a scoped trading key.
    RevokeKey(RevokeKey),
    /// 7: member registers a trader account.
    RegisterAccount(RegisterAccount),
    /// 8: member attests a deposit.
    Deposit(CashTransfer),
    /// 9: member attests a withdrawal.
    Withdraw(CashTransfer),
    /// 10: member sets an account's limits.
    SetLimits(SetLimits),
    /// 11: member freezes or unfreezes an account.
    SetFrozen(SetFrozen),
    /// 12: member publishes an index observation.
    PublishIndex(IndexObservation),
    /// 13: member proposes a governance action.
    Propose(Propose),
    /// 14: member approves a proposal.
    Approve(Approve),
    /// 15: member moves cash from its own account into its guaranty-fund contribution (a top-up
    /// pays what defaults used first).
    PostGuaranty(GuarantyTransfer),
    /// 16: member takes back the part of its contribution above its requirement.
    ReleaseGuaranty(GuarantyTransfer),
}

impl TxBody {
    /// True for bodies a scoped trading key may sign (place, cancel, cancel-all, replace,
    /// dead-man's switch).
    #[must_use]
    pub fn is_trading(&self) -> bool {
        matches!(
            self,
            Self::PlaceOrder(_)
                | Self::CancelOrder(_)
                | Self::CancelAll(_)
                | Self::ReplaceOrder(_)
                | Self::SetDeadman(_)
        )
    }

    /// Stable lower-case name of the kind (logs, metrics, receipts).
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::PlaceOrder(_) => "place_order",
            Self::CancelOrder(_) => "cancel_order",
            Self::CancelAll(_) => "cancel_all",
            Self::ReplaceOrder(_) => "replace_order",
            Self::SetDeadman(_) => "set_deadman",
            Self::AuthoriseKey(_) => "authorise_key",
            Self::RevokeKey(_) => "revoke_key",
            Self::RegisterAccount(_) => "register_account",
            Self::Deposit(_) => "deposit",
            Self::Withdraw(_) => "withdraw",
            Self::SetLimits(_) => "set_limits",
            Self::SetFrozen(_) => "set_frozen",
            Self::PublishIndex(_) => "publish_index",
            Self::Propose(_) => "propose",
            Self::Approve(_) => "approve",
            Self::PostGuaranty(_) => "post_guaranty",
            Self::ReleaseGuaranty(_) => "release_guaranty",
        }
    }
}

/// The signed part of a tx: everything but the signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxPayload {
    /// The account acted for.
    pub account: AccountId,
    /// The key that signs (owner key or an authorised scoped key).
    pub signer: PublicKey,
    /// Replay protection: milliseconds, unique per account within the nonce window
    /// (docs/wire-format.md "Nonce rule").
    pub nonce: u64,
    /// What to do.
    pub body: TxBody,
}

impl TxPayload {
    /// The exact bytes the signature covers.
    #[must_use]
    pub fn signing_preimage(&self, chain_id: &str) -> Vec<u8> {
        crypto::signing_preimage(Domain::Tx, chain_id, &codec::encode(self))
    }

    /// Signs the payload, producing a complete tx.
    #[must_use]
    pub fn sign(self, key: &Keypair, chain_id: &str) -> Tx {
        let signature = key.sign_preimage(&self.signing_preimage(chain_id));
        Tx { payload: self, signature }
    }
}

/// A signed transaction. Encodes as the payload's fields followed by the 64-byte signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Tx {
    /// What was signed.
    #[serde(flatten)]
    pub payload: TxPayload,
    /// ed25519 signature over [`TxPayload::signing_preimage`].
    pub signature: Signature,
}

wire_kind!(Tx, "tx", MAX_TX_BYTES, |tx: &Tx| tx.check_shape());

/// Most txs in one [`TxBatch`].
pub const MAX_BATCH_TXS: usize = 256;

/// Txs submitted together (the API's `POST /v1/txs`): a count, then each tx's canonical
/// encoding. Each tx keeps its own size limit and shape rules.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TxBatch(pub Vec<Tx>);

wire_kind!(TxBatch, "tx_batch", MAX_BATCH_TXS * (MAX_TX_BYTES + 8) + 8, |batch: &TxBatch| {
    if batch.0.is_empty() || batch.0.len() > MAX_BATCH_TXS {
        return Err(format!("a batch holds 1..={MAX_BATCH_TXS} txs, not {}", batch.0.len()));
    }
    check_each(&batch.0)
});

/// Each tx of a list within its size limit and shape rules (a block's, a batch's).
///
/// # Errors
/// The first tx that is not, by position.
pub fn check_each(txs: &[Tx]) -> Result<(), String> {
    for (i, tx) in txs.iter().enumerate() {
        let len = codec::encode(tx).len();
        if len > MAX_TX_BYTES {
            return Err(format!("tx {i} is {len} bytes; the limit is {MAX_TX_BYTES}"));
        }
        tx.check_shape().map_err(|e| format!("tx {i}: {e}"))?;
    }
    Ok(())
}

impl Tx {
    /// SHA-256 of the canonical encoding (the tx's identity everywhere).
    #[must_use]
    pub fn hash(&self) -> Hash {
        codec::hash_of(self)
    }

    /// Structural rules beyond the type (string fields of governance bodies).
    ///
    /// # Errors
    /// The rule broken.
    pub fn check_shape(&self) -> Result<(), String> {
        match &self.payload.body {
            TxBody::Propose(p) => p.action.check_shape(),
            _ => Ok(()),
        }
    }

    /// Verifies the signature by the rule, given the signer's checked key (the ledger keeps
    /// checked keys of registered accounts; use [`VerifiedKey::new`] for others).
    ///
    /// # Errors
    /// [`SigError::Mismatch`] when `key` is not the tx's signer, else the rule's verdict.
    pub fn verify_signature(&self, key: &VerifiedKey, chain_id: &str) -> Result<(), SigError> {
        if key.public_key() != self.payload.signer {
            return Err(SigError::Mismatch);
        }
        crypto::verify(key, &self.payload.signing_preimage(chain_id), &self.signature)
    }
}

/// True when `chain_id` is 1..=64 bytes of `a-z 0-9 - _ .`.
#[must_use]
pub fn is_valid_chain_id(chain_id: &str) -> bool {
    (1..=MAX_CHAIN_ID_LEN).contains(&chain_id.len())
        && chain_id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}
