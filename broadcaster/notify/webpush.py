"""The Web Push channel: a notice, encrypted for one browser, POSTed to its push service.

* **Encryption** (RFC 8291, ``aes128gcm``) with ``http_ece``: an ephemeral P-256 key per
  message, agreed with the subscription's ``p256dh`` key and ``auth`` secret. It costs CPU, so
  it runs in a thread (``asyncio.to_thread``), at most ``INCIDENTS_NOTIFY_CONCURRENCY`` at once.
* **VAPID** (RFC 8292) with ``py_vapid``: a JWT signed with the server's key pair, its audience
  the push service's origin, valid for 12 hours (signed once per origin and reused meanwhile).
* **Sending** (RFC 8030) with ``httpx``: ``TTL`` (how long the push service keeps it for a
  device that is off), ``Urgency`` (``high`` for important events), ``Topic`` (a newer notice of
  the same incident replaces one still waiting).
* **The answer**: 201/202 -> sent; 404/410 -> gone (the subscription is removed, RFC 8030 9.1);
  429, 5xx, timeouts, network errors and any other 4xx -> retried later. The endpoint is
  personal data: no outcome, log line or metric names it (only the status or the error's kind).
* **Where it may go**: an endpoint must be ``https`` on a public address, checked again right
  before connecting (a name may resolve elsewhere by now), unless ``INCIDENTS_PUSH_ALLOW_PRIVATE``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from broadcaster import __version__
from broadcaster.config import Settings
from broadcaster.core.types import JSON
from broadcaster.notify.types import ChannelName, Level, Notice, Outcome, Result, Subscription
from broadcaster.web.targets import target_problem

TIMEOUT = 10.0
"""Seconds one push request may take."""
POOL_SHARD = 8
"""Connections per HTTP client: pushes go out through several small pools (see WebPush.start)."""
JWT_SECONDS = 12 * 3600
"""How long a VAPID token is valid (RFC 8292: at most 24 hours)."""
JWT_REUSE = 3600
"""A token is reused for an origin until this much of its life is left."""
TTL_IMPORTANT = 2 * 86400
TTL_OTHER = 12 * 3600
"""Seconds a push service keeps a notice for a device that is off."""
MAX_TITLE = 300
MAX_BODY = 600
"""Characters of the title and of the body sent: a push message carries at most 4 KB, and a
Chinese character takes 3 bytes in UTF-8."""
USER_AGENT = f"incidents-broadcaster/{__version__} (web push)"


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def payload(notice: Notice) -> bytes:
    """What the service worker (static/sw.js) gets: the notice's essentials, as JSON."""
    return json.dumps(
        {
            "title": notice.title[:MAX_TITLE],
            "body": notice.headline[:MAX_BODY],
            "url": notice.url,
            "tag": notice.incident,
            "exercise": notice.exercise,
            "at": notice.at,
            "lang": notice.lang,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def encrypt(plaintext: bytes, p256dh: str, auth: str) -> bytes:
    """RFC 8291 ``aes128gcm``: the body of one push message (CPU: run it in a thread)."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        plaintext, salt=os.urandom(16), private_key=server_key, dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth), version="aes128gcm",
    )  # fmt: skip
    return body


def topic(incident: str) -> str:
    """The ``Topic`` header (RFC 8030 5.4: at most 32 base64url characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "", incident)[:32] or "incident"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def outcome_of(status: int) -> Outcome:
    """What a push service's answer means (RFC 8030 5, 9.1)."""
    if status in (200, 201, 202):
        return Outcome(Result.SENT)
    if status in (404, 410):
        return Outcome(Result.GONE, f"HTTP {status}: the subscription expired or was withdrawn")
    return Outcome(Result.RETRY, f"HTTP {status}")


class WebPush:
    """The ``webpush`` channel. ``vapid`` is a ``py_vapid.Vapid02`` holding the server's key
    pair (see ``vapid.py``); :meth:`start` and :meth:`aclose` open and close its HTTP client."""

    name = ChannelName.WEBPUSH

    def __init__(self, settings: Settings, vapid: Any) -> None:
        self.settings = settings
        self.vapid = vapid
        self.subject = settings.vapid_subject
        self.allow_private = settings.push_allow_private
        self._encrypting = asyncio.Semaphore(settings.notify_concurrency)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._turn = 0

    async def start(self) -> None:
        if not self._clients:
            # httpcore's pool looks at each of its connections on every request it starts
            # and ends (``has_expired``, a getpeername each): with 50 connections in one
            # pool that was half the notifier's CPU (py-spy, docs/benchmarks.md). Several
            # small pools, taken in turn, give the same concurrency for a fraction of it.
            total = self.settings.notify_concurrency
            for start in range(0, total, POOL_SHARD):
                limits = httpx.Limits(max_connections=min(POOL_SHARD, total - start))
                self._clients.append(
                    httpx.AsyncClient(
                        follow_redirects=False,
                        timeout=TIMEOUT,
                        limits=limits,
                        headers={"User-Agent": USER_AGENT},
                    )
                )

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

    def authorization(self, endpoint: str, now: float) -> str:
        """``vapid t=JWT,k=PUBLIC_KEY`` for the endpoint's origin (reused while fresh)."""
        aud = origin(endpoint)
        found = self._tokens.get(aud)
        if found is None or found[1] - now < JWT_REUSE:
            expires = int(now) + JWT_SECONDS
            signed = self.vapid.sign({"aud": aud, "exp": expires, "sub": self.subject})
            found = self._tokens[aud] = (str(signed["Authorization"]), expires)
        return found[0]

    async def deliver(self, sub: Subscription, personal: JSON, notice: Notice, manage_url: str) -> Outcome:
        push = personal.get("push")
        try:
            endpoint, keys = str(push["endpoint"]), push["keys"]  # type: ignore[index]
            p256dh, auth = str(keys["p256dh"]), str(keys["auth"])
        except (KeyError, TypeError):
            return Outcome(Result.GONE, "the subscription has no usable push endpoint or keys")
        if not self.allow_private:
            if urlsplit(endpoint).scheme != "https":
                return Outcome(Result.GONE, "refused: the push endpoint is not https")
            if await target_problem(endpoint) is not None:
                return Outcome(Result.RETRY, "refused: the push endpoint is not on a public address now")
        try:
            async with self._encrypting:
                body = await asyncio.to_thread(encrypt, payload(notice), p256dh, auth)
        except Exception as exc:  # a key that is not a P-256 point, a bad auth secret
            return Outcome(Result.GONE, f"the subscription's keys are unusable ({type(exc).__name__})")
        important = notice.extra.get("importance") == Level.IMPORTANT
        headers = {
            "Authorization": self.authorization(endpoint, time.time()),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_IMPORTANT if important else TTL_OTHER),
            "Urgency": "high" if important else "normal",
            "Topic": topic(notice.incident),
        }
        await self.start()
        self._turn += 1
        client = self._clients[self._turn % len(self._clients)]
        try:
            answer = await client.post(endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(Result.RETRY, f"no answer within {TIMEOUT:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
            return Outcome(Result.RETRY, f"cannot reach the push service ({type(exc).__name__})")
        return outcome_of(answer.status_code)
