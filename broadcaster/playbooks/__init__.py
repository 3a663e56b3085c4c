"""Incident templates ("playbooks"): the model and its checks (``model.py``, pure), the shipped
ones (``shipped.json``), the library in the store (``library.py``), ``GET /api/templates``
(``api.py``), opening an incident in the console from a template (``opening.py``) and the
administrators' pages (``admin.py``). See docs/console.md#incident-templates.
"""

from __future__ import annotations

from broadcaster.playbooks.library import Library, shipped
from broadcaster.playbooks.model import Template, TemplateProblem, UnknownTemplate

__all__ = ["Library", "Template", "TemplateProblem", "UnknownTemplate", "shipped"]
