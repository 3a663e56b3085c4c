"""What every request body and query shares: unknown fields and unstorable text refused (422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from broadcaster.core import text

MAX_SEQ = 2**63 - 1
"""The largest seq (or audit position) a query may name: stores keep 64-bit integers."""


class Strict(BaseModel):
    """A request body: unknown fields and unstorable characters are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        """Every text field, of every model, passes :func:`broadcaster.core.text.check`."""
        for item in value if isinstance(value, list) else [value]:
            why = text.problem(item) if isinstance(item, str) else None
            if why is not None:
                raise PydanticCustomError(
                    "control_characters", "{field}: {problem}", {"field": info.field_name, "problem": why}
                )
        return value
