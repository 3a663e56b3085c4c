"""Notification e-mails: composing them (pure) and handing one to the SMTP server.

Three messages, each plain text with an HTML alternative (``templates/notify/mail/``), in the
subscriber's language: the confirmation of a subscription (double opt-in: nothing else is sent
before its link is followed), a notification (one notice) and a digest (several notices of one
incident, coalesced). Every notification carries ``List-Unsubscribe`` + ``List-Unsubscribe-Post``
(RFC 8058 one-click) and ``In-Reply-To``/``References`` pointing at a stable per-incident root
``Message-ID``, so that mail clients group an incident's messages into one thread.

Addresses are personal data: they appear in the message and the SMTP envelope, never in an
exception's text, a log line or a metric.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from broadcaster import i18n
from broadcaster.config import Settings
from broadcaster.core.events import utc_now
from broadcaster.notify.types import Notice, Subscription
from broadcaster.web.rendering import Clock, resource_dir

POLICY = policy.default.clone(max_line_length=998)
"""Headers unfolded up to RFC 5322's limit: a long ``List-Unsubscribe`` stays on one line."""
SEND_TIMEOUT = 30.0
"""Seconds one SMTP conversation may take."""


class MailError(Exception):
    """An e-mail could not be sent. ``permanent``: the server refused the recipient or the
    message for good (a 5xx); else a transient failure (4xx, unreachable, not configured).
    The text never contains an address."""

    def __init__(self, detail: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True)
class Sender:
    """Who sends, and where links point: from the settings."""

    organisation: str
    address: str
    public_url: str
    timezone: str

    @property
    def domain(self) -> str:
        """The domain of ``Message-ID``s and ``List-Id``: the sender's, else the public URL's host."""
        if "@" in self.address:
            return self.address.rpartition("@")[2].strip().lower()
        return (urlsplit(self.public_url).hostname or "localhost").lower()


def sender(settings: Settings) -> Sender:
    address = settings.mail_from or f"noreply@{urlsplit(settings.public_url).hostname or 'localhost'}"
    return Sender(settings.organisation, address, settings.public_url.rstrip("/"), settings.timezone)


def thread_root(domain: str, incident: str) -> str:
    """The stable ``Message-ID`` every message about ``incident`` refers to (``References``)."""
    return f"<incident.{incident}@{domain}>"


def unsubscribe_url(public_url: str, token: str) -> str:
    """The RFC 8058 one-click address (POST ends the subscription, GET shows a page)."""
    return f"{public_url.rstrip('/')}/subscriptions/{token}/unsubscribe"


def list_id(s: Sender) -> str:
    label = re.sub(r'["\\\r\n]', "", s.organisation)[:60]
    return f'"{label}" <notifications.{s.domain}>'


_ENV = Environment(
    loader=FileSystemLoader(resource_dir("templates")),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def words(lang: str, organisation: str) -> dict[str, str]:
    """Every phrase of the mails, translated (the templates hold structure only, so that the
    plain text and the HTML say the same and the translation check sees each phrase)."""
    _ = i18n.translations(lang).gettext
    org = {"organisation": organisation}
    return {
        "exercise": _("EXERCISE: this is a drill, not a real incident."),
        "confirm_intro": _(
            "Someone, probably you, asked to receive e-mails from %(organisation)s about an incident "
            "or an area."
        )
        % org,
        "confirm_action": _("To start receiving them, confirm your address by opening this link:"),
        "confirm_button": _("Confirm my subscription"),
        "confirm_ignore": _(
            "If you did not ask for this, ignore this message: nothing more will be sent to you."
        ),
        "read_more": _("Read it on the timeline"),
        "digest_intro": _("What happened since our last e-mail about this incident:"),
        "why": _("You receive this because you subscribed to notifications from %(organisation)s.") % org,
        "manage": _("See or end your subscriptions"),
        "unsubscribe": _("Unsubscribe from these e-mails"),
    }


def _subject(lang: str, title: str, exercise: bool) -> str:
    mark = i18n.translations(lang).gettext("[EXERCISE]")
    text = re.sub(r"\s+", " ", title).strip()
    return f"{mark} {text}" if exercise else text


def _more(notice: Notice) -> str:
    """The update's text beyond its first line when that line is the headline already."""
    text = notice.text.strip()
    first, _, rest = text.partition("\n")
    return rest.strip() if first.strip() == notice.headline.strip() else text


def _base(s: Sender, to: str, subject: str, now: datetime, idstring: str) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((s.organisation, s.address))
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=idstring, domain=s.domain)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _render(message: EmailMessage, name: str, context: dict[str, Any]) -> EmailMessage:
    text = _ENV.get_template(f"notify/mail/{name}.txt").render(context)
    html = _ENV.get_template(f"notify/mail/{name}.html").render(context)
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def confirmation(
    s: Sender, to: str, lang: str, confirm_url: str, manage_url: str, now: datetime | None = None
) -> EmailMessage:
    """The double opt-in message: a link to follow before anything else is sent."""
    lang = i18n.normalise(lang) or i18n.DEFAULT
    subject = i18n.translations(lang).gettext("Confirm your subscription: %(organisation)s") % {
        "organisation": s.organisation
    }
    message = _base(s, to, subject, now or utc_now(), "confirm")
    context = {
        "lang": lang,
        "w": words(lang, s.organisation),
        "subject": subject,
        "confirm_url": confirm_url,
        "manage_url": manage_url,
    }
    return _render(message, "confirmation", context)


def notification(
    s: Sender,
    to: str,
    sub: Subscription,
    notices: Sequence[Notice],
    manage_url: str,
    unsubscribe: str,
    now: datetime | None = None,
) -> EmailMessage:
    """One notice (a notification) or several of one incident (a digest, oldest first), in the
    subscriber's language, threaded under the incident's root ``Message-ID``."""
    if not notices:
        raise ValueError("a notification needs at least one notice")
    ordered = sorted(notices, key=lambda n: n.seq)
    latest = ordered[-1]
    lang = i18n.normalise(sub.lang) or i18n.DEFAULT
    exercise = any(n.exercise for n in ordered)
    subject = _subject(lang, latest.title, exercise)
    message = _base(s, to, subject, now or utc_now(), f"{latest.incident}.{latest.seq}")
    root = thread_root(s.domain, latest.incident)
    message["In-Reply-To"] = root
    message["References"] = root
    message["List-Id"] = list_id(s)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    clock = Clock(s.timezone, lang)
    items = [{"notice": n, "when": clock.full(n.at), "more": _more(n)} for n in ordered]
    context = {
        "lang": lang,
        "w": words(lang, s.organisation),
        "subject": subject,
        "exercise": exercise,
        "title": latest.title,
        "items": items,
        "url": latest.url,
        "manage_url": manage_url,
        "unsubscribe_url": unsubscribe,
    }
    return _render(message, "digest" if len(ordered) > 1 else "notification", context)


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None


def smtp_target(url: str) -> SmtpTarget:
    """``smtp://host:port`` (STARTTLS when the server offers it), ``smtps://host:port`` (TLS from
    the start), each with optional ``user:pass@`` (percent-encoded).

    Raises:
        MailError: e-mail is not configured, or the URL is not one of those.
    """
    if not url:
        raise MailError("e-mail is not configured (INCIDENTS_SMTP_URL is empty)")
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise MailError("INCIDENTS_SMTP_URL must be smtp://host:port or smtps://user:pass@host:port")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as error:
        raise MailError("INCIDENTS_SMTP_URL has an invalid port") from error
    return SmtpTarget(
        hostname=parts.hostname,
        port=port,
        use_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


async def send(settings: Settings, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server of ``INCIDENTS_SMTP_URL``.

    Raises:
        MailError: ``permanent`` when the server refused the recipient or the message (5xx);
            otherwise (4xx, a refused sender or login, which are our configuration, no
            connection, a timeout) transient.
    """
    target = smtp_target(settings.smtp_url)
    try:
        await aiosmtplib.send(
            message,
            hostname=target.hostname,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=False if target.use_tls else None,
            timeout=SEND_TIMEOUT,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        code = min((r.code for r in error.recipients), default=0)
        raise MailError(f"SMTP {code}: recipient refused", permanent=code >= 500, code=code) from None
    except aiosmtplib.SMTPDataError as error:
        raise MailError(
            f"SMTP {error.code}: message refused", permanent=error.code >= 500, code=error.code
        ) from None
    except aiosmtplib.SMTPResponseException as error:
        # Refused sender, login, greeting: the server's or our configuration, not this address.
        raise MailError(f"SMTP {error.code}: {type(error).__name__}", code=error.code) from None
    except (aiosmtplib.SMTPException, OSError) as error:
        raise MailError(f"SMTP server unreachable: {type(error).__name__}") from None


async def send_confirmation(
    settings: Settings, to: str, lang: str, confirm_url: str, manage_url: str
) -> None:
    """Send the double opt-in message.

    Raises:
        MailError: it could not be sent (the API answers 503 saying so).
    """
    await send(settings, confirmation(sender(settings), to, lang, confirm_url, manage_url))
