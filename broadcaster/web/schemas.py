"""Request bodies of the JSON API, with their limits (bad fields answer 422)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_REASON = 1_000


class Severity(StrEnum):
    """CAP 1.2 severities, lower case."""

    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"
    UNKNOWN = "unknown"


class Category(StrEnum):
    """CAP 1.2 categories."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


Lang = Field("zh-CN", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)


class IncidentIn(Strict):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    summary: str = Field("", max_length=2_000)
    area: str = Field("", max_length=200)
    severity: Severity = Severity.UNKNOWN
    category: Category = Category.OTHER
    lang: str = Lang
    exercise: bool = False

    _title = field_validator("title")(_not_blank)


class IncidentEdit(Strict):
    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    summary: str | None = Field(None, max_length=2_000)
    area: str | None = Field(None, max_length=200)
    severity: Severity | None = None
    category: Category | None = None
    lang: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)

    _title = field_validator("title")(_not_blank)


class UpdateIn(Strict):
    body: str = Field(min_length=1, max_length=MAX_BODY, description="Markdown")
    next_update_at: str | None = Field(None, description="RFC 3339 time of the next promised update")
    publish_at: str | None = Field(None, description="RFC 3339: schedule instead of posting now")
    photos: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]] = Field(
        default_factory=list, max_length=6, description="ids of photos uploaded to /api/photos"
    )

    _body = field_validator("body")(_not_blank)


class CorrectionIn(Strict):
    body: str = Field(min_length=1, max_length=MAX_BODY)
    reason: str = Field(min_length=1, max_length=MAX_REASON)

    _check = field_validator("body", "reason")(_not_blank)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=MAX_REASON)

    _reason = field_validator("reason")(_not_blank)


class OptionalReasonIn(Strict):
    reason: str | None = Field(None, max_length=MAX_REASON)


class Fact(Strict):
    label: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=1_000)

    _label = field_validator("label")(_not_blank)


class FactsIn(Strict):
    facts: list[Fact] = Field(max_length=30)
