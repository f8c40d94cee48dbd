"""PixWorld: procedural scenes with exact ground truth (torch-free: numpy and PIL only).

``scene(seed, index)`` builds a frozen ``Scene``; ``render``, ``instance_map``, ``object_mask``,
``object_box``, ``label_map``, ``depth_map``, ``normal_map`` and ``edge_map`` derive its targets from the
geometry. Difficulty is frozen and versioned in ``DIFFICULTIES``.
"""

from __future__ import annotations

from pixwizard.world.difficulty import DIFFICULTIES, DIFFICULTY_V1, WORLD_VERSION, Difficulty
from pixwizard.world.scenes import (
    BACKGROUNDS,
    COLORS,
    PALETTE,
    SHAPES,
    Background,
    Scene,
    SceneObject,
    depth_map,
    edge_map,
    instance_map,
    label_image,
    label_map,
    normal_map,
    object_box,
    object_mask,
    palette_json,
    render,
    scene,
    visible_fraction,
)

__all__ = [
    "BACKGROUNDS",
    "COLORS",
    "DIFFICULTIES",
    "DIFFICULTY_V1",
    "PALETTE",
    "SHAPES",
    "WORLD_VERSION",
    "Background",
    "Difficulty",
    "Scene",
    "SceneObject",
    "depth_map",
    "edge_map",
    "instance_map",
    "label_image",
    "label_map",
    "normal_map",
    "object_box",
    "object_mask",
    "palette_json",
    "render",
    "scene",
    "visible_fraction",
]
