"""Publishing: read the log, let the timeline rules decide, append.

Writes to one incident are serialised per process (a lock per incident) and made
safe across processes by optimistic concurrency: the append names the seq the
decision was based on, and a conflict means "someone wrote first: decide again".
An ``Idempotency-Key`` is stored atomically with the event it appended, so a
retry, even a concurrent one on another process, returns the first event.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from weakref import WeakValueDictionary

from broadcaster import metrics
from broadcaster.accounts import Actor, audit
from broadcaster.core import markdown
from broadcaster.core import timeline as tl
from broadcaster.core.events import Event, EventType, utc_now
from broadcaster.core.timeline import Decision, Incident, NotFound
from broadcaster.core.types import JSON
from broadcaster.stores.base import Also, Appended, Backend, BackendError, SeqConflict

KIND = "incident"
MAX_ATTEMPTS = 50


class IdempotencyMismatch(Exception):
    """An Idempotency-Key was reused for a different request (HTTP 422)."""


def incident_log(incident_id: str) -> str:
    return f"{KIND}:{incident_id}"


def rendered_translations(translations: dict[str, str] | None) -> dict[str, JSON]:
    """``{tag: body}`` as updates carry it: ``{tag: {"body", "html"}}``."""
    return {tag: {"body": text, "html": markdown.render(text)} for tag, text in (translations or {}).items()}


class Publisher:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._states: dict[str, Incident] = {}
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    # --- reading ----------------------------------------------------------------

    async def get(self, incident_id: str) -> Incident:
        """The incident folded up to the log's current head.

        Raises:
            NotFound: no such incident.
        """
        cached = self._states.get(incident_id)
        with metrics.backend_timer("read"):
            events = await self.backend.read(incident_log(incident_id), since=cached.seq if cached else 0)
        state = self._states.get(incident_id)  # another reader may have folded meanwhile
        for event in events:
            if state is None or event.seq == state.seq + 1:
                state = tl.apply(state, event.decode())
        if state is None:
            raise NotFound(f"no incident {incident_id}")
        self._states[incident_id] = state
        return state

    async def list_incidents(self, state: str | None = None) -> list[Incident]:
        """All incidents (optionally only ``live`` or ``resolved``), newest first."""
        logs = await self.backend.logs(KIND)
        incidents = [await self.get(name.partition(":")[2]) for name in logs]
        chosen = [inc for inc in incidents if state is None or inc.state == state]
        return sorted(chosen, key=lambda inc: inc.opened_at, reverse=True)

    async def events(self, incident_id: str, since: int, limit: int) -> tuple[list[Event], int]:
        """Events with seq > since (at most ``limit``) and the log's head.

        Raises:
            NotFound: no such incident.
        """
        log = incident_log(incident_id)
        with metrics.backend_timer("read"):
            head = await self.backend.head(log)
            if head == 0:
                raise NotFound(f"no incident {incident_id}")
            return await self.backend.read(log, since=since, limit=limit), head

    # --- writing ----------------------------------------------------------------

    async def create(self, fields: dict[str, Any], by: Actor, idem_key: str | None) -> Appended:
        """Open an incident. With a key, its id derives from (operator, key), so a
        retry lands on the same log and is answered from its first event."""
        if idem_key is None:
            incident_id = secrets.token_hex(5)
        else:
            incident_id = hashlib.sha256(f"{by.operator.id}:{idem_key}".encode()).hexdigest()[:10]
        log = incident_log(incident_id)
        type_, data = tl.decide_open(fields)
        key = self._key(by, idem_key)
        try:
            with metrics.backend_timer("append"):
                done = await self.backend.append(
                    log, type_, data, expect_seq=0, idem_key=key, also=_audit(by, incident_id, type_, data)
                )
        except SeqConflict as exc:
            raise IdempotencyMismatch("Idempotency-Key was already used for another incident") from exc
        self._check_replay(done, type_, data)
        _count(done, type_)
        return done

    async def post_update(
        self,
        incident_id: str,
        body: str,
        next_update_at: str | None,
        by: Actor,
        idem_key: str | None,
        photos: list[JSON] | None = None,
        translations: dict[str, str] | None = None,
        notify: bool | None = None,
    ) -> Appended:
        """``translations``: the body in other languages, by language tag. ``notify``: see
        :func:`broadcaster.core.timeline.decide_post` (None: the default).

        Raises ValueError for a bad field (the message names it: a past promise time, a
        translation in the incident's own language), plus what :meth:`_command` raises.
        """
        try:
            promise = tl.check_promise(next_update_at, utc_now())
        except ValueError as exc:
            raise ValueError(f"next_update_at: {exc}") from exc
        html = markdown.render(body)
        rendered = rendered_translations(translations)
        update_id = secrets.token_hex(4)
        return await self._command(
            incident_id,
            lambda inc: tl.decide_post(
                inc, update_id, body, html, promise, utc_now(), photos, rendered, notify
            ),
            EventType.UPDATE_POSTED,
            by,
            idem_key,
            # Not the promise: "+30 min" gives another time on a retry of the same post.
            expect={"body": body},
        )

    async def correct(
        self, incident_id: str, update_id: str, body: str, reason: str, by: Actor, idem_key: str | None,
        translations: dict[str, str] | None = None,
    ) -> Appended:  # fmt: skip
        """The correction replaces the update's translations (see :func:`tl.decide_correct`)."""
        html = markdown.render(body)
        rendered = rendered_translations(translations)
        return await self._command(
            incident_id,
            lambda inc: tl.decide_correct(inc, update_id, body, html, reason, rendered),
            EventType.UPDATE_CORRECTED,
            by,
            idem_key,
            expect={"id": update_id, "body": body, "reason": reason},
        )

    async def retract(
        self, incident_id: str, update_id: str, reason: str, by: Actor, idem_key: str | None
    ) -> Appended:
        return await self._command(
            incident_id,
            lambda inc: tl.decide_retract(inc, update_id, reason),
            EventType.UPDATE_RETRACTED,
            by,
            idem_key,
            expect={"id": update_id, "reason": reason},
        )

    async def pin(self, incident_id: str, update_id: str, pinned: bool, by: Actor) -> Appended:
        decide = tl.decide_pin if pinned else tl.decide_unpin
        kind = EventType.UPDATE_PINNED if pinned else EventType.UPDATE_UNPINNED
        return await self._command(incident_id, lambda inc: decide(inc, update_id), kind, by, None)

    async def set_facts(
        self, incident_id: str, facts: list[JSON], by: Actor, idem_key: str | None
    ) -> Appended:
        return await self._command(
            incident_id,
            lambda inc: tl.decide_facts(inc, facts),
            EventType.FACTS_CHANGED,
            by,
            idem_key,
            expect={"facts": facts},
        )

    async def edit(
        self, incident_id: str, changes: dict[str, Any], by: Actor, idem_key: str | None
    ) -> Appended:
        return await self._command(
            incident_id,
            lambda inc: tl.decide_edit(inc, changes),
            EventType.INCIDENT_EDITED,
            by,
            idem_key,
            expect=changes,
        )

    async def resolve(
        self, incident_id: str, resolved: bool, reason: str | None, by: Actor, idem_key: str | None
    ) -> Appended:
        decide = tl.decide_resolve if resolved else tl.decide_reopen
        kind = EventType.INCIDENT_RESOLVED if resolved else EventType.INCIDENT_REOPENED
        return await self._command(
            incident_id, lambda inc: decide(inc, reason), kind, by, idem_key, expect={"reason": reason}
        )

    async def command(
        self, incident_id: str, decide: Callable[[Incident], Decision], kind: str, by: Actor, key: str
    ) -> Appended:
        """Append what ``decide`` (a pure rule over the incident) returns, for another
        capability (a reader's question answered in public). ``key`` is used as given, not
        scoped by operator: whoever retries, the first event is returned (created False)."""
        return await self._command(incident_id, decide, kind, by, None, raw_key=key)

    async def _command(
        self,
        incident_id: str,
        decide: Callable[[Incident], Decision],
        kind: str,
        by: Actor,
        idem_key: str | None,
        expect: JSON | None = None,
        raw_key: str | None = None,
    ) -> Appended:
        """Decide on the current state and append, retrying on a concurrent write.

        Raises:
            NotFound, RuleViolation: from the rules (404, 409).
            IdempotencyMismatch: the key was used for another request (422).
            BackendError: the store failed or stayed contended (503).
        """
        log, key = incident_log(incident_id), raw_key or self._key(by, idem_key)
        lock = self._locks.get(incident_id)
        if lock is None:
            lock = self._locks[incident_id] = asyncio.Lock()
        async with lock:
            if key is not None and (first := await self.backend.find_idem(log, key)) is not None:
                self._check_replay(Appended(first, False), kind, expect)
                return Appended(first, False)
            for _ in range(MAX_ATTEMPTS):
                incident = await self.get(incident_id)
                type_, data = decide(incident)
                try:
                    with metrics.backend_timer("append"):
                        done = await self.backend.append(
                            log,
                            type_,
                            data,
                            expect_seq=incident.seq,
                            idem_key=key,
                            also=_audit(by, incident_id, type_, data),
                        )
                except SeqConflict:
                    continue  # another process wrote first: decide again on the new state
                self._check_replay(done, type_, expect)
                _count(done, type_)
                return done
        raise BackendError("the incident is changing too fast to write to; try again")

    @staticmethod
    def _key(by: Actor, idem_key: str | None) -> str | None:
        return None if idem_key is None else f"{by.operator.id}:{idem_key}"

    @staticmethod
    def _check_replay(done: Appended, type_: str, expect: JSON | None) -> None:
        if done.created:
            return
        first = done.event.decode()
        same_type = first["type"] == type_
        same_data = expect is None or all(
            k in first["data"] and first["data"][k] == v for k, v in expect.items()
        )
        if not (same_type and same_data):
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used for a different request; use a new key"
            )


def _audit(by: Actor, incident_id: str, type_: str, data: JSON) -> Also:
    """The audit entry of an incident event, written in the same step as the event."""
    target = data.get("id") if type_.startswith("update.") else None
    return audit.entry(by, type_, incident=incident_id, target=target)


def _count(done: Appended, type_: str) -> None:
    """Count a new event (a replay is not one)."""
    if done.created:
        metrics.EVENTS_APPENDED.labels(type_).inc()
