"""Deliveries per Standard Webhooks, verified by the official packages a receiver would use:
``standardwebhooks`` from PyPI here, and from npm under Node in one test. A replay with an old
timestamp and a body changed by one byte are refused; during a secret rotation both secrets
verify, after the overlap only the new one; retries keep the event's ``webhook-id``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from broadcaster.webhooks.signing import Secrets, headers, key_of, new_secret
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess, scaled
from tests.webhooks.test_webhooks import Hooks, eventually, start

BODY = '{"id":"abc:7","incident":"abc","seq":7,"type":"update.posted","data":{"body":"停水"}}'.encode()
NODE_MODULES = Path(__file__).resolve().parents[1] / "browser" / "node_modules"


def verify(secret: str, body: bytes, sent: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, sent)
    except WebhookVerificationError:
        return False
    return True


def test_a_delivery_verifies_and_a_replay_or_a_changed_byte_does_not() -> None:
    secret = new_secret(os.urandom(32))
    assert len(key_of(secret)) == 32
    now = int(time.time())
    sent = headers([secret], BODY, "abc:7", "update.posted", now)
    assert verify(secret, BODY, sent)
    assert not verify(new_secret(os.urandom(32)), BODY, sent)  # another endpoint's secret
    changed = bytearray(BODY)
    changed[-3] ^= 1  # one byte of the body
    assert not verify(secret, bytes(changed), sent)
    assert not verify(secret, BODY, {**sent, "webhook-id": "abc:8"})  # the id is signed
    # A delivery seen once and sent again later: its (signed) timestamp is too old.
    old = headers([secret], BODY, "abc:7", "update.posted", now - 600)
    assert not verify(secret, BODY, old)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, old)
    # And a newer timestamp cannot be put on the old signature.
    assert not verify(secret, BODY, {**old, "webhook-timestamp": str(now)})


def test_a_rotation_signs_with_both_secrets_for_the_overlap_then_only_the_new() -> None:
    old, new = new_secret(os.urandom(32)), new_secret(os.urandom(32))
    now = time.time()
    rotated = Secrets(old).rotated(new, now, overlap=60)
    assert rotated.in_force(now) == [new, old]
    during = headers(rotated.in_force(now), BODY, "abc:7", "update.posted", int(now))
    assert len(during["webhook-signature"].split(" ")) == 2
    assert verify(old, BODY, during) and verify(new, BODY, during)
    after = headers(rotated.in_force(now + 61), BODY, "abc:7", "update.posted", int(now))
    assert verify(new, BODY, after) and not verify(old, BODY, after)
    assert Secrets(old).rotated(new, now, overlap=0).in_force(now) == [new]
    assert Secrets.from_json(rotated.to_json()) == rotated
    assert Secrets.from_json({"secret": None}) is None


def test_rotating_away_from_a_secret_of_the_old_form_signs_at_once() -> None:
    old_form, new = "whsec_" + "x-y_" * 10, new_secret(os.urandom(32))  # token_urlsafe, as before
    now = time.time()
    with pytest.raises(ValueError):
        headers([old_form], BODY, "abc:7", "update.posted", int(now))  # until it is rotated
    rotated = Secrets(old_form).rotated(new, now, overlap=60)
    sent = headers(rotated.in_force(now), BODY, "abc:7", "update.posted", int(now))
    assert len(sent["webhook-signature"].split(" ")) == 1 and verify(new, BODY, sent)


@pytest.mark.parametrize("secret", ["", "sha256=abc", "whsec_not base64!", "whsec_" + "QUJD"])
def test_secrets_not_in_the_standard_form_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match=r"whsec_|16 bytes"):
        key_of(secret)


def test_node_verifies_with_the_npm_package() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed (CI has it for axe-core)"
    assert (NODE_MODULES / "standardwebhooks").is_dir(), "npm ci --prefix tests/browser installs it"
    secret = new_secret(os.urandom(32))
    now = int(time.time())
    cases = {
        "fresh": headers([secret], BODY, "abc:7", "update.posted", now),
        "replayed": headers([secret], BODY, "abc:7", "update.posted", now - 600),
    }
    script = """
const { Webhook } = require("standardwebhooks");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const wh = new Webhook(input.secret);
const out = {};
for (const [name, headers] of Object.entries(input.cases)) {
  try { wh.verify(Buffer.from(input.body, "base64").toString("utf8"), headers); out[name] = "ok"; }
  catch (e) { out[name] = "refused: " + e.message; }
}
try { wh.verify(input.changed, input.cases.fresh); out.changed = "ok"; }
catch (e) { out.changed = "refused: " + e.message; }
console.log(JSON.stringify(out));
"""
    given = {
        "secret": secret,
        "cases": cases,
        "body": base64.b64encode(BODY).decode(),
        "changed": BODY.decode().replace("停水", "停电"),
    }
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(given), capture_output=True, text=True, timeout=scaled(30),
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["fresh"] == "ok", got
    assert got["replayed"].startswith("refused") and got["changed"].startswith("refused"), got


# --- against a real server -------------------------------------------------------------------

OVERLAP = 4.0


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    started = start(
        tmp_path_factory.mktemp("rotate"), "rotate", INCIDENTS_WEBHOOK_SECRET_OVERLAP=str(OVERLAP)
    )
    yield started
    started[0].stop()


async def test_rotation_without_a_gap_and_retries_with_one_id(
    rotating: tuple[ServerProcess, str, str],
) -> None:
    hooks = Hooks(*rotating)
    receiver = await Receiver().start()
    try:
        hook, old = await hooks.register(receiver.url)
        incident = await hooks.admin.create("文化路自来水爆管")
        await hooks.post(incident, 1)
        await receiver.until(incident, 2)
        assert all(r.signed_by(old) for r in receiver.requests)

        # Not for operators; unknown endpoints are 404.
        assert (await hooks.operator.http.post(f"/api/webhooks/{hook}/rotate-secret")).status_code == 403
        assert (await hooks.admin.http.post("/api/webhooks/nope00000000/rotate-secret")).status_code == 404
        answer = await hooks.admin.http.post(f"/api/webhooks/{hook}/rotate-secret")
        assert answer.status_code == 200, answer.text
        new, until = answer.json()["secret"], answer.json()["previous_valid_until"]
        assert new.startswith("whsec_") and new != old and len(key_of(new)) == 32
        left = datetime.fromisoformat(until.replace("Z", "+00:00")) - datetime.now(UTC)
        assert 0 < left.total_seconds() <= OVERLAP
        listed = await hooks.admin.http.get(f"/api/webhooks/{hook}")
        assert new not in listed.text and old not in listed.text

        # During the overlap: both secrets verify every delivery.
        seen = len(receiver.requests)
        await hooks.post(incident, 1)
        await receiver.until(incident, 3)
        during = receiver.requests[seen:]
        assert during and all(r.signed_by(old) and r.signed_by(new) for r in during)

        # After it: only the new one.
        await eventually(lambda: _after(until), OVERLAP + 5, "the overlap to end")
        receiver.mode = "fail"  # and the next event is retried a few times
        seen = len(receiver.requests)
        await hooks.post(incident, 1)
        await eventually(lambda: _attempts(receiver, seen, 3), 15, "three attempts of one event")
        receiver.release()
        await receiver.until(incident, 4)
        after = receiver.requests[seen:]
        assert all(r.signed_by(new) and not r.signed_by(old) for r in after)
        ids = {r.headers["webhook-id"] for r in after}
        assert ids == {f"{incident}:4"}, ids  # every retry of the event carries its one id
        assert len(after) >= 4

        audit = await hooks.admin.http.get("/api/audit", params={"action": "webhook.secret_rotated"})
        assert audit.status_code == 200, audit.text
        rotations = [e for e in audit.json()["entries"] if e.get("target") == hook]
        assert len(rotations) == 1 and new not in audit.text and old not in audit.text
    finally:
        await receiver.down()
        await hooks.clean()


async def _after(until: str) -> bool:
    return datetime.now(UTC) > datetime.fromisoformat(until.replace("Z", "+00:00"))


async def _attempts(receiver: Receiver, seen: int, count: int) -> bool:
    return len(receiver.requests) - seen >= count
