"""Relaying: following every incident log in order while holding a lease, with cursors in a
progress document written with compare-and-set, backoff between failures, woken by the heads'
bells. Webhook delivery and notifications are built on it (see docs/architecture.md)."""

from __future__ import annotations

from broadcaster.relay.follower import BATCH, IDLE, Follower, LeaseLost
from broadcaster.relay.heads import Heads, Tap
from broadcaster.relay.pool import CLAIM_RETRY, Relay
from broadcaster.relay.rules import MAX_REASON, Progress, backoff, gives_up

__all__ = [
    "BATCH",
    "CLAIM_RETRY",
    "IDLE",
    "MAX_REASON",
    "Follower",
    "Heads",
    "LeaseLost",
    "Progress",
    "Relay",
    "Tap",
    "backoff",
    "gives_up",
]
