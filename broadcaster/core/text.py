"""Written text: the one check every field an operator writes passes before it is stored.

Every character of Unicode is welcome (any script, right-to-left text, emoji and their
ZWJ sequences, combining marks, characters beyond the BMP) except those no page or
feed can carry faithfully: the C0 control characters other than tab, line feed and
carriage return (HTML and XML 1.0 forbid them), lone surrogates (they are not
characters; UTF-8 cannot encode them) and the noncharacters U+FFFE and U+FFFF (XML 1.0
forbids them). Those are refused, never silently dropped: what is stored is what every
reader sees.

The API's request models (:class:`broadcaster.incidents.schemas.Strict`) and the console's
forms both call :func:`check`.
"""

from __future__ import annotations

import re

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SURROGATE = re.compile("[\ud800-\udfff]")
MESSAGE = "control characters are not allowed"


class ControlCharacters(ValueError):
    """A written field holds a character no page or feed can carry."""


def problem(value: str) -> str | None:
    """Why ``value`` cannot be stored (``"control characters are not allowed: U+0000
    at character 3"``), or None when it can."""
    found = FORBIDDEN.search(value)
    if found is None:
        return None
    return f"{MESSAGE}: U+{ord(found.group()):04X} at character {found.start() + 1}"


def check(value: str, field: str) -> str:
    """``value`` unchanged, when every character of it can be stored.

    Raises:
        ControlCharacters: naming ``field``, the character and where it is.
    """
    why = problem(value)
    if why is not None:
        raise ControlCharacters(f"{field}: {why}")
    return value


def replace_surrogates(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD, so it can be encoded
    (to echo hostile input back in an error message)."""
    return SURROGATE.sub("\ufffd", value)
