"""The operators' console: sign-in, the dashboard and incident workspace, the administrators' pages."""

from __future__ import annotations

from broadcaster.console.forms import FormProblem, choices, text
from broadcaster.console.workspace import Desk, DeskDep
from broadcaster.console.workspace import workspace as show_workspace

__all__ = [
    "Desk",
    "DeskDep",
    "FormProblem",
    "choices",
    "show_workspace",
    "text",
]
