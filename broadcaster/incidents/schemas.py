"""Request bodies of the incidents API, with their limits (bad fields answer 422)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StringConstraints,
    field_validator,
    model_validator,
)

from broadcaster.core import shapes, text
from broadcaster.core import timeline as tl
from broadcaster.core.events import parse_time, utc_now
from broadcaster.web.models import Strict

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


class Urgency(StrEnum):
    """CAP 1.2 urgencies, lower case."""

    IMMEDIATE = "immediate"
    EXPECTED = "expected"
    FUTURE = "future"
    PAST = "past"
    UNKNOWN = "unknown"


class Certainty(StrEnum):
    """CAP 1.2 certainties, lower case."""

    OBSERVED = "observed"
    LIKELY = "likely"
    POSSIBLE = "possible"
    UNLIKELY = "unlikely"
    UNKNOWN = "unknown"


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


Lang = Field("zh-CN", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
LangTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
MAX_INSTRUCTION = 2_000


class Circle(BaseModel):
    """A circle on the map: ``center`` [latitude, longitude] in degrees (WGS 84), ``radius_km``.

    (Numbers only, so not :class:`Strict`, whose text check would hide the ``type`` tag.)"""

    model_config = ConfigDict(extra="forbid")

    type: Literal["circle"]
    center: tuple[StrictFloat, StrictFloat]
    radius_km: StrictFloat

    @model_validator(mode="after")
    def _on_the_map(self) -> Circle:
        shapes.check(self.model_dump())
        return self


class Polygon(BaseModel):
    """A closed polygon: 4 to 100 [latitude, longitude] points, the last repeating the first."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["polygon"]
    points: list[tuple[StrictFloat, StrictFloat]] = Field(max_length=shapes.MAX_POINTS)

    @model_validator(mode="after")
    def _on_the_map(self) -> Polygon:
        shapes.check(self.model_dump())
        return self


AreaShape = Annotated[Circle | Polygon, Field(discriminator="type")]
AREA_SHAPE_DOC = "the area drawn on the map, for CAP: a circle or a polygon (null: none)"
RESTORATION_DOC = "RFC 3339: when service is expected back (future); revising it keeps the history"


def _restoration(value: str | None) -> str | None:
    """The expected restoration time in UTC; it must lie in the future."""
    if value is None:
        return None
    try:
        parse_time(value)
    except ValueError:
        raise ValueError("not an RFC 3339 time with an offset, e.g. 2026-11-23T02:00:00+08:00") from None
    return tl.future_time(value, utc_now(), "the expected restoration time", tl.RESTORATION_HORIZON)


def check_translations(value: dict[str, str] | None) -> dict[str, str] | None:
    """Translation bodies pass the same checks as bodies (the model's check sees only
    top-level strings)."""
    for tag, body in (value or {}).items():
        why = text.problem(body)
        if why is not None:
            raise ValueError(f"{tag}: {why}")
        if not body.strip():
            raise ValueError(f"{tag}: must not be blank")
    return value


PhotoIds = list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]]
"""Ids of photos uploaded to ``/api/photos``."""

Translations = Annotated[
    dict[LangTag, Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]],
    Field(max_length=3, description='the body in other languages, by tag: {"en": "Markdown"}'),
]


TEMPLATE_DOC = (
    "an incident template's id (GET /api/templates), e.g. water-main: it fills the fields left out "
    "(title from its pattern and the area, category, severity, urgency, certainty, instruction) and "
    "the key facts' labels, in the incident's language"
)


class IncidentIn(Strict):
    title: str | None = Field(
        None, min_length=1, max_length=MAX_TITLE, description="required unless a template is given"
    )
    template: str | None = Field(None, pattern=r"^[a-z0-9-]{1,40}$", description=TEMPLATE_DOC)
    summary: str = Field("", max_length=2_000)
    area: str = Field("", max_length=200)
    severity: Severity = Severity.UNKNOWN
    category: Category = Category.OTHER
    lang: str = Lang
    exercise: bool = False
    urgency: Urgency = Urgency.EXPECTED
    certainty: Certainty = Certainty.OBSERVED
    instruction: str = Field("", max_length=MAX_INSTRUCTION, description="what the public should do")
    area_shape: AreaShape | None = Field(None, description=AREA_SHAPE_DOC)
    expected_restoration: str | None = Field(None, description=RESTORATION_DOC)

    _title = field_validator("title")(_not_blank)
    _restoration = field_validator("expected_restoration")(_restoration)

    @model_validator(mode="after")
    def _titled(self) -> IncidentIn:
        if self.title is None and self.template is None:
            raise ValueError("title: required (unless a template gives it)")
        return self


class IncidentEdit(Strict):
    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    summary: str | None = Field(None, max_length=2_000)
    area: str | None = Field(None, max_length=200)
    severity: Severity | None = None
    category: Category | None = None
    lang: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
    urgency: Urgency | None = None
    certainty: Certainty | None = None
    instruction: str | None = Field(None, max_length=MAX_INSTRUCTION)
    area_shape: AreaShape | None = Field(None, description=AREA_SHAPE_DOC)
    expected_restoration: str | None = Field(None, description=RESTORATION_DOC)

    _title = field_validator("title")(_not_blank)
    _restoration = field_validator("expected_restoration")(_restoration)


class UpdateIn(Strict):
    body: str = Field(min_length=1, max_length=MAX_BODY, description="Markdown")
    next_update_at: str | None = Field(None, description="RFC 3339 time of the next promised update")
    publish_at: str | None = Field(None, description="RFC 3339: schedule instead of posting now")
    photos: PhotoIds = Field(
        default_factory=list, max_length=6, description="ids of photos uploaded to /api/photos"
    )
    translations: Translations = Field(default_factory=dict)
    notify: StrictBool | None = Field(
        None,
        description="notify those following only important updates (default: true for the first "
        "update and for an update with next_update_at)",
    )

    _body = field_validator("body")(_not_blank)
    _translations = field_validator("translations")(check_translations)


class CorrectionIn(Strict):
    body: str = Field(min_length=1, max_length=MAX_BODY)
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    translations: Translations = Field(default_factory=dict)

    _check = field_validator("body", "reason")(_not_blank)
    _translations = field_validator("translations")(check_translations)


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
