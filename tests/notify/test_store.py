"""The subscription store on SQLite and on a real Redis: what is kept where (no personal
data in the log; personal documents emptied on removal), matching, and two processes
sharing one store (two :class:`Subscriptions` on one backend each)."""

from __future__ import annotations

import asyncio
import json

from broadcaster.config import Settings
from broadcaster.core import timeline as tl
from broadcaster.notify import ChannelName, Level, Subscriptions, application_server_key, load_vapid
from broadcaster.notify.rules import check_request
from broadcaster.notify.subscriptions import LOG, personal_key
from broadcaster.stores.base import Backend
from tests.notify.test_rules import AUTH, KEY

SETTINGS = Settings(public_url="https://alerts.example.org", push_allow_private=True)
AREA = {"type": "circle", "center": [34.75, 113.62], "radius_km": 2.0}


def incident(iid: str, shape: dict[str, object] | None = None, exercise: bool = False) -> tl.Incident:
    return tl.Incident(id=iid, title="t", summary="s", area="a", severity="minor", category="Infra",
                       lang="zh-CN", exercise=exercise, opened_at="2024-01-01T00:00:00Z",
                       area_shape=shape)  # fmt: skip


def push(n: int, **fields: object) -> dict[str, object]:
    endpoint = f"https://push.example.org/send/{n}-secret-endpoint"
    return {"channel": "webpush", "lang": "en", "push": {"endpoint": endpoint,
            "keys": {"p256dh": KEY, "auth": AUTH}}, **fields}  # fmt: skip


async def test_created_matched_removed_across_two_processes(backends: tuple[Backend, Backend]) -> None:
    one, two = Subscriptions(backends[0], SETTINGS), Subscriptions(backends[1], SETTINGS)
    iid = f"inc{id(one)}"
    following, token = await one.create(check_request(push(1, incident=iid, level="all")))
    area, _ = await one.create(check_request(push(2, area=AREA, drills=False)))
    other, _ = await one.create(check_request(push(3, incident="elsewhere")))
    mail, _ = await one.create(check_request({"channel": "email", "lang": "zh-CN", "incident": iid,
                                              "email": f"li.{iid}@example.org"}))  # fmt: skip
    assert following.confirmed and not mail.confirmed  # Web Push at once; e-mail after the link
    later = {"at": "2999-01-01T00:00:00Z"}
    near = {"type": "circle", "center": [34.76, 113.62], "radius_km": 0.5}  # 1.1 km off: meets AREA
    inc = incident(iid, near)
    # The other process sees them (refresh folds what the first appended).
    ids = lambda subs: [s.id for s in subs]  # noqa: E731
    assert ids(await two.matching(ChannelName.WEBPUSH, inc, later, Level.IMPORTANT)) == sorted(
        [following.id, area.id]
    )
    assert ids(await two.matching(ChannelName.WEBPUSH, inc, later, Level.ALL)) == [following.id]
    assert ids(await two.matching(ChannelName.WEBPUSH, incident(iid, near, exercise=True), later,
                                  Level.IMPORTANT)) == [following.id]  # fmt: skip
    assert await two.matching(ChannelName.WEBPUSH, inc, {"at": "2000-01-01T00:00:00Z"}, Level.IMPORTANT) == []
    far = {"type": "circle", "center": [34.9, 113.62], "radius_km": 1.0}
    assert ids(await two.matching(ChannelName.WEBPUSH, incident(iid, far), later, Level.IMPORTANT)) == [
        following.id
    ]
    assert await two.matching(ChannelName.EMAIL, inc, later, Level.IMPORTANT) == []  # not confirmed yet
    await two.confirm(mail.id)
    assert ids(await one.matching(ChannelName.EMAIL, inc, later, Level.IMPORTANT)) == [mail.id]
    assert other.id not in ids(await one.matching(ChannelName.WEBPUSH, inc, later, Level.ALL))
    counts = await one.following(inc)
    assert counts == {"incident": {"webpush": 1, "email": 1}, "area": {"webpush": 1}}

    # Personal data lives apart, with the token; the log holds none of it.
    personal = await two.personal(following.id)
    assert personal is not None and personal["token"] == token
    assert personal["push"]["endpoint"].endswith("1-secret-endpoint")
    assert two.manage_url(following, personal) == f"https://alerts.example.org/subscriptions/{token}"
    logged = json.dumps([e.decode() for e in await backends[0].read(LOG)])
    assert "secret-endpoint" not in logged and "example.org" not in logged and token not in logged
    assert KEY not in logged and AUTH not in logged

    # Removal (by the other process) empties the personal document and ends matching.
    await two.remove(following.id, "gone")
    await two.remove(following.id, "gone")  # again: harmless, one event
    assert await one.personal(following.id) is None
    doc = await backends[0].get_doc(personal_key(following.id))
    assert doc is not None and doc.value == {}
    assert following.id not in ids(await one.matching(ChannelName.WEBPUSH, inc, later, Level.ALL))
    removed = [e.decode() for e in await backends[0].read(LOG) if e.type == "subscription.removed"]
    assert [e["data"] for e in removed if e["data"]["id"] == following.id] == [
        {"id": following.id, "reason": "gone"}
    ]
    # A mail server refusing the address for good ends every subscription of it.
    await one.reject_address(f"LI.{iid}@Example.org", "rejected")
    assert await two.personal(mail.id) is None
    assert await two.matching(ChannelName.EMAIL, inc, later, Level.IMPORTANT) == []


async def test_the_same_person_subscribing_again_replaces_the_earlier(
    backends: tuple[Backend, Backend],
) -> None:
    subs = Subscriptions(backends[0], SETTINGS)
    first, token = await subs.create(check_request(push(7, incident="again", level="important")))
    second, _ = await subs.create(check_request(push(7, incident="again", level="all")))
    entry = await subs.by_token(token)
    assert entry is not None and entry.removed == "replaced"
    mine = await subs.of_subscriber(entry.subscriber)
    assert [e.sub.id for e in mine] == [second.id] and mine[0].sub.level == Level.ALL
    assert await subs.personal(first.id) is None


async def test_pause_switch_is_shared(backends: tuple[Backend, Backend]) -> None:
    one, two = Subscriptions(backends[0], SETTINGS), Subscriptions(backends[1], SETTINGS)
    await one.set_paused(True, "admin")
    assert await two.paused()
    await two.set_paused(False, "admin")
    assert not await one.paused()


async def test_one_vapid_key_for_every_process(backends: tuple[Backend, Backend]) -> None:
    keys = await asyncio.gather(*(load_vapid(backends[n % 2], SETTINGS) for n in range(6)))
    public = {application_server_key(k) for k in keys}
    assert len(public) == 1
    import base64

    raw = base64.urlsafe_b64decode(public.pop() + "==")
    assert len(raw) == 65 and raw[0] == 4
