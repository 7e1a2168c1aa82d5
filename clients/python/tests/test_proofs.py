"""State proofs verified in pure Python: the real proofs of docs/wire-format.md ("Proof
vectors") and a saved ``GET /v1/accounts/{id}?prove=true`` answer, and every tampering of them
failing."""

import copy
import json
import pathlib
import unittest

from tokenbook import proofs, state
from tokenbook.codec import DecodeError
from tokenbook.proofs import ProofError

from .support import fenced_blocks

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "account_proof.json"


def vectors():
    out = {v["name"]: v for v in fenced_blocks("proof-vector")}
    assert len(out) >= 3, "docs/wire-format.md lists the proof vectors"
    return out


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


class DocumentVectors(unittest.TestCase):
    def setUp(self):
        self.vectors = vectors()

    def claimed(self, v):
        return None if v["value"] == "none" else bytes.fromhex(v["value"])

    def test_every_vector_verifies(self):
        for name, v in self.vectors.items():
            with self.subTest(name):
                proof = proofs.decode_state_proof(v["proof_hex"])
                self.assertEqual(proof.key.hex(), v["key"])
                self.assertEqual(proof.value, self.claimed(v))
                proof.verify(v["state_root"])

    def test_kinds_of_proof(self):
        inclusion = proofs.decode_state_proof(self.vectors["account-5"]["proof_hex"])
        with_leaf = proofs.decode_state_proof(
            self.vectors["absent-account-with-leaf"]["proof_hex"])
        empty = proofs.decode_state_proof(self.vectors["absent-key-empty-subtree"]["proof_hex"])
        self.assertEqual(inclusion.proof.leaf.key_hash, proofs.key_hash(state.account_key(5)))
        self.assertNotEqual(with_leaf.proof.leaf.key_hash, proofs.key_hash(with_leaf.key))
        self.assertIsNone(empty.proof.leaf)

    def test_the_account_vector_decodes(self):
        account = state.decode_account(bytes.fromhex(self.vectors["account-5"]["value"]))
        self.assertEqual((account.id, account.kind, account.member), (5, "trader", 1))
        self.assertEqual((account.limits.max_order_qty, account.limits.max_open_orders,
                          account.limits.max_position), (100, 500, 5_000))
        self.assertEqual(account.cash, 10_000_619_414_600)
        self.assertEqual(account.positions[1], state.Position(13, 10_970_000_000, 22, 25))
        self.assertEqual(account.positions[2], state.Position(8, 3_740_000_000, 25, 25))
        self.assertEqual((account.open_orders, account.client_ids), ([], {}))
        self.assertEqual(len(account.nonces), 32)
        self.assertEqual(account.nonces, sorted(account.nonces))
        self.assertEqual(account.guaranty, state.Guaranty(0, 0, 0))

    def test_tampered_value_root_or_path_fails(self):
        for name, v in self.vectors.items():
            with self.subTest(name):
                proof = proofs.decode_state_proof(v["proof_hex"])
                root = bytes.fromhex(v["state_root"])
                with self.assertRaises(ProofError):
                    proof.verify(flip(root, 31))
                wrong_value = b"\x00" if proof.value is None else flip(proof.value, 10)
                with self.assertRaises(ProofError):
                    proof.proof.verify(root, proof.key, wrong_value)
                with self.assertRaises(ProofError):
                    proof.proof.verify(root, flip(proof.key, len(proof.key) - 1), proof.value)
                sibling = proof.proof.siblings[-1]
                moved = proofs.SparseMerkleProof(
                    proof.proof.leaf, proof.proof.siblings[:-1] +
                    [proofs.Internal(sibling.hash(), proofs.PLACEHOLDER)])
                with self.assertRaises(ProofError):
                    moved.verify(root, proof.key, proof.value)

    def test_inclusion_is_not_absence_and_back(self):
        inclusion = proofs.decode_state_proof(self.vectors["account-5"]["proof_hex"])
        root = bytes.fromhex(self.vectors["account-5"]["state_root"])
        with self.assertRaisesRegex(ProofError, "absence"):
            inclusion.proof.verify(root, inclusion.key, None)
        empty = proofs.decode_state_proof(
            self.vectors["absent-key-empty-subtree"]["proof_hex"])
        with self.assertRaisesRegex(ProofError, "inclusion"):
            empty.proof.verify(root, empty.key, b"anything")
        # Another key's leaf proves absence only for keys in that leaf's subtree.
        with_leaf = proofs.decode_state_proof(
            self.vectors["absent-account-with-leaf"]["proof_hex"])
        with self.assertRaisesRegex(ProofError, "subtree"):
            with_leaf.proof.verify(root, b"\x07", None)

    def test_malformed_bytes_are_refused(self):
        data = bytes.fromhex(self.vectors["account-5"]["proof_hex"])
        with self.assertRaises(DecodeError):
            proofs.decode_state_proof(data + b"\x00")
        with self.assertRaises(DecodeError):
            proofs.decode_state_proof(data[:-1])
        encoded = b"\x00" + (1).to_bytes(4, "little") + b"\x03"
        with self.assertRaisesRegex(DecodeError, "node tag"):
            proofs.decode_sparse_merkle_proof(encoded)
        with self.assertRaisesRegex(DecodeError, "siblings"):
            proofs.decode_sparse_merkle_proof(b"\x00" + (257).to_bytes(4, "little"))
        with self.assertRaisesRegex(DecodeError, "option"):
            proofs.decode_sparse_merkle_proof(b"\x02" + bytes(68))


class SavedAccountAnswer(unittest.TestCase):
    """A whole ``GET /v1/accounts/5?prove=true`` answer saved from a devnet node."""

    def setUp(self):
        self.answer = json.loads(FIXTURE.read_text())

    def test_proof_and_json_agree(self):
        record = state.verify_account_answer(self.answer)
        self.assertEqual(record.owner.hex(), self.answer["owner"])
        self.assertEqual(record.cash, int(self.answer["cash"]))

    def test_a_json_field_the_proof_does_not_back_fails(self):
        for field, value in [("cash", str(int(self.answer["cash"]) + 1)), ("frozen", True),
                             ("member", 2)]:
            with self.subTest(field):
                forged = copy.deepcopy(self.answer)
                forged[field] = value
                with self.assertRaises(ProofError):
                    state.verify_account_answer(forged)

    def test_another_root_or_account_fails(self):
        with self.assertRaises(ProofError):
            state.verify_account_answer(self.answer, state_root="00" * 32)
        forged = copy.deepcopy(self.answer)
        forged["id"] = 6
        with self.assertRaisesRegex(ProofError, "key"):
            state.verify_account_answer(forged)


class Keys(unittest.TestCase):
    def test_account_key_layout(self):
        self.assertEqual(state.account_key(5).hex(), "010000000000000005")
        self.assertEqual(state.account_key(2**64 - 1).hex(), "01ffffffffffffffff")


if __name__ == "__main__":
    unittest.main()
