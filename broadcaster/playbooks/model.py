"""Incident templates ("playbooks"): what they hold, the checks they pass, and how one fills
a new incident. Pure: no I/O (the store is :mod:`broadcaster.playbooks.library`).

A template holds the CAP values of the incident (category, severity, urgency, certainty), the
minutes to the next update promised with the first notice, and per language (``zh-CN`` and
``en``) its name, a title pattern (``{area}`` stands for the incident's area), the instruction
to the public, the labels of the key facts and the first notice's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from broadcaster.core import text as written
from broadcaster.core.timeline import same_language
from broadcaster.core.types import JSON
from broadcaster.incidents import MAX_BODY, MAX_INSTRUCTION, MAX_TITLE, Category, Certainty, Severity, Urgency

LANGS = ("zh-CN", "en")
"""The languages every template is written in (the interface's two)."""
ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
MAX_NAME = 80
MAX_FACTS = 12
MAX_FACT_LABEL = 100
MAX_MINUTES = 24 * 60
MAX_TEMPLATES = 100
AREA = "{area}"
FILLED = ("title", "category", "severity", "urgency", "certainty", "instruction")
"""The incident's fields a template fills when the request leaves them out."""
_SEPARATORS = " \t:：,，;；-–—·|/（）()[]【】"


class TemplateProblem(ValueError):
    """A template field is missing or wrong; the message starts with the field's name."""


class UnknownTemplate(LookupError):
    """No template has this id."""

    def __init__(self, template_id: str) -> None:
        super().__init__(f"template: no template {template_id!r}")
        self.template_id = template_id


@dataclass(frozen=True, slots=True)
class Texts:
    """A template's words in one language."""

    name: str
    title: str
    instruction: str = ""
    facts: tuple[str, ...] = ()
    first_notice: str = ""

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "title": self.title,
            "instruction": self.instruction,
            "facts": list(self.facts),
            "first_notice": self.first_notice,
        }


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    category: str
    severity: str
    urgency: str
    certainty: str
    next_update_minutes: int | None
    texts: Mapping[str, Texts] = field(default_factory=dict)

    def words(self, lang: str) -> Texts:
        """The texts in the language of an incident (any Chinese tag: zh-CN; else English)."""
        return self.texts["zh-CN" if same_language(lang, "zh") else "en"]

    def name(self, lang: str) -> str:
        return self.words(lang).name

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "category": self.category,
            "severity": self.severity,
            "urgency": self.urgency,
            "certainty": self.certainty,
            "next_update_minutes": self.next_update_minutes,
            "texts": {lang: self.texts[lang].to_json() for lang in LANGS},
        }


# --- checking ---------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], name: str, where: str, limit: int, *, required: bool = False) -> str:
    value = raw.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise TemplateProblem(f"{where}{name}: must be text")
    try:
        value = written.check(value, f"{where}{name}").replace("\r\n", "\n").strip()  # a form's line ends
    except ValueError as exc:
        raise TemplateProblem(str(exc)) from None
    if required and not value:
        raise TemplateProblem(f"{where}{name}: required")
    if len(value) > limit:
        raise TemplateProblem(f"{where}{name}: at most {limit} characters")
    return value


def _choice(raw: Mapping[str, Any], name: str, allowed: Iterable[str], default: str) -> str:
    value = raw.get(name) or default
    choices = list(allowed)
    if value not in choices:
        raise TemplateProblem(f"{name}: one of {', '.join(choices)}")
    return str(value)


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not re.match(ID_PATTERN, value):
        raise TemplateProblem(
            "id: 1 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return value


def _facts(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list) or not all(isinstance(label, str) for label in raw):
        raise TemplateProblem(f"{where}facts: a list of labels")
    labels = []
    for label in raw:
        try:
            label = written.check(label, f"{where}facts").strip()
        except ValueError as exc:
            raise TemplateProblem(str(exc)) from None
        if not label:
            continue
        if len(label) > MAX_FACT_LABEL:
            raise TemplateProblem(f"{where}facts: each label at most {MAX_FACT_LABEL} characters")
        if label in labels:
            raise TemplateProblem(f"{where}facts: {label!r} is there twice")
        labels.append(label)
    if len(labels) > MAX_FACTS:
        raise TemplateProblem(f"{where}facts: at most {MAX_FACTS} labels")
    return tuple(labels)


def _texts(raw: Any, lang: str) -> Texts:
    where = f"texts.{lang}."
    if not isinstance(raw, Mapping):
        raise TemplateProblem(f"texts.{lang}: required (name and title at least)")
    title = _text(raw, "title", where, MAX_TITLE, required=True)
    if re.search(r"\{(?!area\})|(?<!\{area)\}", title):
        raise TemplateProblem(f"{where}title: the only placeholder is {AREA}")
    return Texts(
        name=_text(raw, "name", where, MAX_NAME, required=True),
        title=title,
        instruction=_text(raw, "instruction", where, MAX_INSTRUCTION),
        facts=_facts(raw.get("facts"), where),
        first_notice=_text(raw, "first_notice", where, MAX_BODY),
    )


def parse(raw: Any, template_id: str | None = None) -> Template:
    """A template from its JSON (as stored, sent to the API or read from the console's form).

    Raises:
        TemplateProblem: naming the field (``texts.en.title: required``).
    """
    if not isinstance(raw, Mapping):
        raise TemplateProblem("template: must be an object")
    minutes = raw.get("next_update_minutes")
    if minutes in ("", None):
        minutes = None
    elif isinstance(minutes, str) and minutes.strip().isdigit():
        minutes = int(minutes)
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES
    ):
        raise TemplateProblem(f"next_update_minutes: a whole number of minutes from 1 to {MAX_MINUTES}")
    texts = raw.get("texts")
    if not isinstance(texts, Mapping):
        raise TemplateProblem("texts: required, by language (zh-CN and en)")
    unknown = set(texts) - set(LANGS)
    if unknown:
        raise TemplateProblem(f"texts: only {' and '.join(LANGS)} (not {', '.join(sorted(unknown))})")
    return Template(
        id=check_id(template_id if template_id is not None else raw.get("id")),
        category=_choice(raw, "category", (c.value for c in Category), Category.OTHER),
        severity=_choice(raw, "severity", (s.value for s in Severity), Severity.UNKNOWN),
        urgency=_choice(raw, "urgency", (u.value for u in Urgency), Urgency.EXPECTED),
        certainty=_choice(raw, "certainty", (c.value for c in Certainty), Certainty.OBSERVED),
        next_update_minutes=minutes,
        texts={lang: _texts(texts.get(lang), lang) for lang in LANGS},
    )


# --- filling an incident ------------------------------------------------------------------


def title_for(pattern: str, area: str, name: str) -> str:
    """The title pattern with ``{area}`` replaced by the incident's area; without an area, the
    pattern without it (its separators trimmed), or the template's name if nothing is left."""
    area = area.strip()
    if AREA in pattern and area:
        title = pattern.replace(AREA, area)
    else:
        title = pattern.replace(AREA, "").strip(_SEPARATORS) if AREA in pattern else pattern
        title = title or name
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rstrip() + "…"
    return title


def fill(template: Template, fields: Mapping[str, Any], given: Iterable[str]) -> dict[str, Any]:
    """``fields`` of a new incident with what the request left out (those not in ``given``)
    taken from the template, in the incident's language (``fields["lang"]``)."""
    given = set(given)
    words = template.words(str(fields.get("lang") or "zh-CN"))
    filled = dict(fields)
    template_values = {
        "title": title_for(words.title, str(fields.get("area") or ""), words.name),
        "category": template.category,
        "severity": template.severity,
        "urgency": template.urgency,
        "certainty": template.certainty,
        "instruction": words.instruction,
    }
    for name in FILLED:
        if name not in given or (name == "title" and not str(fields.get("title") or "").strip()):
            filled[name] = template_values[name]
    return filled


def blank_facts(template: Template, lang: str) -> list[JSON]:
    """The template's key facts for an incident in ``lang``: labels with empty values."""
    return [{"label": label, "value": ""} for label in template.words(lang).facts]
