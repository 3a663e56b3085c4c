"""The operators' console: sign-in, the dashboard and incident workspace, the administrators' pages."""

from __future__ import annotations

from broadcaster.console.alert_form import alert_fields
from broadcaster.console.forms import FormProblem, choices, severity_and_category, storable, text
from broadcaster.console.workspace import Desk, DeskDep
from broadcaster.console.workspace import workspace as show_workspace

__all__ = [
    "Desk",
    "DeskDep",
    "FormProblem",
    "alert_fields",
    "choices",
    "severity_and_category",
    "show_workspace",
    "storable",
    "text",
]
