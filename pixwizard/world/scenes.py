"""Procedural scenes and their exact ground truth, rendered from the geometry alone.

Notable features:
- A scene is a frozen value, deterministic from ``(seed, index)`` through
  ``numpy.random.default_rng([seed, index])``; the global RNG is never touched.
- Shapes are analytic inside tests on the pixel-centre grid (``pixwizard.world.shapes``), so the render,
  the masks, the label map and the depth map agree pixel for pixel.
- Camera: orthographic, looking along +depth; image ``x`` right, ``y`` down. Depth is a positive distance
  (larger = farther): the background is a wall at ``BACKGROUND_DEPTH`` (for ``horizon``, a sky at
  ``HORIZON_FAR`` over a ground plane that recedes towards the horizon), and object ``k`` (1-based z-order)
  sits at ``OBJECT_DEPTH - k * Z_STEP`` minus ``RELIEF * relief``, where relief in ``[0, 1]`` is its shape's
  bump. ``RELIEF < Z_STEP``, so depth order always agrees with the z-order.
- Labels: the world's own classes, background kinds first (``flat``, ``gradient``, ``stripes``, ``checker``,
  ``noise``, and ``sky`` / ``ground`` for a horizon), then one label per shape kind in ``SHAPES`` order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from pixwizard.world.difficulty import DIFFICULTY_V1, Difficulty
from pixwizard.world.shapes import SHAPE_FNS, rasterise

SHAPES: tuple[str, ...] = tuple(SHAPE_FNS)
"""Shape kinds, in label order (label = index + 1)."""

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 190),
    "pink": (240, 120, 180),
    "cyan": (40, 200, 210),
    "brown": (130, 80, 40),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
}
"""Named object colours with their fixed RGB."""

BACKGROUNDS: tuple[str, ...] = ("flat", "gradient", "stripes", "checker", "noise", "horizon")
"""Background kinds."""

PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("flat", (0, 0, 75)),
    ("gradient", (105, 120, 75)),
    ("stripes", (195, 90, 0)),
    ("checker", (0, 75, 165)),
    ("noise", (90, 150, 0)),
    ("sky", (165, 210, 255)),
    ("ground", (75, 0, 60)),
    ("circle", (225, 15, 90)),
    ("square", (60, 195, 105)),
    ("triangle", (255, 255, 0)),
    ("star", (0, 135, 195)),
    ("ring", (240, 105, 75)),
    ("cross", (165, 15, 165)),
    ("ellipse", (75, 240, 240)),
    ("hexagon", (240, 45, 225)),
)
"""Label colours: label ``i`` is ``PALETTE[i]``; background kinds, then shapes.

At least 60 apart in RGB, and at least 55 from every named object colour and its stripe shade, so a label
map is never read as a picture of coloured objects."""

SHAPE_LABEL: dict[str, int] = {name: i for i, (name, _) in enumerate(PALETTE) if name in SHAPES}
BACKGROUND_LABEL: dict[str, int] = {name: i for i, (name, _) in enumerate(PALETTE) if name not in SHAPES}

MIN_SIDE = 64
"""Smallest supported image side, in pixels."""
BACKGROUND_DEPTH = 10.0
HORIZON_FAR = 20.0
"""Depth of the sky, and the cap of the ground plane at the horizon."""
GROUND_NEAR = 8.0
"""Depth of the ground plane at the bottom row."""
OBJECT_DEPTH = 6.0
Z_STEP = 0.6
RELIEF = 0.4
VIEW_SPAN = 4.0
"""Depth units across the image's short side, which scales the depth gradient into normals."""
TEXTURE_STRIPES = 3.0
"""Stripes per object radius for textured objects."""
TEXTURE_SHADE = 0.55
"""Brightness of a texture's dark stripes."""

MAX_OBJECTS = 8
"""Most objects any difficulty may ask for: the depth layers below stay positive and ordered up to it."""

assert RELIEF < Z_STEP and OBJECT_DEPTH - MAX_OBJECTS * Z_STEP - RELIEF > 0


@dataclass(frozen=True, kw_only=True)
class SceneObject:
    """One object of a scene."""

    shape: str
    """A kind in ``SHAPES``."""
    color: str
    """A name in ``COLORS``."""
    center: tuple[float, float]
    """``(x, y)`` in pixels; pixel ``i`` spans ``[i, i + 1)``."""
    size: float
    """Diameter of the circumscribed circle, in pixels."""
    rotation: float
    """Rotation in radians (counter-clockwise on screen)."""
    z: int
    """Draw order, 0 first (farthest); the object's instance id is ``z + 1``."""
    textured: bool
    """Whether the object is drawn with stripes instead of a flat colour."""


@dataclass(frozen=True, kw_only=True)
class Background:
    """A background kind with its parameters (unused ones keep their defaults)."""

    kind: str
    color_a: tuple[int, int, int]
    """Main colour (the sky for ``horizon``)."""
    color_b: tuple[int, int, int]
    """Second colour (the ground for ``horizon``)."""
    angle: float = 0.0
    """Direction of gradients and stripes, in radians."""
    period: float = 8.0
    """Stripe, checker or noise-cell period, in pixels."""
    horizon: float = 0.5
    """Horizon row as a fraction of the height (``horizon`` only)."""
    noise_seed: int = 0
    """Seed of the ``noise`` field."""


@dataclass(frozen=True, kw_only=True)
class Scene:
    """A scene: exact geometry from which every target is rendered."""

    width: int
    height: int
    background: Background
    objects: tuple[SceneObject, ...]
    """In z-order: ``objects[k - 1]`` has instance id ``k``."""
    seed: int
    index: int
    world_version: str


def palette_json() -> str:
    """The label palette as JSON, for decoders: ``[{"label", "name", "rgb"}, ...]``."""
    return json.dumps([{"label": i, "name": n, "rgb": list(rgb)} for i, (n, rgb) in enumerate(PALETTE)])


def _check_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def sample_background(rng: np.random.Generator, difficulty: Difficulty) -> Background:
    """A background drawn from the difficulty's kinds and weights (scenes and background edits)."""
    kinds = [k for k, _ in difficulty.backgrounds]
    weights = np.array([w for _, w in difficulty.backgrounds], dtype=np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    # Muted colours (mixed towards grey) keep the named object colours readable on top.
    grey = rng.uniform(60, 200)
    a, b = (tuple(int(c) for c in 0.5 * rng.uniform(0, 255, 3) + 0.5 * grey) for _ in range(2))
    return Background(
        kind=kind,
        color_a=a,
        color_b=b,
        angle=float(rng.uniform(0, math.pi)),
        period=float(rng.uniform(4, 12)),
        horizon=float(rng.uniform(0.3, 0.6)),
        noise_seed=int(rng.integers(2**31)),
    )


def _fits(candidate: np.ndarray, visible: list[np.ndarray], areas: list[int], difficulty: Difficulty) -> bool:
    for vis, area in zip(visible, areas, strict=True):
        if not difficulty.allow_overlap and (vis & candidate).any():
            return False
        if np.count_nonzero(vis & ~candidate) < difficulty.min_visible * area:
            return False
    return True


def scene(
    seed: int, index: int, width: int = 64, height: int = 64, difficulty: Difficulty = DIFFICULTY_V1
) -> Scene:
    """Generate scene ``index`` of ``seed``, deterministically.

    Args:
        seed: Non-negative world seed.
        index: Non-negative scene index within the seed.
        width: Image width in pixels, at least ``MIN_SIDE``.
        height: Image height in pixels, at least ``MIN_SIDE``.
        difficulty: The frozen difficulty (its version becomes ``Scene.world_version``).

    Returns:
        The scene; every object keeps at least ``difficulty.min_visible`` of its pixels unoccluded.

    Raises:
        ValueError: If an argument is out of range.
    """
    _check_int("seed", seed, 0)
    _check_int("index", index, 0)
    _check_int("width", width, MIN_SIDE)
    _check_int("height", height, MIN_SIDE)
    if not 1 <= difficulty.min_objects <= difficulty.max_objects <= MAX_OBJECTS:
        raise ValueError(f"difficulty object counts must satisfy 1 <= min <= max <= {MAX_OBJECTS}")
    rng = np.random.default_rng([seed, index])
    background = sample_background(rng, difficulty)
    n = int(rng.integers(difficulty.min_objects, difficulty.max_objects + 1))
    short = min(width, height)
    colors = list(COLORS)
    objects: list[SceneObject] = []
    visible: list[np.ndarray] = []
    areas: list[int] = []
    for _ in range(n):
        for _try in range(difficulty.placement_tries):
            size = float(rng.uniform(difficulty.min_size, difficulty.max_size) * short)
            r = size / 2
            obj = SceneObject(
                shape=SHAPES[int(rng.integers(len(SHAPES)))],
                color=colors[int(rng.integers(len(colors)))],
                center=(float(rng.uniform(r, width - r)), float(rng.uniform(r, height - r))),
                size=size,
                rotation=float(rng.uniform(0, 2 * math.pi)),
                z=len(objects),
                textured=bool(rng.random() < difficulty.texture_prob),
            )
            mask = np.zeros((height, width), dtype=bool)
            (y0, y1, x0, x1), inside, _, _ = rasterise(
                obj.shape, obj.center, obj.size, obj.rotation, width, height
            )
            mask[y0:y1, x0:x1] = inside
            if mask.any() and _fits(mask, visible, areas, difficulty):
                visible = [vis & ~mask for vis in visible] + [mask]
                areas.append(int(np.count_nonzero(mask)))
                objects.append(obj)
                break
    return Scene(
        width=width,
        height=height,
        background=background,
        objects=tuple(objects),
        seed=seed,
        index=index,
        world_version=difficulty.version,
    )


@lru_cache(maxsize=8)
def _raster(s: Scene) -> tuple[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray], ...]:
    # Shared by every map of the same scene (a few scenes only: windows grow with the image); read-only.
    return tuple(rasterise(o.shape, o.center, o.size, o.rotation, s.width, s.height) for o in s.objects)


def _pixel_grid(s: Scene) -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(s.width, dtype=np.float64) + 0.5)[None, :]
    y = (np.arange(s.height, dtype=np.float64) + 0.5)[:, None]
    return x, y


def _render_background(s: Scene) -> np.ndarray:
    bg = s.background
    x, y = _pixel_grid(s)
    shape = (s.height, s.width)
    if bg.kind == "flat":
        t = np.zeros(shape)
    elif bg.kind == "gradient":
        proj = x * math.cos(bg.angle) + y * math.sin(bg.angle)
        t = np.broadcast_to((proj - proj.min()) / max(proj.max() - proj.min(), 1e-9), shape)
    elif bg.kind == "stripes":
        proj = x * math.cos(bg.angle) + y * math.sin(bg.angle)
        t = np.floor(proj / bg.period) % 2
    elif bg.kind == "checker":
        t = (np.floor(x / bg.period) + np.floor(y / bg.period)) % 2
    elif bg.kind == "noise":
        cells = int(math.ceil(bg.period))
        coarse = np.random.default_rng(bg.noise_seed).random((s.height // cells + 1, s.width // cells + 1))
        t = np.repeat(np.repeat(coarse, cells, axis=0), cells, axis=1)[: s.height, : s.width]
    elif bg.kind == "horizon":
        sky = np.broadcast_to(0.35 * (y / s.height), shape)
        t = np.where(y >= bg.horizon * s.height, 1.0, sky)
    else:
        raise ValueError(f"unknown background kind {bg.kind!r}; use one of {BACKGROUNDS}")
    a, b = np.array(bg.color_a, dtype=np.float64), np.array(bg.color_b, dtype=np.float64)
    return np.asarray(t)[..., None] * (b - a) + a


def render(s: Scene) -> Image.Image:
    """Render the scene as an RGB image of size ``(width, height)``."""
    rgb = _render_background(s).round().astype(np.uint8)
    for obj, ((y0, y1, x0, x1), inside, _, u) in zip(s.objects, _raster(s), strict=True):
        color = np.array(COLORS[obj.color], dtype=np.uint8)
        window = rgb[y0:y1, x0:x1]
        if obj.textured:
            dark = (np.floor(u * TEXTURE_STRIPES) % 2 == 1) & inside
            window[inside & ~dark] = color
            window[dark] = (color * TEXTURE_SHADE).astype(np.uint8)
        else:
            window[inside] = color
    return Image.fromarray(rgb, "RGB")


def instance_map(s: Scene) -> np.ndarray:
    """Instance ids ``(H, W)`` int32: 0 background, ``k`` the topmost visible object ``objects[k - 1]``."""
    inst = np.zeros((s.height, s.width), dtype=np.int32)
    for k, ((y0, y1, x0, x1), inside, _, _) in enumerate(_raster(s), start=1):
        inst[y0:y1, x0:x1][inside] = k
    return inst


def _check_k(s: Scene, k: int) -> None:
    if not 1 <= k <= len(s.objects):
        raise ValueError(f"object id k={k} out of range: this scene has ids 1..{len(s.objects)}")


def object_mask(s: Scene, k: int) -> np.ndarray:
    """Visible pixels ``(H, W)`` bool of object ``k`` (1-based z-order id, as in ``instance_map``)."""
    _check_k(s, k)
    return instance_map(s) == k


def object_box(s: Scene, k: int) -> tuple[int, int, int, int]:
    """Tight box ``(x0, y0, x1, y1)``, ends exclusive, of object ``k``'s visible pixels."""
    mask = object_mask(s, k)
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def visible_fraction(s: Scene, k: int) -> float:
    """Share of object ``k``'s own (unoccluded) pixels that are visible, in ``[0, 1]``."""
    _check_k(s, k)
    full = int(np.count_nonzero(_raster(s)[k - 1][1]))
    return float(np.count_nonzero(instance_map(s) == k) / full) if full else 0.0


def background_labels(s: Scene) -> np.ndarray:
    """The background's labels ``(H, W)`` uint8: its kind, or ``sky`` above and ``ground`` below a horizon."""
    bg = s.background
    if bg.kind != "horizon":
        return np.full((s.height, s.width), BACKGROUND_LABEL[bg.kind], np.uint8)
    _, y = _pixel_grid(s)
    rows = np.where(y >= bg.horizon * s.height, BACKGROUND_LABEL["ground"], BACKGROUND_LABEL["sky"])
    return np.broadcast_to(rows.astype(np.uint8), (s.height, s.width)).copy()


def label_map(s: Scene) -> np.ndarray:
    """Semantic labels ``(H, W)`` uint8: indices into ``PALETTE`` (background kinds, then shapes)."""
    inst = instance_map(s)
    lut = np.array([0] + [SHAPE_LABEL[o.shape] for o in s.objects], dtype=np.uint8)
    return np.where(inst > 0, lut[inst], background_labels(s))


def label_image(s: Scene) -> Image.Image:
    """The label map coloured with ``PALETTE``."""
    colors = np.array([rgb for _, rgb in PALETTE], dtype=np.uint8)
    return Image.fromarray(colors[label_map(s)], "RGB")


def _background_depth(s: Scene) -> np.ndarray:
    shape = (s.height, s.width)
    if s.background.kind != "horizon":
        return np.full(shape, BACKGROUND_DEPTH)
    _, y = _pixel_grid(s)
    horizon = s.background.horizon * s.height
    # Perspective ground plane: depth ~ 1 / (row below the horizon), capped at the sky's depth.
    with np.errstate(divide="ignore"):
        ground = GROUND_NEAR * (s.height - horizon) / np.maximum(y - horizon, 0.0)
    return np.broadcast_to(np.minimum(ground, HORIZON_FAR), shape).copy()


def depth_map(s: Scene) -> np.ndarray:
    """Positive distance ``(H, W)`` float32; larger is farther (see the module docstring)."""
    depth = _background_depth(s)
    for k, ((y0, y1, x0, x1), inside, relief, _) in enumerate(_raster(s), start=1):
        window = depth[y0:y1, x0:x1]
        window[inside] = (OBJECT_DEPTH - k * Z_STEP - RELIEF * relief)[inside]
    return depth.astype(np.float32)


def _gradient(depth: np.ndarray, inst: np.ndarray, axis: int) -> np.ndarray:
    # Finite differences only between pixels of the same instance, so steps at occlusions are not slopes.
    d = np.moveaxis(depth, axis, 0)
    i = np.moveaxis(inst, axis, 0)
    fwd = np.zeros_like(d)
    bwd = np.zeros_like(d)
    has_f = np.zeros(d.shape, dtype=bool)
    has_b = np.zeros(d.shape, dtype=bool)
    same = i[1:] == i[:-1]
    fwd[:-1] = np.where(same, d[1:] - d[:-1], 0.0)
    has_f[:-1] = same
    bwd[1:] = fwd[:-1]
    has_b[1:] = same
    count = has_f.astype(np.float64) + has_b
    grad = np.where(count > 0, (fwd + bwd) / np.maximum(count, 1), 0.0)
    return np.moveaxis(grad, 0, axis)


def normal_map(s: Scene) -> np.ndarray:
    """Unit surface normals ``(H, W, 3)`` float32 from the exact depth surface.

    Axes: x right, y up, z towards the camera (the OpenGL convention), so a flat wall is ``(0, 0, 1)``.
    The image's short side spans ``VIEW_SPAN`` depth units.
    """
    depth = depth_map(s).astype(np.float64)
    inst = instance_map(s)
    px_per_unit = min(s.width, s.height) / VIEW_SPAN
    gx = _gradient(depth, inst, axis=1) * px_per_unit
    gy = _gradient(depth, inst, axis=0) * px_per_unit
    # Depth growing to the right tilts the surface to face right; image y is down, the normal's y is up.
    n = np.stack([gx, -gy, np.ones_like(gx)], axis=-1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def edge_map(s: Scene) -> np.ndarray:
    """Boundary pixels ``(H, W)`` uint8 in {0, 255}: a 4-neighbour has another instance or label.

    Object outlines and, on a horizon background, the horizon line: the scene's geometry, not its texture.
    """
    inst = instance_map(s).astype(np.int64) * 256 + label_map(s)
    edge = np.zeros(inst.shape, dtype=bool)
    dy = inst[1:] != inst[:-1]
    dx = inst[:, 1:] != inst[:, :-1]
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    return edge.astype(np.uint8) * 255
