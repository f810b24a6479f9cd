"""Hostile variants of a real receipt, for every place one is parsed (the verifier, `provreg verify`, the /log page).

Each variant is what a forger or a fuzzer would paste: numbers past every bound (5,000 digits is past Python's own
int-string limit of 4,300), floats, NaN and Infinity where integers belong, wrappers nested past any recursion
limit. None may verify, and none may fail with anything but a verification failure.
"""

from __future__ import annotations

import json
import re

HUGE = "9" * 5000  # past Python's int-string limit
OVER_UINT64 = str(2**64)
NESTED = "[" * 100_000 + "]" * 100_000


def hostile_receipts(receipt: str) -> dict[str, str]:
    """Named variants of `receipt` (the JSON `provreg receipt` prints)."""
    obj = json.loads(receipt)
    proof: str = obj["proof"]
    checkpoint_size = proof.split("\n\n", 1)[1].split("\n")[1]

    def with_proof(new_proof: str) -> str:
        return json.dumps({**obj, "proof": new_proof})

    def with_log_index(token: str, *, entry: bool = False) -> str:
        """The receipt (or its entry) with `token` spelled where its log_index is: numbers json.dumps cannot write."""
        target = {**obj, "entry": {**obj["entry"], "log_index": "@@"}} if entry else {**obj, "log_index": "@@"}
        return json.dumps(target).replace('"@@"', token)

    variants = {
        "receipt log_index of 5000 digits": with_log_index(HUGE),
        "entry log_index of 5000 digits": with_log_index(HUGE, entry=True),
        "negative log_index of 5000 digits": with_log_index("-" + HUGE),
        "log_index over 64 bits": with_log_index(OVER_UINT64),
        "log_index a float": with_log_index("0.0"),
        "log_index with an exponent": with_log_index("1e400"),
        "log_index NaN": with_log_index("NaN"),
        "log_index -Infinity": with_log_index("-Infinity"),
        "log_index true": with_log_index("true"),
        "proof index of 5000 digits": with_proof(re.sub(r"^index \d+$", f"index {HUGE}", proof, count=1, flags=re.M)),
        "proof index over 64 bits": with_proof(re.sub(r"^index \d+$", f"index {OVER_UINT64}", proof, flags=re.M)),
        "proof index with a sign": with_proof(re.sub(r"^index (\d+)$", r"index +\1", proof, flags=re.M)),
        "checkpoint size of 5000 digits": with_proof(proof.replace(f"\n{checkpoint_size}\n", f"\n{HUGE}\n", 1)),
        "checkpoint size over 64 bits": with_proof(proof.replace(f"\n{checkpoint_size}\n", f"\n{OVER_UINT64}\n", 1)),
        "wrapper with a 5000-digit number": f'{{"receipt": {receipt}, "size": {HUGE}}}',
        "wrapper with a float of 5000 digits": f'{{"receipt": {receipt}, "size": 0.{HUGE}}}',
        "wrapper nested 100000 deep": f'{{"receipt": {receipt}, "more": {NESTED}}}',
        "receipt nested 100000 deep": NESTED,
        "bare 5000-digit number": HUGE,
    }
    return variants
