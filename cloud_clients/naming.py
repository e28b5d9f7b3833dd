"""Names the services accept: run ids and resource names under one prefix, identities as external ids."""

from __future__ import annotations

import re
import secrets
import time

# Every resource a run creates starts with this; `audit cloud cleanup` deletes only these.
RESOURCE_PREFIX = "cloak-audit-"
# Rekognition's ExternalImageId allows [a-zA-Z0-9_.\-:]; Face++ user ids refuse ^@,&=*'" among others.
_SAFE = re.compile(r"[A-Za-z0-9_.\-]")
_ESCAPE = ":"


def new_run_id() -> str:
    """Sortable, lowercase (Azure group ids are [a-z0-9-_]), unique enough for concurrent runs."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def encode_identity(name: str) -> str:
    """A reversible id in the intersection of what the services allow: other bytes become `:XX`."""
    if not name:
        raise ValueError("an identity name cannot be empty")
    return "".join(ch if _SAFE.fullmatch(ch) else "".join(f"{_ESCAPE}{b:02X}" for b in ch.encode("utf-8"))
                   for ch in name)


def decode_identity(external_id: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(external_id):
        if external_id[i] == _ESCAPE:
            raw += bytes.fromhex(external_id[i + 1 : i + 3])
            i += 3
        else:
            raw += external_id[i].encode("ascii")
            i += 1
    return raw.decode("utf-8")
