"""E-mail end to end: a real server process, a real SMTP server (aiosmtpd). Subscribe through
the API, receive the confirmation (nothing before its link is followed), follow it, post
important updates, receive them threaded and coalesced, unsubscribe with one click (RFC 8058)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from broadcaster.stores import open_backend
from tests.notify.mailbox import Mailbox, free_port, parts
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator, scaled


async def eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + scaled(within)
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_subscribe_confirm_receive_and_unsubscribe_by_email(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mail.db"
    admin = add_operator(url, "admin")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with Mailbox() as box:
        env = {"INCIDENTS_SMTP_URL": box.url, "INCIDENTS_MAIL_FROM": "alerts@zzic.example",
               "INCIDENTS_PUBLIC_URL": public, "INCIDENTS_EMAIL_MIN_INTERVAL": "3",
               "INCIDENTS_WEBHOOK_LEASE_SECONDS": "4", "INCIDENTS_WEBHOOK_TIMEOUT": "1.5"}  # fmt: skip
        with ServerProcess(url, env=env, port=port) as server:
            api = Api(server.url, admin)
            try:
                incident = await api.create("文化路停水")
                answers = {}
                for who, lang in (("ann@example.org", "zh-CN"), ("bob@example.org", "en")):
                    answer = await api.http.post("/api/subscriptions", json={
                        "channel": "email", "incident": incident, "area": None, "level": "important",
                        "lang": lang, "email": who})  # fmt: skip
                    assert answer.status_code == 202, answer.text
                    answers[who] = answer.json()
                (ann_confirm,) = await box.wait("ann@example.org", 1)
                (bob_confirm,) = await box.wait("bob@example.org", 1)
                assert ann_confirm["Subject"] == "请确认订阅：ZZIC"
                assert bob_confirm["Subject"] == "Confirm your subscription: ZZIC"

                # Double opt-in: an update before the link is followed reaches nobody.
                assert (await api.post(incident, "第一条：文化路停水。")).status_code == 201
                await asyncio.sleep(scaled(2))
                assert len(box.messages) == 2

                for message in (ann_confirm, bob_confirm):
                    plain, _ = parts(message)
                    link = re.search(rf"{re.escape(public)}/subscriptions/confirm/\S+", plain)
                    assert link is not None, plain
                    async with httpx.AsyncClient() as reader:
                        assert (await reader.post(link.group(0))).status_code == 303

                assert (
                    await api.post(incident, "水已恢复。\n请先放水一分钟。", notify=True)
                ).status_code == 201
                ann_mail = (await box.wait("ann@example.org", 2, seconds=scaled(20)))[1]
                bob_mail = (await box.wait("bob@example.org", 2, seconds=scaled(20)))[1]
                assert ann_mail["Subject"] == bob_mail["Subject"] == "文化路停水"
                ann_plain, ann_html = parts(ann_mail)
                assert (
                    "水已恢复。" in ann_plain and "在时间线上查看" in ann_plain and "水已恢复。" in ann_html
                )
                bob_plain, _ = parts(bob_mail)
                assert (
                    "Read it on the timeline" in bob_plain and f"{public}/incidents/{incident}" in bob_plain
                )
                assert ann_mail["References"] == f"<incident.{incident}@zzic.example>"
                assert ann_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
                manage = answers["ann@example.org"]["manage_url"]
                assert ann_mail["List-Unsubscribe"] == f"<{manage}/unsubscribe>" and manage in ann_plain

                # A burst within the interval: one digest, threaded like the first.
                for body in ("第三条：抢修中。", "第四条：预计两点恢复。"):
                    assert (await api.post(incident, body, notify=True)).status_code == 201
                await asyncio.sleep(scaled(1))
                assert len(box.to("ann@example.org")) == 2  # held
                digest = (await box.wait("ann@example.org", 3, seconds=scaled(20)))[2]
                plain, _ = parts(digest)
                assert "第三条：抢修中。" in plain and "第四条：预计两点恢复。" in plain
                assert digest["References"] == ann_mail["References"]
                assert digest["Message-ID"] != ann_mail["Message-ID"]

                # One click (RFC 8058): a POST to the List-Unsubscribe address ends it.
                one_click = ann_mail["List-Unsubscribe"].strip("<>")
                async with httpx.AsyncClient() as outside:
                    form = {"Content-Type": "application/x-www-form-urlencoded"}
                    ended = await outside.post(one_click, content="List-Unsubscribe=One-Click", headers=form)
                assert ended.status_code == 303 and "ended=1" in ended.headers["location"]
                store = open_backend(url)
                await store.start()
                try:  # the address is deleted, not flagged
                    kept = await store.get_doc(f"subscription-personal:{answers['ann@example.org']['id']}")
                    assert kept is not None and kept.value == {}
                finally:
                    await store.close()
                await asyncio.sleep(scaled(3.5))  # the interval since bob's last mail has run
                assert (await api.post(incident, "第五条：已恢复供水。", notify=True)).status_code == 201
                await box.wait("bob@example.org", 4, seconds=scaled(20))
                await asyncio.sleep(scaled(1))
                assert len(box.to("ann@example.org")) == 3  # nothing after unsubscribing
                log = server.log()
                assert "ann@example.org" not in log and "bob@example.org" not in log
            finally:
                await api.aclose()
