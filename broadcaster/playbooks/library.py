"""Incident templates in the store: one document, ``playbooks``, so every process sees the same.

The document is ``{"templates": {id: template}}``. It is written with the store's
compare-and-set (``put_doc(expect_version=...)``): a change decided on an older version is
decided again. The first read of an empty store writes the shipped templates
(``shipped.json``). Every change is audited (``template.created``, ``template.edited``,
``template.deleted``, ``template.restored``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any

from broadcaster.accounts import Actor, audit
from broadcaster.core.types import JSON
from broadcaster.playbooks.model import (
    MAX_TEMPLATES,
    Template,
    TemplateProblem,
    UnknownTemplate,
    blank_facts,
    fill,
    parse,
)
from broadcaster.stores.base import Backend, BackendError

DOC = "playbooks"
MAX_ATTEMPTS = 20
log = logging.getLogger("incidents.playbooks")


@cache
def shipped() -> dict[str, Template]:
    """The templates shipped in the package, by id."""
    raw = json.loads(resources.files("broadcaster.playbooks").joinpath("shipped.json").read_text("utf-8"))
    return {item["id"]: parse(item) for item in raw["templates"]}


def _shipped_doc() -> JSON:
    return {"templates": {tid: t.to_json() for tid, t in shipped().items()}}


def _stored(value: JSON) -> dict[str, Template]:
    found = {}
    for tid, raw in value.get("templates", {}).items():
        try:
            found[tid] = parse(raw, tid)
        except TemplateProblem as exc:  # written by another version, say: left out, not fatal
            log.error("template %s in the store is not valid (%s): left out", tid, exc)
    return found


class Library:
    """The templates as the store holds them, and every change to them."""

    def __init__(self, backend: Backend, key: str = DOC) -> None:
        self.backend = backend
        self.key = key

    async def _read(self) -> tuple[dict[str, Template], int]:
        doc = await self.backend.get_doc(self.key)
        if doc is None:  # first use: the shipped ones (or those another process wrote first)
            if await self.backend.put_doc(self.key, _shipped_doc(), expect_version=0) is None:
                doc = await self.backend.get_doc(self.key)
            if doc is None:
                return dict(shipped()), 1
        return _stored(doc.value), doc.version

    async def all(self) -> list[Template]:
        """Every template, in the order they were added."""
        return list((await self._read())[0].values())

    async def get(self, template_id: str) -> Template:
        """Raises UnknownTemplate."""
        found = (await self._read())[0].get(template_id)
        if found is None:
            raise UnknownTemplate(template_id)
        return found

    async def fill(
        self, template_id: str, fields: dict[str, Any], given: Iterable[str]
    ) -> tuple[dict[str, Any], list[JSON]]:
        """A new incident's ``fields`` with what the request left out (not in ``given``) from
        the template, and the template's key facts (labels, empty values) in its language.

        Raises:
            UnknownTemplate: no such template (a 422 naming ``template``).
        """
        template = await self.get(template_id)
        filled = fill(template, fields, given)
        return filled, blank_facts(template, str(filled.get("lang") or "zh-CN"))

    async def _change(self, decide: Callable[[dict[str, Template]], dict[str, Template]]) -> None:
        for _ in range(MAX_ATTEMPTS):
            templates, version = await self._read()
            changed = decide(dict(templates))
            value: JSON = {"templates": {tid: t.to_json() for tid, t in changed.items()}}
            if await self.backend.put_doc(self.key, value, expect_version=version) is not None:
                return
        raise BackendError("templates: too many concurrent changes; try again")

    async def create(self, template: Template, by: Actor) -> Template:
        """Raises TemplateProblem: the id is taken, or there are too many."""

        def decide(templates: dict[str, Template]) -> dict[str, Template]:
            if template.id in templates:
                raise TemplateProblem(f"id: a template {template.id!r} exists already")
            if len(templates) >= MAX_TEMPLATES:
                raise TemplateProblem(f"template: at most {MAX_TEMPLATES} templates")
            return {**templates, template.id: template}

        await self._change(decide)
        await self._audit(by, "template.created", template)
        return template

    async def edit(self, template: Template, by: Actor) -> Template:
        """Replace a template (same id). Raises UnknownTemplate."""
        before: list[Template] = []

        def decide(templates: dict[str, Template]) -> dict[str, Template]:
            if template.id not in templates:
                raise UnknownTemplate(template.id)
            before[:] = [templates[template.id]]
            return {**templates, template.id: template}

        await self._change(decide)
        old, new = before[0].to_json(), template.to_json()
        changed = sorted(name for name in new if old.get(name) != new[name])
        await self._audit(by, "template.edited", template, {"changed": changed})
        return template

    async def delete(self, template_id: str, by: Actor) -> Template:
        """Raises UnknownTemplate."""
        gone: list[Template] = []

        def decide(templates: dict[str, Template]) -> dict[str, Template]:
            if template_id not in templates:
                raise UnknownTemplate(template_id)
            gone[:] = [templates.pop(template_id)]
            return templates

        await self._change(decide)
        await self._audit(by, "template.deleted", gone[0])
        return gone[0]

    async def restore(self, template_id: str, by: Actor) -> Template:
        """Put a shipped template back as shipped (deleted or edited). Raises UnknownTemplate
        for an id that was not shipped."""
        original = shipped().get(template_id)
        if original is None:
            raise UnknownTemplate(template_id)
        await self._change(lambda templates: {**templates, template_id: original})
        await self._audit(by, "template.restored", original)
        return original

    async def _audit(self, by: Actor, action: str, template: Template, extra: JSON | None = None) -> None:
        detail = {"name": template.name("zh-CN"), **(extra or {})}
        await audit.record(self.backend, by, action, target=template.id, detail=detail)
