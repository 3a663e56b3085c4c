"""Entry point: the ``incidents`` command, and ``app`` for any ASGI server.

incidents serve                      # or: python incidents.py serve
uvicorn incidents:app                # settings from INCIDENTS_* variables
"""

from __future__ import annotations

import sys
from typing import Any

from broadcaster.cli import main


def __getattr__(name: str) -> Any:
    # Built on first use, so the command line does not pay for the web app.
    if name == "app":
        from broadcaster.app import create_app

        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
