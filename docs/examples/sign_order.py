#!/usr/bin/env python3
"""Build and sign a tokenbook order from Python, using only docs/wire-format.md and PyNaCl.

    pip install pynacl
    python3 docs/examples/sign_order.py            # checks itself against the document's vectors

Every byte here is written from the document's tables, not from the Rust code, so this script
passing is evidence that the document alone is enough. To submit, POST the `tx_hex` bytes to a
node's `/v1/tx` (docs/api.md, arriving with the node).
"""

import hashlib
import json
import pathlib
import re
import struct
import sys

from nacl.signing import SigningKey

# --- primitives (docs/wire-format.md "Primitives") ---------------------------------------------


def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def i32(v): return struct.pack("<i", v)
def i64(v): return struct.pack("<q", v)
def i128(v): return v.to_bytes(16, "little", signed=True)
def boolean(v): return b"\x01" if v else b"\x00"
def string(s): b = s.encode(); return u64(len(b)) + b
def option(v, enc): return b"\x00" if v is None else b"\x01" + enc(v)


SIDE = {"buy": 0, "sell": 1}
KIND = {"limit": 0, "market": 1}
STP = {"expire_maker": 0, "expire_taker": 1, "expire_both": 2}
TRIGGER = {"stop": 0, "take_profit": 1}


def time_in_force(tif):
    simple = {"gtc": 0, "ioc": 2, "fok": 3, "post_only": 4}
    if isinstance(tif, str):
        return u32(simple[tif])
    return u32(1) + u64(tif["gtt"])  # {"gtt": expiry_ms}


def new_order(o):
    return (u32(o["market"]) + u32(SIDE[o["side"]]) + u32(KIND[o["kind"]]) + i64(int(o["price"]))
            + i64(int(o["qty"])) + time_in_force(o["time_in_force"]) + boolean(o["reduce_only"])
            + option(o["client_order_id"], u64) + u32(STP[o["self_trade"]])
            + option(o["trigger"], lambda t: u32(TRIGGER[t["kind"]]) + i64(int(t["price"]))))


def order_ref(r):
    return u32(0) + u64(r["id"]) if "id" in r else u32(1) + u64(r["client"])


def body(b):
    kind, fields = b["type"], b["body"]
    if kind == "place_order":
        return u32(0) + new_order(fields)
    if kind == "cancel_order":
        return u32(1) + u32(fields["market"]) + order_ref(fields["order"])
    if kind == "cancel_all":
        return u32(2) + option(fields["market"], u32)
    if kind == "deposit":
        return (u32(8) + u64(fields["account"]) + i128(int(fields["amount"]))
                + bytes.fromhex(fields["reference"]))
    raise ValueError(f"this example encodes a few bodies; add {kind} from the tables")


def payload(p):
    return u64(p["account"]) + bytes.fromhex(p["signer"]) + u64(p["nonce"]) + body(p["body"])


def preimage(chain_id, payload_bytes):
    return string("tokenbook/tx/v1") + string(chain_id) + payload_bytes


def sign_tx(seed_hex, chain_id, p):
    key = SigningKey(bytes.fromhex(seed_hex))
    assert key.verify_key.encode().hex() == p["signer"], "signer must be the seed's public key"
    pb = payload(p)
    signature = key.sign(preimage(chain_id, pb)).signature
    tx = pb + signature
    return {"payload_hex": pb.hex(), "preimage_hex": preimage(chain_id, pb).hex(),
            "signature": signature.hex(), "tx_hex": tx.hex(),
            "tx_hash": hashlib.sha256(tx).hexdigest()}


def document_vectors():
    doc = pathlib.Path(__file__).resolve().parents[1] / "wire-format.md"
    for block in re.findall(r"```vector\n(.*?)```", doc.read_text(), re.S):
        yield dict(line.split(": ", 1) for line in block.strip().splitlines())


def main():
    checked = 0
    for v in document_vectors():
        got = sign_tx(v["seed"], v["chain_id"], json.loads(v["payload"]))
        for field, value in got.items():
            if v[field] != value:
                print(f"{v['name']}: {field} differs\n  doc:    {v[field]}\n  python: {value}")
                sys.exit(1)
        checked += 1
    print(f"sign_order.py: {checked} passed, 0 failed")

if __name__ == "__main__":
    main()
