"""Key files (the CLI's and the devnet's format and rules) and unit conversions."""

import decimal
import os
import tempfile
import unittest
from decimal import Decimal

from tokenbook import units
from tokenbook.errors import ApiError
from tokenbook.keys import Key, verify


class Keys(unittest.TestCase):
    def test_rfc8032_seed_to_public_key(self):
        # The document's first vector: seed 01…01 signs as 8a88e3dd….
        key = Key.from_seed("01" * 32)
        self.assertEqual(key.public_key_hex,
                         "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
        signature = key.sign(b"message")
        self.assertTrue(verify(key.public_key, b"message", signature))
        self.assertFalse(verify(key.public_key, b"other", signature))

    def test_save_and_load_a_key_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trader.key")
            key = Key.generate()
            key.save(path)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            with open(path) as f:
                self.assertEqual(f.read(), key.seed.hex())
            self.assertEqual(Key.load(path).public_key, key.public_key)
            with self.assertRaises(FileExistsError):
                key.save(path)

    def test_load_refuses_a_readable_file_and_junk(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "k.key")
            with open(path, "w") as f:
                f.write("ab" * 32 + "\n")
            os.chmod(path, 0o644)
            with self.assertRaisesRegex(PermissionError, "chmod 600"):
                Key.load(path)
            os.chmod(path, 0o600)
            self.assertEqual(Key.load(path).seed, bytes([0xAB]) * 32)
            with open(path, "w") as f:
                f.write("not hex")
            with self.assertRaises(ValueError):
                Key.load(path)


class Units(unittest.TestCase):
    def test_ticks(self):
        self.assertEqual(units.usd_to_ticks("9.98", "10000"), 998)
        self.assertEqual(units.ticks_to_usd("998", 10_000), Decimal("9.98"))
        with self.assertRaises(ValueError):
            units.usd_to_ticks("9.985", 10_000)
        self.assertEqual(units.usd_to_ticks("9.985", 10_000, decimal.ROUND_FLOOR), 998)
        with self.assertRaises(ValueError):
            units.usd_to_ticks(9.98, 10_000)

    def test_cash_is_exact_for_any_i128(self):
        big = 2**127 - 1
        self.assertEqual(units.usd_to_cash(units.cash_to_usd(big)), big)
        self.assertEqual(units.cash_to_usd("10000045980700"), Decimal("10000045.9807"))
        with self.assertRaises(ValueError):
            units.usd_to_cash("0.0000001")


class Errors(unittest.TestCase):
    def test_json_and_other_bodies(self):
        e = ApiError.from_body(404, b'{"code": "account_unknown", "message": "no account 9"}')
        self.assertEqual((e.status, e.code, e.message), (404, "account_unknown", "no account 9"))
        e = ApiError.from_body(400, b"")
        self.assertEqual((e.status, e.code), (400, "http_400"))


if __name__ == "__main__":
    unittest.main()
