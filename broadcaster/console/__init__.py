"""The operators' console: sign-in, the dashboard and incident workspace, the administrators' pages."""

from __future__ import annotations

from broadcaster.console.forms import FormProblem, choices, text

__all__ = [
    "FormProblem",
    "choices",
    "text",
]
