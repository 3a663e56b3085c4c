"""Settings, from the environment (``INCIDENTS_*``) or the command line."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BACKEND = "sqlite:///./data/incidents.db"


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
    language: str = Field("zh-CN", description="interface language when the reader's browser names none")
    secret_key: str | None = Field(
        None, description="signs session cookies; by default one is made and kept in the store"
    )
    page_updates: int = Field(50, ge=1, description="updates on the first page of a timeline")
