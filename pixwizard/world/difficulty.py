"""The frozen, versioned difficulty of the world.

A difficulty is never edited: a harder or different world is a new entry in ``DIFFICULTIES`` under a new
version, so every export and evaluation that records its ``world_version`` stays reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

WORLD_VERSION = "1"
"""The version of the current world; it is stored on every ``Scene``."""


@dataclass(frozen=True, kw_only=True)
class Difficulty:
    """How hard scenes are: object counts and sizes, overlap, texture and backgrounds."""

    version: str
    """The world version this difficulty defines (the key in ``DIFFICULTIES``)."""
    min_objects: int = 1
    """Fewest objects in a scene."""
    max_objects: int = 6
    """Most objects in a scene (fewer when placement runs out of tries)."""
    min_size: float = 0.2
    """Smallest object diameter (of its circumscribed circle), as a fraction of the image's short side."""
    max_size: float = 0.5
    """Largest object diameter, as a fraction of the image's short side."""
    allow_overlap: bool = True
    """Whether objects may occlude each other (each keeps at least ``min_visible`` of its pixels)."""
    min_visible: float = 0.2
    """Share of each object's own pixels that must stay unoccluded."""
    placement_tries: int = 20
    """Attempts to place one object before the scene keeps the objects it already has."""
    texture_prob: float = 0.25
    """Probability that an object is drawn with a stripe texture instead of a flat colour."""
    backgrounds: tuple[tuple[str, float], ...] = (
        ("flat", 1.0),
        ("gradient", 1.0),
        ("stripes", 1.0),
        ("checker", 1.0),
        ("noise", 1.0),
        ("horizon", 1.0),
    )
    """Background kinds with their (unnormalised) sampling weights."""
    relational_share: float = 0.3
    """Share of referring expressions that are relational ("the star behind the circle"); used later."""


DIFFICULTY_V1 = Difficulty(version="1")
"""The first world's difficulty."""

DIFFICULTIES: dict[str, Difficulty] = {"1": DIFFICULTY_V1}
"""Every difficulty ever released, by world version; only ever extended."""
