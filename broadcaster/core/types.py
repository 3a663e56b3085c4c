"""Type aliases shared across the package."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
"""A JSON object as decoded by :mod:`json`."""
