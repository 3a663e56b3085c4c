"""The audit log: who did what, when and from where. Never shown to the public.

It is one more append-only log (``audit:all``) in the backend, so it is stored the
same way as incidents, in order, by every process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from broadcaster.accounts.operators import Operator
from broadcaster.core.types import JSON
from broadcaster.stores.base import Also, Backend, BackendError

LOG = "audit:all"
log = logging.getLogger("incidents.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """An operator acting, and the address the request came from."""

    operator: Operator
    address: str | None = None


def entry(
    actor: Actor,
    action: str,
    *,
    incident: str | None = None,
    target: str | None = None,
    detail: JSON | None = None,
) -> Also:
    """An audit entry, to append with the event it records (``Backend.append(also=...)``)."""
    data: dict[str, Any] = {
        "operator": actor.operator.id,
        "name": actor.operator.name,
        "action": action,
        "incident": incident,
        "target": target,
        "address": actor.address,
        "detail": detail or {},
    }
    return Also(LOG, "audit", data)


async def record(
    backend: Backend,
    actor: Actor,
    action: str,
    *,
    incident: str | None = None,
    target: str | None = None,
    detail: JSON | None = None,
) -> None:
    """Append one audit entry. A failure is logged, not raised: the action itself
    has already happened and must not be reported to its operator as failed."""
    made = entry(actor, action, incident=incident, target=target, detail=detail)
    try:
        await backend.append(made.log, made.type_, made.data)
    except BackendError as exc:
        log.error("audit entry lost (%s): %s", exc, made.data)


async def entries(
    backend: Backend,
    *,
    operator: str | None = None,
    action: str | None = None,
    incident: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[JSON]:
    """Entries newest first, filtered; ``before`` pages back by seq."""
    head = await backend.head(LOG)
    end = min(head, before - 1) if before else head
    found: list[JSON] = []
    window = 500
    while end > 0 and len(found) < limit:
        start = max(0, end - window)
        for event in reversed(await backend.read(LOG, since=start, limit=end - start)):
            entry = event.decode()
            data = entry["data"]
            if (
                (operator is None or data["operator"] == operator or data["name"] == operator)
                and (action is None or data["action"].startswith(action))
                and (incident is None or data["incident"] == incident)
            ):
                found.append({"seq": entry["seq"], "at": entry["at"], **data})
                if len(found) == limit:
                    break
        end = start
    return found
