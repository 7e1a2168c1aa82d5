//! The signer seam: the core signs only through its [`Signer`], and a signer that fails costs a
//! step, never a crash.

use crate::harness::*;
use std::sync::{Arc, Mutex};
use tokenbook_consensus::*;
use tokenbook_protocol::*;

/// Every preimage the signer signed.
type Log = Arc<Mutex<Vec<Vec<u8>>>>;

/// A remote signer stand-in: signs with a key it holds, logs every preimage, and can be told to
/// refuse.
#[derive(Debug)]
struct Remote {
    key: Keypair,
    signed: Log,
    refuse: bool,
}

impl Signer for Remote {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn sign(&mut self, preimage: &[u8]) -> Result<Signature, SignError> {
        if self.refuse {
            return Err(SignError("unreachable".into()));
        }
        self.signed.lock().unwrap().push(preimage.to_vec());
        Ok(self.key.sign_preimage(preimage))
    }
}

fn core_with(net: &Net, i: usize, refuse: bool) -> (Consensus<Ed25519>, Log) {
    let signed = Arc::new(Mutex::new(Vec::new()));
    let remote = Remote { key: net.key(i), signed: Arc::clone(&signed), refuse };
    let (core, _) =
        Consensus::new(CHAIN, remote, TimeoutParams::default(), Ed25519, net.start(1, vec![]));
    (core, signed)
}

#[test]
fn votes_are_signed_through_the_seam_and_verify() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, signed) = core_with(&net, me, false);
    let out = core.handle(net.proposal(&core, 0, value(1), None));
    let vote = out
        .iter()
        .find_map(|o| match o {
            Output::BroadcastVote(v) => Some(*v),
            _ => None,
        })
        .unwrap();
    assert_eq!(signed.lock().unwrap().as_slice(), [vote.payload.signing_preimage(CHAIN)]);
    assert!(Ed25519.vote(CHAIN, &vote));
    assert_eq!(core.sign_failures(), 0);
}

#[test]
fn a_failing_signer_costs_the_vote_not_the_node() {
    let net = net(&[1, 1, 1, 1]);
    let me = net.not_proposing(0);
    let (mut core, _) = core_with(&net, me, true);
    let out = core.handle(net.proposal(&core, 0, value(1), None));
    assert!(votes(&out).is_empty(), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::Persist(_))), "{out:?}");
    assert_eq!(core.sign_failures(), 1);
    // The others still decide the height; this validator follows their votes.
    let mut out = Vec::new();
    for i in net.others(me) {
        out.extend(core.handle(net.prevote(i, 0, Some(value(1)))));
    }
    for i in net.others(me) {
        out.extend(core.handle(net.precommit(i, 0, Some(value(1)))));
    }
    assert!(out.iter().any(|o| matches!(o, Output::Decide { .. })), "{out:?}");
}
