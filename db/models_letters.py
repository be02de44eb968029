"""Tables of the letters feature (kept apart from db/models.py so features migrate independently)."""

from __future__ import annotations
