"""The replay: a client of the server's public HTTP API that plays a script's steps on time.

It runs in a thread of the ``incidents`` process, beside the server it talks to over HTTP, with
an operator's API token. Every write carries an ``Idempotency-Key`` made of the run's id and the
step's number, so a step retried after a dropped connection or a 503 is written once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from importlib import resources
from typing import Any

import httpx

from broadcaster.core.events import parse_time, utc_now
from broadcaster.demo.script import QUESTION_KINDS, Clock, Script, Step, parse

SCRIPT = "zzic-2010.json"
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
ATTEMPTS = 6
READY_SECONDS = 60.0


def load_script(name: str = SCRIPT) -> Script:
    """A script shipped in this package."""
    doc = json.loads(resources.files("broadcaster.demo").joinpath(name).read_text("utf-8"))
    return parse(doc)


class StepFailed(Exception):
    """A step the server refused or never answered; the message says which and why."""


class Stopped(Exception):
    """The server is shutting down (Ctrl-C): the replay ends without a word."""


def _say(line: str) -> None:
    print(line, flush=True)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:300]


@dataclass
class Replay:
    """One run of a script against the server at ``base_url``."""

    base_url: str
    token: str
    script: Script
    speed: float
    zone: tzinfo
    say: Callable[[str], None] = _say
    stop: threading.Event = field(default_factory=threading.Event)
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    failures: list[str] = field(default_factory=list)
    incident_id: str | None = None
    question_id: str | None = None
    completed: bool = False
    _client: httpx.Client | None = None

    def run(self) -> None:
        """Wait for the server, then play every step at its time. Never raises: a failure is
        said, kept in ``failures``, and (but for a readers'-question step) ends the replay."""
        with httpx.Client(base_url=self.base_url, timeout=15.0) as self._client:
            if not self._wait_ready():
                self._fail(f"the server at {self.base_url} did not answer /healthz")
                return
            clock = Clock(self.script.start, utc_now(), self.speed, self.zone)
            minutes = self.script.steps[-1].minute / self.speed
            self.say(f"open {self.base_url}/ and watch")
            self.say(f"demo: {self.script.name} (an exercise): {len(self.script.steps)} steps"
                     f" over {minutes:.1f} minutes at speed {self.speed:g}")  # fmt: skip
            for step in self.script.steps:
                if self.stop.wait(max(0.0, (clock.real(step.minute) - utc_now()).total_seconds())):
                    return
                try:
                    done = self._perform(step, clock)
                except Stopped:
                    return
                except StepFailed as exc:
                    self._fail(f"step {step.index} ({step.kind}, {step.clock}) failed: {exc}")
                    if step.kind in QUESTION_KINDS:
                        continue  # the broadcast itself goes on, and ends resolved
                    return
                self.say(f"demo {step.clock}  step {step.index}/{len(self.script.steps)}: {done}")
            self.completed = True
            ok = "done" if not self.failures else f"done, with {len(self.failures)} failed step(s)"
            self.say(f"demo {ok}: {self.page_url}")

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/incidents/{self.incident_id}"

    def _fail(self, why: str) -> None:
        self.failures.append(why)
        self.say(f"demo FAILED: {why}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                if self._http().get("/healthz", timeout=2.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            self.stop.wait(0.1)
        return False

    def _http(self) -> httpx.Client:
        assert self._client is not None, "run() opens the client"
        return self._client

    # --- the steps ------------------------------------------------------------------------

    def _perform(self, step: Step, clock: Clock) -> str:
        now, data, inc = utc_now(), step.data, f"/api/incidents/{self.incident_id}"
        key = f"demo-{self.run_id}-{step.index}"
        if step.kind == "open":
            incident = self._call("POST", "/api/incidents", clock.fill(data["incident"], now), key)
            self.incident_id = str(incident["id"])
            return f"incident opened (exercise: {incident.get('exercise')}): {self.page_url}"
        if step.kind == "update":
            body: dict[str, Any] = {"body": clock.fill(data["body"], now)}
            if "en" in data:
                body["translations"] = {"en": clock.fill(data["en"], now)}
            if "next" in data:
                body["next_update_at"] = clock.instant(data["next"], now)
            self._call("POST", f"{inc}/updates", body, key)
            number = [s.index for s in self.script.notices].index(step.index) + 1
            promise = body.get("next_update_at")
            then = f"; next update promised by {self._local(promise)}" if promise else ""
            return f"notice {number} of {len(self.script.notices)} posted{then}"
        if step.kind == "edit":
            changes = clock.fill(data["changes"], now)
            self._call("PATCH", inc, changes, key)
            said = [f"{name} {self._local(value)}" if name == "expected_restoration" else name
                    for name, value in changes.items()]  # fmt: skip
            return "incident edited: " + ", ".join(said)
        if step.kind == "facts":
            self._call("PUT", f"{inc}/facts", {"facts": clock.fill(data["facts"], now)}, key)
            return f"key facts revised ({len(data['facts'])} rows)"
        if step.kind == "ask":
            asked = self._call("POST", f"{inc}/questions", {"text": data["text"]}, key, operator=False)
            self.question_id = str(asked["id"])
            return f"a reader asked: {data['text']}"
        if step.kind == "answer":
            if self.question_id is None:
                raise StepFailed("there is no question to answer (asking it failed)")
            path = f"{inc}/questions/{self.question_id}/answer"
            self._call("POST", path, {"text": clock.fill(data["text"], now), "public": True}, key)
            return "the office answered the question in public"
        self._call("POST", f"{inc}/resolve", {"reason": clock.fill(data["reason"], now)}, key)
        return f"incident resolved: {data['reason']}"

    def _local(self, moment: Any) -> str:
        return parse_time(str(moment)).astimezone(self.zone).strftime("%H:%M:%S")

    def _call(
        self, method: str, path: str, body: dict[str, Any], key: str, *, operator: bool = True
    ) -> dict[str, Any]:
        """One write, retried with the same key on a transport error or a passing refusal."""
        headers = {"Idempotency-Key": key}
        if operator:
            headers["Authorization"] = f"Bearer {self.token}"
        delay, problem = 0.5, ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._http().request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    answer: dict[str, Any] = response.json()
                    return answer
                problem = f"HTTP {response.status_code} {_detail(response)}".strip()
                if response.status_code not in RETRY_STATUS:
                    raise StepFailed(self._explain(method, path, response.status_code, problem))
                delay = max(delay, _retry_after(response))
            if attempt < ATTEMPTS and self.stop.wait(min(delay, 10.0)):
                raise Stopped
            delay *= 2
        raise StepFailed(f"{method} {path}: no success after {attempt} tries; last: {problem}")

    @staticmethod
    def _explain(method: str, path: str, status: int, problem: str) -> str:
        # A route missing answers FastAPI's own "Not Found" (an unknown incident says so in words).
        if "/questions" in path and problem in ("HTTP 404 Not Found", "HTTP 405 Method Not Allowed"):
            return (
                f"{method} {path}: {problem}: this server has no readers' questions API"
                " (POST /api/incidents/{id}/questions, .../questions/{qid}/answer)"
            )
        return f"{method} {path}: {problem}"


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "0"))
    except ValueError:
        return 0.0
