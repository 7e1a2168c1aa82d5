"""Consensus encodings against the document: every ``vote-vector``, ``proposal-vector`` and
``validator-set-vector`` block of docs/wire-format.md re-derived byte for byte."""

import unittest

from tokenbook.consensus import (PRECOMMIT, PREVOTE, PROPOSAL_DOMAIN, VOTE_DOMAIN, Validator,
                                 proposal_payload, validator_set_encoding, validator_set_hash,
                                 vote_payload)
from tokenbook.keys import Key
from tokenbook.tx import signing_preimage

from .support import fenced_blocks


def nil_or_hash(text):
    return None if text == "nil" else bytes.fromhex(text)


class ConsensusVectors(unittest.TestCase):
    def check(self, v, domain, payload, key):
        preimage = signing_preimage(domain, v["chain_id"], payload)
        self.assertEqual(payload.hex(), v["payload_hex"], v["name"])
        self.assertEqual(preimage.hex(), v["preimage_hex"], v["name"])
        self.assertEqual(key.sign(preimage).hex(), v["signature"], v["name"])

    def test_votes(self):
        vectors = list(fenced_blocks("vote-vector"))
        self.assertGreaterEqual(len(vectors), 2)
        for v in vectors:
            key = Key.from_seed(bytes.fromhex(v["seed"]))
            kind = {"prevote": PREVOTE, "precommit": PRECOMMIT}[v["kind"]]
            payload = vote_payload(kind, int(v["height"]), int(v["round"]),
                                   nil_or_hash(v["value"]), key.public_key)
            self.check(v, VOTE_DOMAIN, payload, key)

    def test_proposals(self):
        vectors = list(fenced_blocks("proposal-vector"))
        self.assertGreaterEqual(len(vectors), 1)
        for v in vectors:
            key = Key.from_seed(bytes.fromhex(v["seed"]))
            pol = None if v["pol_round"] == "nil" else int(v["pol_round"])
            payload = proposal_payload(int(v["height"]), int(v["round"]), pol,
                                       bytes.fromhex(v["value"]), key.public_key)
            self.check(v, PROPOSAL_DOMAIN, payload, key)

    def test_validator_sets(self):
        vectors = list(fenced_blocks("validator-set-vector"))
        self.assertGreaterEqual(len(vectors), 1)
        for v in vectors:
            validators = []
            for entry in v["validators"].split(","):
                consensus, network, power = entry.split(":")
                validators.append(Validator(
                    Key.from_seed(bytes.fromhex(consensus)).public_key,
                    Key.from_seed(bytes.fromhex(network)).public_key, int(power)))
            self.assertEqual(validator_set_encoding(validators).hex(), v["set_hex"], v["name"])
            self.assertEqual(validator_set_hash(reversed(validators)).hex(), v["set_hash"])


if __name__ == "__main__":
    unittest.main()
