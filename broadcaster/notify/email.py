"""The e-mail channel: sends notices over SMTP (``aiosmtplib``), coalescing bursts.

At most one e-mail per incident per subscriber per ``INCIDENTS_EMAIL_MIN_INTERVAL``, carrying
every notice since the last one. A notice arriving within the interval is held (``DEFERRED``)
in a store document per subscription and incident (``notify:email:held:{sub}:{incident}``, so
that it survives a restart and every process sees it); the documents waiting are listed in
``notify:email:due`` ({key: due time}). A flush loop (:meth:`EmailChannel.start`) sends each
digest when it is due; it holds the lease ``notify:email:flush`` so one process flushes.

A message being sent is marked in its document (``sending_until``) first, so the dispatcher
and the flush loop never send the same notices twice; the notices leave the document only
once the server took the message (at least once: a crash mid-send resends, never loses).
Neither logs nor outcomes ever name an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from broadcaster.config import Settings
from broadcaster.core.types import JSON
from broadcaster.notify import mail
from broadcaster.notify.types import ChannelName, Level, Notice, Outcome, Result, Subscription
from broadcaster.stores.base import Backend

log = logging.getLogger(__name__)

DUE_KEY = "notify:email:due"
FLUSH_LEASE = "notify:email:flush"
SENDING_SECONDS = 2 * mail.SEND_TIMEOUT + 5
"""How long a message being sent keeps others off its document (longer than a send may take)."""
KEEP_SENT = 200
"""Seqs remembered per document, so that a notice handed over again is not sent again."""
GIVE_UP_AFTER = 24 * 3600.0
"""A held digest the server keeps refusing with 4xx is dropped after this long."""


class Subscribers(Protocol):
    """What the channel needs of :class:`broadcaster.notify.subscriptions.Subscriptions`."""

    async def personal(self, sub_id: str) -> JSON | None: ...

    def manage_url(self, sub: Subscription, personal: JSON) -> str: ...

    async def reject_address(self, email: str, reason: str) -> None: ...


def held_key(sub_id: str, incident: str) -> str:
    return f"notify:email:held:{sub_id}:{incident}"


def _notice_json(notice: Notice) -> JSON:
    return dataclasses.asdict(notice)


def _notice(data: JSON) -> Notice:
    return Notice(**data)


def _sub_json(sub: Subscription) -> JSON:
    return dataclasses.asdict(sub)


def _sub(data: JSON) -> Subscription:
    return Subscription(**{**data, "channel": ChannelName(data["channel"]), "level": Level(data["level"])})


def token_of(personal: JSON, manage_url: str) -> str:
    """The subscription's secret token: kept in the personal document, else the manage URL's
    last path segment."""
    token = personal.get("token")
    if isinstance(token, str) and token:
        return token
    return manage_url.rstrip("/").rpartition("/")[2]


class EmailChannel:
    """``deliver`` is called by the dispatcher (``dispatch.py``); ``start``/``aclose`` run the
    flush loop that sends held digests."""

    name = ChannelName.EMAIL

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        subscriptions: Subscribers,
        *,
        clock: Callable[[], float] = time.time,
        on_flush: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.subscriptions = subscriptions
        self.interval = settings.email_min_interval
        self.clock = clock
        self.on_flush = on_flush
        """Told the outcome of each digest the flush loop sends (the dispatcher's counters)."""
        self.owner = f"email-flush-{uuid.uuid4().hex}"
        self.poll = min(5.0, max(0.2, self.interval / 10))
        self.claim_seconds = SENDING_SECONDS
        """How long a message being sent keeps others off its document."""
        self._task: asyncio.Task[None] | None = None

    # --- the dispatcher's side -------------------------------------------------------------

    async def deliver(self, sub: Subscription, personal: JSON, notice: Notice, manage_url: str) -> Outcome:
        address = personal.get("email")
        if not isinstance(address, str) or not address:
            return Outcome(Result.REJECTED, "no e-mail address for this subscription")
        key = held_key(sub.id, notice.incident)
        while True:
            doc = await self.backend.get_doc(key)
            state: JSON = dict(doc.value) if doc else {}
            version = doc.version if doc else 0
            now = self.clock()
            held = list(state.get("notices", []))
            if notice.seq in state.get("sent", []):
                return Outcome(Result.SENT, "sent before")
            if any(n["seq"] == notice.seq for n in held):
                return Outcome(Result.DEFERRED, "held already")
            held.append(_notice_json(notice))
            last = state.get("last_sent_at")
            due = now if last is None else max(now, float(last) + self.interval)
            busy = float(state.get("sending_until", 0)) > now
            state |= {"sub": _sub_json(sub), "notices": held}
            if busy or due > now:
                if await self.backend.put_doc(key, state, expect_version=version):
                    await self._set_due(key, due)
                    return Outcome(Result.DEFERRED, "coalesced into the next e-mail")
                continue
            state["sending_until"] = now + self.claim_seconds
            if await self.backend.put_doc(key, state, expect_version=version):
                # Listed, so that the flush loop sends it should this process die (or this
                # call be cancelled) before the message is handed over.
                await self._set_due(key, now + self.claim_seconds)
                break
        outcome = await self._send(key, sub, address, manage_url, personal, held)
        if outcome.result is Result.RETRY:
            # The dispatcher retries this notice itself: do not keep it here too.
            await self._forget(key, {notice.seq})
        return outcome

    # --- sending ---------------------------------------------------------------------------

    async def _send(
        self, key: str, sub: Subscription, address: str, manage_url: str, personal: JSON, held: list[JSON]
    ) -> Outcome:
        """Send ``held`` (claimed by ``sending_until``) and record what became of it."""
        notices = [_notice(n) for n in held]
        seqs = {n.seq for n in notices}
        unsubscribe = mail.unsubscribe_url(self.settings.public_url, token_of(personal, manage_url))
        message = mail.notification(
            mail.sender(self.settings), address, sub, notices, manage_url, unsubscribe
        )
        try:
            await mail.send(self.settings, message)
        except mail.MailError as error:
            if error.permanent:
                await self._finish(key, seqs, sent=False)
                return Outcome(Result.REJECTED, error.detail)
            await self._release(key)
            return Outcome(Result.RETRY, error.detail)
        await self._finish(key, seqs, sent=True)
        return Outcome(Result.SENT, f"{len(notices)} notice(s) in one e-mail")

    async def _update(self, key: str, change: Callable[[JSON], None]) -> JSON:
        """Apply ``change`` to the document, compare-and-set, until it sticks."""
        while True:
            doc = await self.backend.get_doc(key)
            state: JSON = dict(doc.value) if doc else {}
            change(state)
            if await self.backend.put_doc(key, state, expect_version=doc.version if doc else 0):
                return state

    async def _finish(self, key: str, seqs: set[int], *, sent: bool) -> None:
        now = self.clock()

        def change(state: JSON) -> None:
            state["notices"] = [n for n in state.get("notices", []) if n["seq"] not in seqs]
            state.pop("sending_until", None)
            state.pop("failing_since", None)
            state["attempts"] = 0
            if sent:
                state["last_sent_at"] = now
                state["sent"] = [*state.get("sent", []), *sorted(seqs)][-KEEP_SENT:]
            else:
                state["notices"] = []  # the address is refused for good

        state = await self._update(key, change)
        if state["notices"]:
            await self._set_due(key, now + self.interval if sent else now)
        else:
            await self._set_due(key, None)

    async def _release(self, key: str) -> None:
        def change(state: JSON) -> None:
            state.pop("sending_until", None)

        await self._update(key, change)

    async def _forget(self, key: str, seqs: set[int]) -> None:
        def change(state: JSON) -> None:
            state["notices"] = [n for n in state.get("notices", []) if n["seq"] not in seqs]

        state = await self._update(key, change)
        if not state["notices"]:
            await self._set_due(key, None)

    async def _set_due(self, key: str, due: float | None) -> None:
        while True:
            doc = await self.backend.get_doc(DUE_KEY)
            held = dict(doc.value.get("held", {})) if doc else {}
            if due is None:
                if key not in held:
                    return
                held.pop(key)
            elif held.get(key) == due:
                return
            else:
                held[key] = due
            if await self.backend.put_doc(DUE_KEY, {"held": held}, expect_version=doc.version if doc else 0):
                break
        if due is None:
            # The state and this list are two documents: a notice held (and listed) between our
            # look at the state and this removal would wait forever. Look again after removing.
            doc = await self.backend.get_doc(key)
            if doc and doc.value.get("notices"):
                last = doc.value.get("last_sent_at")
                await self._set_due(key, self.clock() if last is None else float(last) + self.interval)

    async def pending(self) -> int:
        """How many (subscription, incident) pairs have notices held (the console's "queued")."""
        doc = await self.backend.get_doc(DUE_KEY)
        return len(doc.value.get("held", {})) if doc else 0

    # --- the flush loop --------------------------------------------------------------------

    async def flush_due(self) -> int:
        """Send every held digest that is due; returns how many e-mails went out."""
        doc = await self.backend.get_doc(DUE_KEY)
        now = self.clock()
        due = sorted((at, key) for key, at in (doc.value.get("held", {}) if doc else {}).items() if at <= now)
        sent = 0
        for _, key in due:
            outcome = await self._flush_one(key)
            if outcome is not None:
                sent += outcome.result is Result.SENT
                if self.on_flush:
                    self.on_flush(outcome)
        return sent

    async def _flush_one(self, key: str) -> Outcome | None:
        doc = await self.backend.get_doc(key)
        now = self.clock()
        state: JSON = dict(doc.value) if doc else {}
        held = list(state.get("notices", []))
        if not doc or not held or "sub" not in state:
            await self._set_due(key, None)
            return None
        if float(state.get("sending_until", 0)) > now:
            return None
        last = state.get("last_sent_at")
        ready = now if last is None else float(last) + self.interval
        if ready > now:
            await self._set_due(key, ready)
            return None
        sub = _sub(state["sub"])
        personal = await self.subscriptions.personal(sub.id)
        address = personal.get("email") if personal else None
        if not personal or not isinstance(address, str):
            await self._drop(key)  # unsubscribed meanwhile: its held notices go with it
            return None
        if not await self.backend.put_doc(
            key, {**state, "sending_until": now + self.claim_seconds}, expect_version=doc.version
        ):
            return None  # changed meanwhile: the next pass sees it
        manage_url = self.subscriptions.manage_url(sub, personal)
        outcome = await self._send(key, sub, address, manage_url, personal, held)
        if outcome.result is Result.REJECTED:
            await self.subscriptions.reject_address(address, "rejected")
        elif outcome.result is Result.RETRY:
            await self._backoff(key)
        return outcome

    async def _drop(self, key: str) -> None:
        def change(state: JSON) -> None:
            state["notices"] = []
            state.pop("sending_until", None)

        await self._update(key, change)
        await self._set_due(key, None)

    async def _backoff(self, key: str) -> None:
        now = self.clock()

        def change(state: JSON) -> None:
            state["attempts"] = int(state.get("attempts", 0)) + 1
            state.setdefault("failing_since", now)
            if now - float(state["failing_since"]) > GIVE_UP_AFTER:
                state["notices"] = []

        state = await self._update(key, change)
        if not state["notices"]:
            log.warning("e-mail: a held digest was dropped after failing for %.0f s", GIVE_UP_AFTER)
            await self._set_due(key, None)
            return
        delay = min(600.0, 5.0 * 2 ** min(int(state["attempts"]) - 1, 10))
        await self._set_due(key, now + delay)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="email-flush")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self.backend.release(FLUSH_LEASE, self.owner)

    async def _run(self) -> None:
        lease = max(10.0, 4 * self.poll)
        while True:
            try:
                if await self.backend.claim(FLUSH_LEASE, self.owner, lease):
                    await self.flush_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("e-mail flush failed: %s", type(error).__name__)
            await asyncio.sleep(self.poll)
