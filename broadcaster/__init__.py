"""A live-update broadcaster for incident timelines (滚动播报)."""

__version__ = "0.1.0"
