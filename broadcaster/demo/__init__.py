"""The demo broadcast: ``incidents demo`` replays the 2010 water-main burst on 文化路 (an exercise),
in compressed time, as a client of the server's own HTTP API. The script ships in this package
(``zzic-2010.json``); see docs/operations.md#the-demo-broadcast.
"""

from __future__ import annotations

from broadcaster.demo.command import DEFAULT_SPEED, Running, add_options, check_options, start

__all__ = ["DEFAULT_SPEED", "Running", "add_options", "check_options", "start"]
