"""Tracking codes of citizens' reports: ``ZZ-7K4M-Q2PD``. Pure.

Made to be read out over the phone and typed back by someone else: eight characters of
Crockford's base 32 after a prefix, accepted in any case, with or without dashes or
spaces, with the letters people confuse read as the digits they look like.
"""

from __future__ import annotations

import re
import secrets

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: digits and capitals without I, L, O and U, so nothing is
confused when a code is read out over the phone (an O heard is typed 0; I and L, 1).
Eight of them: 32**8 = 1.1e12 codes; with 10,000 reports on file, a million guesses find one
with a chance of about 1 %, and a report's page shows no contact anyway."""
CODE_LENGTH = 8
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_code(prefix: str) -> str:
    """``ZZ-7K4M-Q2PD``: a prefix and eight random characters of :data:`CODE_ALPHABET`."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{prefix}-{chars[:4]}-{chars[4:]}"


def normalise_code(text: str, prefix: str) -> str | None:
    """The code as stored, from what someone typed or read out: any case, with or
    without dashes or spaces, O for 0, I or L for 1. None if it cannot be a code."""
    raw = re.sub(r"[\s\-_.]", "", text.upper())
    if raw.startswith(prefix):
        raw = raw[len(prefix) :]
    raw = raw.translate(_CONFUSABLE)
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return f"{prefix}-{raw[:4]}-{raw[4:]}"
