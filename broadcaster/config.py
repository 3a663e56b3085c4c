"""Settings, from the environment (``INCIDENTS_*``) or the command line."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broadcaster.core.addresses import AddressList

DEFAULT_BACKEND = "sqlite:///./data/incidents.db"
DEVELOPMENT_URL = "http://127.0.0.1:8000"
"""public_url when neither the setting nor ``incidents serve`` gives one (an app made in-process)."""


def local_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` of a server listening on ``host``: the public URL ``incidents serve``
    gives when none is set. Every address (0.0.0.0, ::) is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENTS_", extra="ignore")

    backend: str = Field(DEFAULT_BACKEND, description="sqlite:///path.db or redis://host:port/db")
    organisation: str = Field("ZZIC", description="the publisher's name shown to the public")
    timezone: str = Field("Asia/Shanghai", description="default time zone of incident pages")
    max_body_bytes: int = Field(1024 * 1024, description="larger request bodies get 413")
    live_per_address: int = Field(
        2000, ge=1, description="live connections one address may hold (429 beyond)"
    )
    live_queue: int = Field(512, ge=1, description="events queued per live connection before it is closed")
    forwarded_allow_ips: str = Field(
        "",
        description="reverse proxies (addresses or networks, comma-separated, e.g. 127.0.0.1) whose "
        "X-Forwarded-For names the client (default: none, the connection's peer is the client)",
    )
    metrics_allow: str = Field(
        "127.0.0.1,::1",
        description="client addresses or networks (comma-separated) that may read /metrics (others get 403)",
    )
    language: str = Field("zh-CN", description="interface language when the reader's browser names none")
    secret_key: str | None = Field(
        None, description="signs session cookies; by default one is made and kept in the store"
    )
    page_updates: int = Field(50, ge=1, description="updates on the first page of a timeline")
    cap_sender: str | None = Field(
        None,
        description="CAP <sender> of alert messages, e.g. a domain name (default: the host and port of "
        "public_url)",
    )
    # Citizens' reports (docs/reports.md).
    report_limit: int = Field(5, ge=1, description="reports one address may file per window (429 beyond)")
    report_window: int = Field(600, ge=1, description="that window, in seconds")
    report_prefix: str = Field("ZZ", pattern=r"^[A-Z]{1,4}$", description="tracking codes: PREFIX-XXXX-XXXX")
    # Webhooks (docs/webhooks.md). The defaults are the real values; tests shorten them.
    webhook_timeout: float = Field(10.0, gt=0, le=120, description="seconds one webhook request may take")
    webhook_min_backoff: float = Field(1.0, gt=0, description="first retry delay of a failing webhook")
    webhook_max_backoff: float = Field(600.0, gt=0, description="longest delay between two webhook attempts")
    webhook_give_up_seconds: float = Field(
        86_400.0, gt=0, description="an endpoint failing this long without a success is disabled"
    )
    webhook_lease_seconds: float = Field(
        30.0, gt=0, description="an endpoint's delivery lease; renewed while held, taken over when it lapses"
    )
    webhook_poll_seconds: float = Field(
        0.5, gt=0, le=10, description="how often event heads are polled (events of other processes)"
    )
    webhook_allow_private: bool = Field(
        False,
        description="allow webhook URLs on loopback, private and link-local addresses (tests, a LAN "
        "deployment; see docs/webhooks.md: SSRF)",
    )
    webhook_secret_overlap: float = Field(
        86400.0, ge=0, le=30 * 86400,
        description="seconds a webhook endpoint's previous secret still signs deliveries after a rotation "
        "(both signatures are sent meanwhile)",
    )  # fmt: skip
    webhook_log_keep: int = Field(
        1000, ge=1, description="attempts kept in each webhook endpoint's delivery log (the newest)"
    )
    # Maps (docs/maps.md).
    map_tiles: str | None = Field(
        None,
        description="a tile server's URL template, e.g. https://tile.example.org/{z}/{x}/{y}.png "
        "(default: none, the area is drawn on a plain grid)",
    )
    map_tiles_attribution: str = Field(
        "© OpenStreetMap contributors", max_length=300, description="the credit shown on the tiles"
    )
    map_center: str = Field(
        "34.7466,113.6253",
        description="latitude,longitude where the console's drawing map opens when the incident has no "
        "area yet (default: central Zhengzhou)",
    )
    # The public read path (docs/reads.md).
    read_freshness: float = Field(
        0.5, ge=0, le=30,
        description="seconds a cached page or feed is served before its incident's head is read again "
        "(writes through this process and events it hears are seen at once)",
    )  # fmt: skip
    read_cache_mb: int = Field(
        64, ge=1, description="memory for rendered and compressed public pages, feeds and documents (MiB)"
    )
    # Links (docs/operations.md#the-public-url).
    public_url: str = Field(
        DEVELOPMENT_URL,
        description="the absolute base URL readers use, e.g. https://alerts.example.gov.cn: every absolute "
        "link (pages, feeds, CAP, oEmbed, embed code, tracking and setup links, notifications) is made "
        "from it, never from the request's Host (default: http://HOST:PORT of `incidents serve`)",
    )
    # Notifications (docs/notifications.md).
    smtp_url: str = Field(
        "",
        description="smtp://host:port or smtps://user:pass@host:port for e-mail notifications (empty: off)",
    )
    mail_from: str = Field(
        "", description="the sender address of notification e-mails, e.g. alerts@example.org"
    )
    vapid_private_key: str | None = Field(
        None,
        description="the Web Push (VAPID) private key, PEM or base64url (default: one is made on first "
        "start and kept in the store)",
    )
    vapid_subject: str = Field(
        "mailto:admin@example.org", description="VAPID contact for push services: a mailto: or https: URL"
    )
    email_min_interval: float = Field(
        600.0,
        ge=0,
        description="seconds between two e-mails about one incident to one subscriber (coalesced)",
    )
    push_allow_private: bool = Field(
        False,
        description="accept Web Push endpoints on private addresses and plain http (tests, a LAN push "
        "service)",
    )
    subscribe_limit: int = Field(
        20, ge=1, description="subscription requests one client address may make per window (429 beyond)"
    )
    subscribe_window: float = Field(600.0, gt=0, description="that window, in seconds")
    notify_concurrency: int = Field(
        50, ge=1, le=1000, description="notifications sent at once per channel (bounded concurrency)"
    )
    notify_process: Literal["child", "inline", "off"] = Field(
        "child",
        description="where notifications are sent from: child (`incidents serve` starts one notifier "
        "process at a lower priority), inline (in each web process), off (run `incidents notifier` yourself)",
    )
    notify_nice: int = Field(
        10, ge=0, le=19, description="how much the notifier process lowers its CPU priority (os.nice)"
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        problem = "public_url must be an absolute http:// or https:// URL, e.g. https://alerts.example.org"
        if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError(problem)
        try:
            urlsplit(value).port  # noqa: B018 (a port that is not a number raises)
        except ValueError:
            raise ValueError(problem) from None
        return value.rstrip("/")

    @field_validator("forwarded_allow_ips", "metrics_allow")
    @classmethod
    def _address_list(cls, value: str) -> str:
        AddressList(value)  # raises ValueError naming the entry that is not an address
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"smtps?://\S+", value):
            raise ValueError("smtp_url must be smtp://host:port or smtps://user:pass@host:port (or empty)")
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, value: str) -> str:
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("vapid_subject must be a mailto: or https: URL")
        return value

    @field_validator("map_center")
    @classmethod
    def _map_center(cls, value: str) -> str:
        try:
            lat, lon = (float(part) for part in value.split(","))
        except ValueError:
            raise ValueError("map_center must be latitude,longitude, e.g. 34.7466,113.6253") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("map_center: latitude -90..90, longitude -180..180")
        return f"{lat},{lon}"

    @field_validator("map_tiles")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"https?://(\{s\}\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?/[^\s\"'<>\\]*", value):
            raise ValueError(
                "map_tiles must be an http:// or https:// URL template, e.g. https://tile.example.org/{z}/{x}/{y}.png"
            )
        missing = [name for name in ("{z}", "{x}", "{y}") if name not in value]
        if missing:
            raise ValueError(f"map_tiles must contain {{z}}, {{x}} and {{y}}; {', '.join(missing)} missing")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> Settings:
        # A process starts a request only while its lease has longer to run than the
        # request may take, so the lease must be well over one timeout.
        if self.webhook_lease_seconds < 2 * self.webhook_timeout + 1:
            raise ValueError("webhook_lease_seconds must be at least 2 x webhook_timeout + 1")
        return self
