"""Composing the e-mails (pure) and handing them to a real SMTP server: both languages,
plain text + HTML, threading, one-click unsubscribe, escaping, the drill mark."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from broadcaster.config import Settings
from broadcaster.notify import ChannelName, Level, Notice, Subscription, mail
from tests.notify.mailbox import Mailbox, parts

SETTINGS = Settings(mail_from="alerts@zzic.example", public_url="https://alerts.zzic.example/")
SENDER = mail.sender(SETTINGS)
MANAGE = "https://alerts.zzic.example/subscriptions/TOKEN"
UNSUB = mail.unsubscribe_url(SENDER.public_url, "TOKEN")


def sub(lang: str) -> Subscription:
    return Subscription(
        "s1", ChannelName.EMAIL, "inc1", None, Level.ALL, lang, True, "2024-05-01T00:00:00Z", True
    )


def notice(seq: int, lang: str = "zh-CN", exercise: bool = False, title: str = "文化路<停水>") -> Notice:
    headline = f"第{seq}条 & <b>更新</b>"
    return Notice("inc1", seq, "update.posted", f"2024-05-01T10:0{seq}:00Z", title, headline,
                  f"{headline}\n抢修进展第{seq}段", f"https://alerts.zzic.example/incidents/inc1#u-{seq}",
                  exercise, lang, update_id=f"u{seq}")  # fmt: skip


def reparse(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize(
    ("lang", "subject", "intro", "manage"),
    [
        ("zh-CN", "请确认订阅：ZZIC", "确认", "查看或取消订阅"),
        ("en", "Confirm your subscription: ZZIC", "confirm your address", "See or end your subscriptions"),
    ],
)
def test_confirmation_in_each_language(lang: str, subject: str, intro: str, manage: str) -> None:
    confirm = "https://alerts.zzic.example/subscriptions/TOKEN/confirm?k=1&x=<2>"
    message = reparse(mail.confirmation(SENDER, "Ann@Example.org", lang, confirm, MANAGE))
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "ZZIC"
    assert message["From"].addresses[0].addr_spec == "alerts@zzic.example"
    assert message["To"].addresses[0].addr_spec == "Ann@Example.org"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"].endswith("@zzic.example>")
    assert message["List-Unsubscribe"] is None  # nothing is subscribed before the link is followed
    plain, html = parts(message)
    assert intro in plain and manage in plain
    assert confirm in plain and MANAGE in plain
    assert f'<html lang="{lang}">' in html
    assert 'href="https://alerts.zzic.example/subscriptions/TOKEN/confirm?k=1&amp;x=&lt;2&gt;"' in html
    assert manage in html


@pytest.mark.parametrize(
    ("lang", "mark", "drill"), [("zh-CN", "【演练】", "演练"), ("en", "[EXERCISE]", "EXERCISE")]
)
def test_notification_headers_and_bodies(lang: str, mark: str, drill: str) -> None:
    real = reparse(mail.notification(SENDER, "ann@example.org", sub(lang), [notice(1, lang)], MANAGE, UNSUB))
    assert real["Subject"] == "文化路<停水>"
    assert real["In-Reply-To"] == real["References"] == "<incident.inc1@zzic.example>"
    assert real["List-Unsubscribe"] == "<https://alerts.zzic.example/subscriptions/TOKEN/unsubscribe>"
    assert real["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert real["List-Id"] == '"ZZIC" <notifications.zzic.example>'
    plain, html = parts(real)
    assert "第1条 & <b>更新</b>" in plain and "抢修进展第1段" in plain
    assert "https://alerts.zzic.example/incidents/inc1#u-1" in plain
    assert MANAGE in plain and UNSUB in plain
    assert drill not in plain
    assert "第1条 &amp; &lt;b&gt;更新&lt;/b&gt;" in html and "<b>" not in html  # escaped
    assert "文化路&lt;停水&gt;" in html
    assert f'href="{MANAGE}"' in html and f'href="{UNSUB}"' in html
    read_more = "在时间线上查看" if lang == "zh-CN" else "Read it on the timeline"
    assert read_more in plain and read_more in html
    drill_mail = reparse(
        mail.notification(
            SENDER, "ann@example.org", sub(lang), [notice(2, lang, exercise=True)], MANAGE, UNSUB
        )
    )
    assert drill_mail["Subject"] == f"{mark} 文化路<停水>"
    plain, html = parts(drill_mail)
    assert drill in plain.splitlines()[0] and drill in html
    assert drill_mail["Message-ID"] != real["Message-ID"]
    assert drill_mail["References"] == real["References"]  # one thread per incident


def test_digest_carries_every_notice_oldest_first() -> None:
    message = reparse(
        mail.notification(
            SENDER, "ann@example.org", sub("en"), [notice(3), notice(1), notice(2)], MANAGE, UNSUB
        )
    )
    plain, html = parts(message)
    assert "What happened since our last e-mail about this incident:" in plain
    positions = [plain.index(f"第{n}条") for n in (1, 2, 3)]
    assert positions == sorted(positions)
    assert len(re.findall(r"<li", html)) == 3
    # Local time of the settings' zone (Asia/Shanghai): 10:01 UTC is 18:01.
    assert "1 May 2024 18:01" in plain


def test_smtp_url_forms() -> None:
    target = mail.smtp_target("smtps://us%40er:p%3Ass@mail.example:2465")
    assert (target.hostname, target.port, target.use_tls) == ("mail.example", 2465, True)
    assert (target.username, target.password) == ("us@er", "p:ss")
    plain = mail.smtp_target("smtp://mail.example")
    assert (plain.port, plain.use_tls, plain.username) == (25, False, None)
    with pytest.raises(mail.MailError, match="not configured"):
        mail.smtp_target("")
    with pytest.raises(mail.MailError, match="smtp://"):
        mail.smtp_target("http://mail.example")


async def test_send_confirmation_through_a_real_server() -> None:
    with Mailbox() as box:
        settings = SETTINGS.model_copy(update={"smtp_url": box.url})
        await mail.send_confirmation(settings, "ann@example.org", "en", "https://x.example/c", MANAGE)
        (received,) = await box.wait("ann@example.org", 1)
        assert received["Subject"] == "Confirm your subscription: ZZIC"
        assert "https://x.example/c" in parts(received)[0]
        with pytest.raises(mail.MailError) as refused:
            await mail.send_confirmation(settings, "refuse@example.org", "en", "https://x.example/c", MANAGE)
        assert refused.value.permanent and refused.value.code == 550
        assert "refuse@" not in str(refused.value)  # no address in what may be logged
        with pytest.raises(mail.MailError) as busy:
            await mail.send_confirmation(settings, "busy@example.org", "en", "https://x.example/c", MANAGE)
        assert not busy.value.permanent and busy.value.code == 451
    with pytest.raises(mail.MailError) as down:  # the server is gone
        await mail.send_confirmation(settings, "ann@example.org", "en", "https://x.example/c", MANAGE)
    assert not down.value.permanent and "unreachable" in str(down.value)
    with pytest.raises(mail.MailError, match="not configured"):
        await mail.send_confirmation(SETTINGS, "ann@example.org", "en", "https://x.example/c", MANAGE)
