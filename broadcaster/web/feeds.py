"""Feeds and embeds for media: Atom, JSON Feed, oEmbed (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["feeds"])
