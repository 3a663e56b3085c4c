"""Sending notifications: this process's :class:`Notifier`, one leased follower per channel.

Built on :mod:`broadcaster.relay` (the machinery webhook delivery uses too):

* **Once across processes.** A channel is followed only by the process holding the lease
  ``notify:{channel}``; its progress (``notify:progress:{channel}``: a cursor per incident log,
  the event being sent and the last subscription done, the retry list, the counters) is
  written with a compare-and-set, so a process that lost the lease stops instead of
  writing over its successor.
* **At least once.** For each event: the incident before and after it (folded in memory),
  :func:`~broadcaster.notify.rules.importance`, the matching subscriptions (sorted by id), then
  ``channel.deliver`` to ``INCIDENTS_NOTIFY_CONCURRENCY`` recipients at a time; the progress is
  saved after each such batch. A process killed mid-batch has its successor send that batch
  again: a subscriber gets a notice twice at most once per crash, and nobody misses one.
* **Failures do not hold up the others.** A transient failure (``RETRY``) goes on the retry
  list and is tried again with backoff (:func:`~broadcaster.relay.backoff`), for at most
  :data:`GIVE_UP` seconds; ``GONE`` removes the subscription; ``REJECTED`` disables the address.
* **Paused.** While an administrator has paused notifications, events are passed over (not
  sent later) and counted.
* **Never in the way.** All of it runs in background tasks; a channel's CPU work (encryption)
  runs in threads with bounded concurrency (``webpush.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from broadcaster.config import Settings
from broadcaster.core.events import Event, format_time, utc_now
from broadcaster.core.timeline import Incident, apply, fold
from broadcaster.core.types import JSON
from broadcaster.incidents import KIND
from broadcaster.notify.email import EmailChannel
from broadcaster.notify.rules import importance, notice
from broadcaster.notify.status import add_flushed, figures, progress_key
from broadcaster.notify.types import Channel, ChannelName, Level, Notice, Outcome, Result, Subscription
from broadcaster.notify.webpush import WebPush
from broadcaster.relay import MAX_REASON, Follower, Progress, Relay, backoff
from broadcaster.stores.base import Backend

RETRY_FIRST = 5.0
RETRY_CAP = 600.0
"""Seconds before the first retry of a recipient, and the longest wait between two."""
GIVE_UP = 3600.0
"""A recipient still failing this long after the first attempt is given up (a notice hours late
helps nobody)."""
MAX_RETRIES = 5000
"""Recipients waiting for a retry at most; beyond, a failure is given up at once."""
DELIVER_TIMEOUT = 20.0
"""Seconds one delivery may take in all (resolving, encrypting, sending); less when the lease
is short (a batch is only started while the lease outlasts it)."""

log = logging.getLogger("incidents.notify")


def lease_key(channel: ChannelName) -> str:
    return f"notify:{channel}"


class Subscribers(Protocol):
    """What the dispatcher needs of :class:`broadcaster.notify.subscriptions.Subscriptions`."""

    async def refresh(self) -> None: ...
    async def matching(
        self, channel: ChannelName, incident: Incident, event: JSON, level: Level
    ) -> list[Subscription]: ...
    async def personal(self, sub_id: str) -> JSON | None: ...
    def manage_url(self, sub: Subscription, personal: JSON) -> str: ...
    async def remove(self, sub_id: str, reason: str) -> None: ...
    async def reject_address(self, email: str, reason: str) -> None: ...
    async def paused(self) -> bool: ...


@dataclass
class ChannelProgress(Progress):
    """A channel's progress: the relay's cursors, plus where inside an event it is, the
    recipients waiting for a retry (with the notices they wait for) and the counters."""

    current: JSON | None = None
    """``{"log", "seq", "after"}``: the event after ``log``'s cursor being sent, and the last
    subscription id it was sent to."""
    retries: list[JSON] = field(default_factory=list)
    """``{"sub", "notice", "attempts", "first_at", "retry_at"}`` (times in epoch seconds)."""
    notices: dict[str, JSON] = field(default_factory=dict)
    """The notices the retries wait for, by ``incident:seq:lang``."""
    sent: int = 0
    undelivered: int = 0
    """Recipients given up (failing too long) or rejected: the console's "failed"."""
    removed: int = 0
    passed_over: int = 0
    queued: int = 0
    last_sent_at: str | None = None


def sub_json(sub: Subscription) -> JSON:
    return dataclasses.asdict(sub)


def sub_from(data: JSON) -> Subscription:
    return Subscription(**{**data, "channel": ChannelName(data["channel"]), "level": Level(data["level"])})


def snapshot(incident: Incident | None) -> Incident | None:
    """A copy the next :func:`apply` leaves alone (it changes the state in place)."""
    if incident is None:
        return None
    return dataclasses.replace(
        incident, updates=dict(incident.updates), facts=list(incident.facts),
        restoration_changes=list(incident.restoration_changes),
    )  # fmt: skip


class ChannelFollower(Follower[ChannelProgress]):
    """Follows every incident log for one channel while this process holds its lease."""

    progress_type = ChannelProgress

    def __init__(self, notifier: Notifier, channel: Channel, claimed_at: float) -> None:
        super().__init__(notifier.backend, notifier.heads, notifier.owner, lease_key(channel.name),
                         notifier.lease_seconds, claimed_at, progress_key(channel.name))  # fmt: skip
        self.n = notifier
        self.channel = channel
        self.subs = notifier.subscriptions
        self.size = notifier.settings.notify_concurrency
        self.states: dict[str, Incident | None] = {}
        self.remaining = 0
        """Recipients of the current event not yet sent to."""
        self.timeout = min(DELIVER_TIMEOUT, max(1.0, (notifier.lease_seconds - 1) / 2))

    async def follow(self) -> None:
        await self.load()
        if self.version == 0:  # the first start: from now on, not the whole history
            self.progress.cursors = await self.backend.heads(KIND)
            await self.save()
        while True:
            self.events_bell.clear()
            await self._retry_due()
            events = await self.pending()
            if not events:
                await self.idle(self._next_retry_in())
                continue
            await self.subs.refresh()
            unsaved = False
            for event in events:  # each save writes every cursor moved before it too
                unsaved = not await self._event(event)
            if unsaved:  # events that woke nobody: their cursor is saved once per read
                await self.save()

    def _next_retry_in(self) -> float:
        due = min((float(r["retry_at"]) for r in self.progress.retries), default=time.time() + 5.0)
        return min(5.0, max(0.05, due - time.time()))

    async def _state(self, log_name: str, seq: int) -> Incident | None:
        """The incident as it was after event ``seq`` (kept folded; read again after a restart)."""
        known = self.states.get(log_name)
        if (known.seq if known else 0) != seq or log_name not in self.states:
            events = await self.backend.read(log_name, since=0, limit=seq) if seq else []
            known = self.states[log_name] = fold([e.decode() for e in events])
        return known

    async def _event(self, event: Event) -> bool:
        """Send one event to everyone it concerns; False when it woke nobody (its cursor moved
        but is not saved yet)."""
        decoded = event.decode()
        before = await self._state(event.log, event.seq - 1)
        prior = snapshot(before)
        try:
            after = self.states[event.log] = apply(before, decoded)
        except ValueError:
            log.warning("notify: %s seq %s cannot be folded; passed over", event.log, event.seq)
            self.states.pop(event.log, None)
            self.progress.cursors[event.log] = event.seq
            return False
        level = importance(prior, decoded)
        if level is None:
            self.progress.cursors[event.log] = event.seq
            return False
        if await self.subs.paused():
            self._passed_over(event, 1)
            await self.save()
            return True
        subs = await self.subs.matching(self.channel.name, after, decoded, level)
        current = self.progress.current
        if current and (current["log"], current["seq"]) == (event.log, event.seq):
            subs = [sub for sub in subs if sub.id > str(current["after"])]
        notices: dict[str, Notice] = {}
        for start in range(0, len(subs), self.size):
            chunk = subs[start : start + self.size]
            self.remaining = len(subs) - start
            await self.check_lease(self.timeout + 1)
            if await self.subs.paused():
                self._passed_over(event, 1)
                break
            for sub in chunk:
                if sub.lang not in notices:
                    settings = self.n.settings
                    made = notice(after, decoded, sub.lang, settings.public_url, zone=settings.timezone)
                    notices[sub.lang] = dataclasses.replace(
                        made, extra={**made.extra, "importance": str(level)}
                    )
            await asyncio.gather(*(self._send(sub, notices[sub.lang]) for sub in chunk))
            self.progress.current = {"log": event.log, "seq": event.seq, "after": chunk[-1].id}
            self.remaining = len(subs) - start - len(chunk)
            await self.save()
        self.remaining = 0
        self.progress.cursors[event.log], self.progress.current = event.seq, None
        await self.save()
        return True

    def _passed_over(self, event: Event, count: int) -> None:
        self.progress.passed_over += count
        self.progress.cursors[event.log], self.progress.current = event.seq, None

    # --- one recipient -----------------------------------------------------------------

    async def _send(
        self, sub: Subscription, told: Notice, attempts: int = 0, first_at: float | None = None
    ) -> None:
        personal = await self.subs.personal(sub.id)
        if personal is None:
            return  # unsubscribed meanwhile
        try:
            async with asyncio.timeout(self.timeout):
                outcome = await self.channel.deliver(sub, personal, told, self.subs.manage_url(sub, personal))
        except TimeoutError:
            outcome = Outcome(Result.RETRY, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # a channel's bug must not stop the others; no personal data logged
            log.exception("notify %s: delivery failed", self.channel.name)
            outcome = Outcome(Result.RETRY, type(exc).__name__)
        await self._outcome(sub, personal, told, outcome, attempts + 1, first_at or time.time())

    async def _outcome(
        self,
        sub: Subscription,
        personal: JSON,
        told: Notice,
        outcome: Outcome,
        attempts: int,
        first_at: float,
    ) -> None:
        p, now = self.progress, time.time()
        if outcome.result in (Result.SENT, Result.DEFERRED):
            p.sent += outcome.result is Result.SENT
            p.last_sent_at = format_time(utc_now())
            return
        p.last_error = outcome.detail[:MAX_REASON] or str(outcome.result)
        if outcome.result is Result.GONE:
            p.removed += 1
            await self.subs.remove(sub.id, "gone")
        elif outcome.result is Result.REJECTED:
            p.undelivered += 1
            if isinstance(email := personal.get("email"), str):
                await self.subs.reject_address(email, outcome.detail or "rejected")
            else:
                await self.subs.remove(sub.id, "rejected")
        elif now - first_at >= GIVE_UP or len(p.retries) >= MAX_RETRIES:
            p.undelivered += 1
        else:
            key = f"{told.incident}:{told.seq}:{told.lang}"
            p.notices.setdefault(key, dataclasses.asdict(told))
            delay = backoff(attempts, RETRY_FIRST, RETRY_CAP, random.random())
            p.retries.append({"sub": sub_json(sub), "notice": key, "attempts": attempts,
                              "first_at": first_at, "retry_at": now + delay})  # fmt: skip

    async def _retry_due(self) -> None:
        """Try again the recipients whose time has come, a batch at a time."""
        p = self.progress
        due = [r for r in p.retries if float(r["retry_at"]) <= time.time()]
        if not due:
            return
        paused = await self.subs.paused()
        for start in range(0, len(due), self.size):
            chunk = due[start : start + self.size]
            await self.check_lease(self.timeout + 1)
            p.retries = [r for r in p.retries if not any(r is c for c in chunk)]
            if paused:
                p.passed_over += len(chunk)
            else:
                await asyncio.gather(*(
                    self._send(sub_from(r["sub"]), Notice(**p.notices[r["notice"]]), int(r["attempts"]),
                               float(r["first_at"]))
                    for r in chunk if r["notice"] in p.notices
                ))  # fmt: skip
            waiting = {r["notice"] for r in p.retries}
            p.notices = {k: v for k, v in p.notices.items() if k in waiting}
            await self.save()

    async def save(self) -> None:
        self.progress.queued = len(self.progress.retries) + self.remaining
        await super().save()


class Notifier(Relay):
    """This process's part of sending notifications: it takes each channel's lease when it
    is free and follows the incident logs for it (a :class:`broadcaster.relay.Relay`)."""

    def __init__(self, backend: Backend, settings: Settings, subscriptions: Subscribers, vapid: Any) -> None:
        super().__init__(backend, "notify", settings.webhook_lease_seconds, settings.webhook_poll_seconds)
        self.settings = settings
        self.subscriptions = subscriptions
        self._seen: dict[ChannelName, JSON] = {}
        self._held: dict[ChannelName, int] = {}
        self._flushed: dict[ChannelName, int] = {}
        """Digests the channels' flush loops sent, as counted in the store (``add_flushed``)."""
        self._unsaved: dict[ChannelName, int] = {}
        """... and those not yet counted there."""
        self.channels: dict[ChannelName, Channel] = {ChannelName.WEBPUSH: WebPush(settings, vapid)}
        """The channels, by name: Web Push always, e-mail when ``INCIDENTS_SMTP_URL`` is set."""
        if settings.smtp_url:
            self.channels[ChannelName.EMAIL] = EmailChannel(
                backend, settings, subscriptions, on_flush=partial(self._flush, ChannelName.EMAIL)
            )

    def _flush(self, name: ChannelName, outcome: Outcome) -> None:
        """A held e-mail digest sent by the channel's own loop."""
        if outcome.result is Result.SENT:
            self._unsaved[name] = self._unsaved.get(name, 0) + 1

    async def start(self) -> None:
        for channel in self.channels.values():
            if (begin := getattr(channel, "start", None)) is not None:
                await begin()
        await super().start()

    async def aclose(self) -> None:
        await super().aclose()
        for channel in self.channels.values():
            if (end := getattr(channel, "aclose", None)) is not None:
                await end()

    async def tick(self) -> None:
        """Take the channels nobody follows; read the others' counters for :meth:`status`."""
        for name, channel in self.channels.items():
            if self.stopping:
                return
            if self.free(name):
                await self.take(name, lease_key(name), partial(ChannelFollower, self, channel))
            if name not in self.running:
                doc = await self.backend.get_doc(progress_key(name))
                self._seen[name] = doc.value if doc else {}
            if (held := getattr(channel, "pending", None)) is not None:
                self._held[name] = int(await held())
                count = self._unsaved.pop(name, 0)
                try:
                    self._flushed[name] = await add_flushed(self.backend, name, count)
                except BaseException:
                    self._unsaved[name] = self._unsaved.get(name, 0) + count
                    raise

    def status(self) -> dict[ChannelName, JSON]:
        """Per channel: ``sent``, ``queued`` (recipients waiting: the rest of the event being
        sent, retries, e-mails held to be coalesced), ``failed`` (given up or rejected),
        ``last_error`` (never personal data), ``last_sent_at``; and ``removed`` (push
        subscriptions gone), ``passed_over`` (while paused), ``here`` (this process sends)."""
        found: dict[ChannelName, JSON] = {}
        for name in self.channels:
            follower: Any = self.running.get(name)
            value = follower.progress.to_json() if follower is not None else self._seen.get(name, {})
            queued = (
                (len(follower.progress.retries) + follower.remaining) if follower else value.get("queued", 0)
            )
            flushed = self._flushed.get(name, 0) + self._unsaved.get(name, 0)
            found[name] = figures(value, int(queued), self._held.get(name, 0), flushed, follower is not None)
        return found
