"""The reports desk: the ``reports:all`` log folded in memory, and commands on it.

Each process keeps the index of every report (:mod:`broadcaster.reports.rules`) and catches
up before every use by reading the events after the last seq it folded, so what any
process wrote is seen by all. Operators' commands are decided on the caught-up state
and appended with ``expect_seq``: if anyone wrote in between, the command is decided
again on the new state (so "resolve" can never slip past a concurrent "hide").

The citizen's contact is kept out of the log, in a document of its own
(``report-contact:{code}``): no view of the log (pages, the live stream, exports of
events, webhooks) can carry it, and it can be erased without rewriting history.

Every step is put on the audit log; a citizen's submission as the pseudo-operator
:data:`CITIZEN` with the address it came from (the audit log is never public).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from broadcaster import media, metrics
from broadcaster.accounts import Actor, Operator, audit, hit
from broadcaster.core.timeline import NotFound
from broadcaster.core.types import JSON
from broadcaster.incidents import IdempotencyMismatch
from broadcaster.reports import codes as report_codes
from broadcaster.reports import rules as rp
from broadcaster.reports.rules import LOG, Decision, Index, Report
from broadcaster.stores.base import Backend, BackendError, SeqConflict

MAX_ATTEMPTS = 50
READ_BATCH = 5_000
CITIZEN = Operator("public", "(citizen)", False)
"""Who a submission is by, on the audit log."""


def contact_key(code: str) -> str:
    return f"report-contact:{code}"


class ReportDesk:
    """Every report of the store, as this process has folded them, and commands on them."""

    def __init__(self, backend: Backend, prefix: str = "ZZ") -> None:
        self.backend = backend
        self.prefix = prefix
        self.index: Index = {}
        self.seq = 0
        self._fold = asyncio.Lock()
        self._write = asyncio.Lock()

    # --- reading ----------------------------------------------------------------------

    async def refresh(self) -> Index:
        """Fold what was appended since the last look (by any process)."""
        async with self._fold:
            while True:
                with metrics.backend_timer("read"):
                    events = await self.backend.read(LOG, since=self.seq, limit=READ_BATCH)
                for event in events:
                    if event.seq != self.seq + 1:
                        return self.index  # cannot happen (seqs are gap-free); read again next time
                    rp.apply(self.index, event.decode())
                    self.seq = event.seq
                if len(events) < READ_BATCH:
                    return self.index

    def code(self, text: str) -> str:
        """The stored form of a code someone typed. Raises NotFound if it cannot be one."""
        code = report_codes.normalise_code(text, self.prefix)
        if code is None:
            raise NotFound(f"no report {text[:40]}")
        return code

    async def get(self, text: str) -> Report:
        """Any report, hidden ones too (operators). Raises NotFound."""
        code = self.code(text)
        report = (await self.refresh()).get(code)
        if report is None:
            raise NotFound(f"no report {code}")
        return report

    async def public(self, text: str) -> Report:
        """A report as the public may see it: a hidden one is not found. Raises NotFound."""
        report = await self.get(text)
        if report.hidden:
            raise NotFound(f"no report {report.code}")
        return report

    async def contact(self, code: str) -> str:
        doc = await self.backend.get_doc(contact_key(code))
        return str(doc.value.get("contact", "")) if doc else ""

    async def contact_erased(self, code: str) -> bool:
        doc = await self.backend.get_doc(contact_key(code))
        return bool(doc and doc.value.get("erased"))

    async def erase_contact(self, text: str, by: Actor) -> bool:
        """Forget the citizen's contact (it is kept nowhere else: not in the log, not in the
        audit); True if there was one to erase. The erasure is on the audit log.

        Raises:
            NotFound: no such report.
        """
        code = (await self.get(text)).code
        key = contact_key(code)
        for _ in range(MAX_ATTEMPTS):
            doc = await self.backend.get_doc(key)
            if doc is None or not doc.value.get("contact"):
                return False
            if await self.backend.put_doc(key, {"contact": "", "erased": True}, expect_version=doc.version):
                await audit.record(self.backend, by, "report.contact_erased", target=code)
                return True
        raise BackendError("the report is changing too fast to write to; try again")

    # --- citizens ---------------------------------------------------------------------

    @staticmethod
    def submission_key(address: str | None, given: str) -> str:
        """An Idempotency-Key scoped to the address it came from: nobody else's retry can
        find someone's report through a key they guessed."""
        return "submit:" + hashlib.sha256(f"{address or ''}\n{given}".encode()).hexdigest()[:32]

    async def replayed(self, key: str | None, fields: dict[str, str]) -> Report | None:
        """The report a repeated submission made, or None.

        Raises:
            IdempotencyMismatch: the key was used for a different report (422).
        """
        if key is None:
            return None
        first = await self.backend.find_idem(LOG, key)
        if first is None:
            return None
        data = first.decode()["data"]
        if any(data.get(name) != fields[name] for name in ("title", "body", "location")):
            raise IdempotencyMismatch("this Idempotency-Key was already used for a different report")
        return await self.get(data["code"])

    async def limit(self, address: str | None, limit: int, window: float, bucket: str = "report") -> None:
        """Count a submission from ``address`` (questions count in a ``bucket`` of their own).
        Raises ratelimit.RateLimited."""
        await hit(self.backend, f"ratelimit:{bucket}:{address or 'unknown'}", limit, window)

    async def submit(
        self, fields: dict[str, str], photo: JSON | None, address: str | None, key: str | None,
        kind: str = "report", incident: str | None = None,
    ) -> tuple[Report, bool]:  # fmt: skip
        """File a report (``fields`` checked by :func:`reports.check_submission`), or a
        question on ``incident``; returns it and whether it is new (False: ``key`` was used
        before; nothing was written)."""
        index = await self.refresh()
        code = report_codes.new_code(self.prefix)
        while code in index:
            code = report_codes.new_code(self.prefix)
        if fields.get("contact"):
            await self.backend.put_doc(contact_key(code), {"contact": fields["contact"]}, expect_version=0)
        type_, data = rp.decide_receive(
            code, fields["title"], fields["body"], fields["location"], photo, kind, incident
        )
        entry = audit.entry(Actor(CITIZEN, address), str(type_), target=code)
        with metrics.backend_timer("append"):
            done = await self.backend.append(LOG, type_, data, idem_key=key, also=entry)
        if not done.created:  # a concurrent retry of the same submission won
            return await self.get(done.event.decode()["data"]["code"]), False
        return await self.get(code), True

    # --- operators --------------------------------------------------------------------

    async def act(
        self, code: str, decide: Callable[[Report, Index], Decision], by: Actor, key: str | None = None,
        incident: str | None = None,
    ) -> Report:  # fmt: skip
        """Append what ``decide`` returns for the report (a rule of another capability:
        questions), as the commands below do."""
        return await self._command(code, decide, by, key, incident)

    async def _command(
        self,
        text: str,
        decide: Callable[[Report, Index], Decision],
        by: Actor,
        key: str | None,
        incident: str | None = None,
    ) -> Report:
        """Decide on the current state and append, deciding again after a concurrent write.

        Raises:
            NotFound, reports.Refused, reports.FieldProblem: from the rules (404, 409, 422).
            BackendError: the store failed or stayed contended (503).
        """
        code = self.code(text)
        scoped = None if key is None else f"{by.operator.id}:{key}"
        async with self._write:
            if scoped is not None and await self.backend.find_idem(LOG, scoped) is not None:
                return await self.get(code)  # a double submit: the first one stands
            for _ in range(MAX_ATTEMPTS):
                index = await self.refresh()
                report = index.get(code)
                if report is None:
                    raise NotFound(f"no report {code}")
                type_, data = decide(report, index)
                detail = {k: v for k, v in data.items() if k not in ("code", "by")}
                entry = audit.entry(
                    by, str(type_), incident=incident or data.get("incident"), target=code, detail=detail
                )
                try:
                    with metrics.backend_timer("append"):
                        await self.backend.append(
                            LOG, type_, data, expect_seq=self.seq, idem_key=scoped, also=entry
                        )
                except SeqConflict:
                    continue
                return await self.get(code)
        raise BackendError("the reports are changing too fast to write to; try again")

    @staticmethod
    def _by(actor: Actor) -> JSON:
        return {"id": actor.operator.id, "name": actor.operator.name}

    async def assign(
        self,
        code: str,
        by: Actor,
        *,
        department: str | None = None,
        operator: tuple[str, str] | None = None,
        key: str | None = None,
    ) -> Report:
        def decide(report: Report, index: Index) -> Decision:
            return rp.decide_assign(report, self._by(by), department=department, operator=operator)

        return await self._command(code, decide, by, key)

    async def reply(self, code: str, text: str, by: Actor, key: str | None = None) -> Report:
        return await self._command(code, lambda r, _: rp.decide_reply(r, text, self._by(by)), by, key)

    async def resolve(self, code: str, note: str | None, by: Actor, key: str | None = None) -> Report:
        return await self._command(code, lambda r, _: rp.decide_resolve(r, note, self._by(by)), by, key)

    async def hide(self, code: str, reason: str | None, by: Actor, key: str | None = None) -> Report:
        """Hide the report and withdraw its photo from ``/media`` (also when this is a retry
        of a hide whose withdrawal was cut short)."""
        report = await self._command(code, lambda r, _: rp.decide_hide(r, reason, self._by(by)), by, key)
        if report.hidden and report.photo:
            await media.withdraw(self.backend, str(report.photo["id"]))
        return report

    async def unhide(self, code: str, by: Actor, key: str | None = None) -> Report:
        report = await self._command(code, lambda r, _: rp.decide_unhide(r, self._by(by)), by, key)
        if not report.hidden and report.photo:
            await media.restore(self.backend, str(report.photo["id"]))
        return report

    async def merge(self, code: str, into: str, by: Actor, key: str | None = None) -> Report:
        """Merge ``code`` into ``into`` (or into the report ``into`` was merged into)."""
        target = self.code(into)

        def decide(report: Report, index: Index) -> Decision:
            return rp.decide_merge(report, rp.root(index, target), self._by(by))

        return await self._command(code, decide, by, key)

    async def link(
        self, code: str, incident: str, by: Actor, *, created: bool = False, key: str | None = None
    ) -> Report:
        """Link to an incident the caller checked exists."""

        def decide(report: Report, index: Index) -> Decision:
            return rp.decide_link(report, incident, self._by(by), created=created)

        return await self._command(code, decide, by, key, incident=incident)


def desk_of(state: Any) -> ReportDesk:
    """The app's desk (``app.state.reports``)."""
    desk: ReportDesk = state.reports
    return desk
