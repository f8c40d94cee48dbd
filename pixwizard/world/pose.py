"""Stick figures and their OpenPose-style pose maps, for the ``pose`` and ``pose_to_image`` tasks.

PixWorld has no people, so pose scenes contain stick figures: a body drawn with thick limbs, a filled torso
and a head disc, whose medial line is the skeleton a model must recover.

Notable features:
- Joints are the first 14 keypoints of the COCO-18 order that OpenPose uses (eyes and ears dropped, as a
  stick figure has no face), so joint ``i`` keeps its COCO-18 index. The ``nose`` joint is the head centre.
- ``LIMBS`` keeps OpenPose's body-limb order for those joints; ``LIMB_COLORS`` is a full-saturation
  rainbow, one hue per limb, and every joint dot is ``JOINT_COLOR``.
- Everything is drawn with ``cv2`` anti-aliasing-free (``LINE_8``) primitives at sub-pixel precision, in
  the world's pixel convention (pixel ``i`` spans ``[i, i + 1)``, so its centre is ``i + 0.5``).
- ``draw_figure`` paints exactly ``body_mask``, and ``pose_strokes`` is exactly the non-black part of
  ``pose_map``: each pair comes from one drawing routine.
- Skeleton lines are ``line`` pixels wide at a 64-pixel short side and scale with it; limbs are at least
  as wide as the default skeleton's joint dots, so that skeleton lies inside the body up to one pixel of
  rasterisation slack.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pixwizard.world.scenes import COLORS, MIN_SIDE

JOINTS: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
)
"""Joint names, in COCO-18 order (indices 0-13). The figure faces the camera: its right is image left."""

_J = {name: i for i, name in enumerate(JOINTS)}

LIMBS: tuple[tuple[int, int], ...] = tuple(
    (_J[a], _J[b])
    for a, b in (
        ("neck", "r_shoulder"),
        ("neck", "l_shoulder"),
        ("r_shoulder", "r_elbow"),
        ("r_elbow", "r_wrist"),
        ("l_shoulder", "l_elbow"),
        ("l_elbow", "l_wrist"),
        ("neck", "r_hip"),
        ("r_hip", "r_knee"),
        ("r_knee", "r_ankle"),
        ("neck", "l_hip"),
        ("l_hip", "l_knee"),
        ("l_knee", "l_ankle"),
        ("neck", "nose"),
    )
)
"""Skeleton limbs as ``(joint, joint)`` index pairs, in OpenPose's body-limb order."""


def _rainbow(n: int) -> tuple[tuple[int, int, int], ...]:
    hues = (colorsys.hsv_to_rgb(i / n, 1.0, 1.0) for i in range(n))
    return tuple((round(255 * r), round(255 * g), round(255 * b)) for r, g, b in hues)


LIMB_COLORS: tuple[tuple[int, int, int], ...] = _rainbow(len(LIMBS))
"""One vivid RGB colour per limb (evenly spaced hues, red first)."""
JOINT_COLOR: tuple[int, int, int] = (255, 255, 255)
"""RGB of every joint dot in a pose map."""

POSES: tuple[str, ...] = ("standing", "walking", "arms_raised", "t_pose")
"""Pose families ``make_figure`` draws from."""

# Absolute limb directions in degrees from straight down, positive towards image +x, for the chains
# (r_upper_arm, r_forearm, l_upper_arm, l_forearm, r_thigh, r_shin, l_thigh, l_shin).
_POSE_ANGLES: dict[str, tuple[float, ...]] = {
    "standing": (-18, -8, 18, 8, -6, -3, 6, 3),
    "walking": (22, 40, -20, -8, -22, -10, 16, 36),
    "arms_raised": (-145, -165, 145, 165, -7, -4, 7, 4),
    "t_pose": (-90, -90, 90, 90, -8, -4, 8, 4),
}
ANGLE_JITTER = 8.0
"""Largest random change of each limb angle, in degrees."""
LEAN_JITTER = 4.0
"""Largest random lean of the whole figure about its hips, in degrees."""

# Body proportions in units of the figure's stature; the neck is the origin and y points down.
_NECK_TO_HEAD = 0.11
_SHOULDER = (0.10, 0.02)
_HIP = (0.065, 0.33)
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.16, 0.14, 0.25, 0.24

HEIGHT_RANGE = (0.4, 0.9)
"""Range of the body's height (its full pixel extent) as a fraction of the image height."""
THICKNESS_RATIO = 0.1
"""Limb thickness per unit of stature, before the minimum that keeps the skeleton inside."""
HEAD_RATIO = 0.72
"""Head radius per unit of the neck-to-head-centre distance (at least ``thickness / 2 + 1``)."""
MARGIN = 1.5
"""Pixels kept free between the body's continuous outline and the image border."""
LINE_REFERENCE = 64
"""Image short side at which a pose map's ``line`` is used as is; it scales linearly with the side."""

_SHIFT = 4
"""Fractional bits of cv2's fixed-point coordinates."""
_ONE = 1 << _SHIFT


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One stick figure in image coordinates."""

    joints: tuple[tuple[float, float], ...]
    """``(x, y)`` pixel positions, one per name in ``JOINTS``."""
    color: str
    """A name in ``COLORS``: the colour of the whole body."""
    thickness: float
    """Limb width in pixels, at least 2; drawn rounded, and even widths one pixel wider."""

    def __post_init__(self) -> None:
        if len(self.joints) != len(JOINTS):
            raise ValueError(f"Figure needs {len(JOINTS)} joints (see JOINTS), got {len(self.joints)}")
        if not all(len(p) == 2 and all(math.isfinite(c) for c in p) for p in self.joints):
            raise ValueError("Figure joints must be finite (x, y) pairs")
        if self.color not in COLORS:
            raise ValueError(f"Figure color must be one of {sorted(COLORS)}, got {self.color!r}")
        if not (math.isfinite(self.thickness) and self.thickness >= 2):
            raise ValueError(f"Figure thickness must be a finite number >= 2, got {self.thickness!r}")


def _check_size(width: int, height: int, minimum: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def skeleton_width(line: int, width: int, height: int) -> int:
    """Pixel width of pose-map lines: ``line`` at a ``LINE_REFERENCE`` short side, scaled linearly.

    Args:
        line: Line width at a 64-pixel short side, at least 1.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        The line width in pixels, at least 1.

    Raises:
        ValueError: If ``line`` is not an int >= 1.
    """
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        raise ValueError(f"line must be an int >= 1, got {line!r}")
    return max(1, round(line * min(width, height) / LINE_REFERENCE))


def dot_radius(line_px: int) -> int:
    """Radius of a joint dot for skeleton lines ``line_px`` pixels wide: the dot is 1-2 pixels wider."""
    return max(1, (line_px + 1) // 2)


def _odd(value: float) -> int:
    """The nearest odd integer at or above ``value`` rounded: cv2 ``LINE_8`` widths come in odd sizes."""
    n = round(value)
    return n if n % 2 else n + 1


def head_radius(fig: Figure) -> float:
    """Radius in pixels of the figure's head disc, centred on its ``nose`` joint."""
    (nx, ny), (kx, ky) = fig.joints[_J["nose"]], fig.joints[_J["neck"]]
    return max(HEAD_RATIO * math.hypot(nx - kx, ny - ky), fig.thickness / 2 + 1)


def _canonical_joints(angles: np.ndarray) -> np.ndarray:
    """Joints at unit stature, neck at the origin, from the eight chain angles (degrees)."""
    joints = np.zeros((len(JOINTS), 2))
    joints[_J["nose"]] = (0.0, -_NECK_TO_HEAD)
    chains = (
        ("r_shoulder", "r_elbow", "r_wrist", -1, _SHOULDER, _UPPER_ARM, _FOREARM),
        ("l_shoulder", "l_elbow", "l_wrist", 1, _SHOULDER, _UPPER_ARM, _FOREARM),
        ("r_hip", "r_knee", "r_ankle", -1, _HIP, _THIGH, _SHIN),
        ("l_hip", "l_knee", "l_ankle", 1, _HIP, _THIGH, _SHIN),
    )
    for k, (root, mid, end, side, (rx, ry), upper, lower) in enumerate(chains):
        a, b = np.radians(angles[2 * k : 2 * k + 2])
        joints[_J[root]] = (side * rx, ry)
        joints[_J[mid]] = joints[_J[root]] + upper * np.array([math.sin(a), math.cos(a)])
        joints[_J[end]] = joints[_J[mid]] + lower * np.array([math.sin(b), math.cos(b)])
    return joints


def _rotate_about_hips(joints: np.ndarray, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    pivot = (joints[_J["r_hip"]] + joints[_J["l_hip"]]) / 2
    return (joints - pivot) @ np.array([[c, s], [-s, c]]) + pivot


def _figure_at(joints: np.ndarray, stature: float, min_thickness: int) -> tuple[np.ndarray, float, float]:
    """Scale unit joints to ``stature`` pixels; returns the joints, the thickness and the head radius."""
    scaled = joints * stature
    thickness = float(max(min_thickness, _odd(THICKNESS_RATIO * stature)))
    head = max(HEAD_RATIO * _NECK_TO_HEAD * stature, thickness / 2 + 1)
    return scaled, thickness, head


def _extent(joints: np.ndarray, thickness: float, head: float) -> tuple[np.ndarray, np.ndarray]:
    """Continuous bounding box ``(low, high)`` of the body drawn around ``joints``."""
    nose = joints[_J["nose"]]
    low = np.minimum(joints.min(axis=0) - thickness / 2, nose - head)
    high = np.maximum(joints.max(axis=0) + thickness / 2, nose + head)
    return low, high


def _fit_stature(joints: np.ndarray, box: tuple[float, float], target: float, min_thickness: int) -> float:
    """Largest stature whose body is at most ``target`` tall and fits in ``box`` = (width, height)."""

    def fits(stature: float) -> bool:
        low, high = _extent(*_figure_at(joints, stature, min_thickness))
        size = high - low
        return size[1] <= target and size[0] <= box[0] and size[1] <= box[1]

    lo, hi = 0.0, 2.0 * box[1]
    for _ in range(40):  # bisection: the extent grows monotonically with the stature
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def make_figure(rng: np.random.Generator, width: int, height: int, *, pose: str | None = None) -> Figure:
    """Sample a plausible stick figure that lies entirely inside a ``width`` x ``height`` image.

    The pose family (``POSES``) is random unless given; every limb angle varies by up to
    ``ANGLE_JITTER`` degrees, the figure leans by up to ``LEAN_JITTER``, its body is ``HEIGHT_RANGE`` of the
    image height tall (less if the image is too narrow), and its position and colour are random.

    Args:
        rng: The only source of randomness; the same generator state gives the same figure.
        width: Image width in pixels, at least ``MIN_SIDE``.
        height: Image height in pixels, at least ``MIN_SIDE``.
        pose: A name in ``POSES``, or ``None`` to draw one.

    Returns:
        The figure, its body at least ``MARGIN`` pixels from every border.

    Raises:
        ValueError: If the size is too small or ``pose`` is unknown.
    """
    _check_size(width, height, MIN_SIDE)
    if pose is not None and pose not in POSES:
        raise ValueError(f"pose must be one of {POSES} or None, got {pose!r}")
    name = POSES[int(rng.integers(len(POSES)))] if pose is None else pose
    angles = np.array(_POSE_ANGLES[name], dtype=np.float64)
    if name == "walking" and rng.random() < 0.5:
        angles = -angles  # stride the other way
    angles += rng.uniform(-ANGLE_JITTER, ANGLE_JITTER, angles.shape)
    unit = _rotate_about_hips(_canonical_joints(angles), float(rng.uniform(-LEAN_JITTER, LEAN_JITTER)))

    # The default skeleton's dots are 2r + 1 wide: a limb that wide holds them (and the narrower lines).
    min_thickness = 2 * dot_radius(skeleton_width(2, width, height)) + 1
    target = float(rng.uniform(*HEIGHT_RANGE)) * height
    box = (width - 2 * MARGIN, height - 2 * MARGIN)
    joints, thickness, head = _figure_at(unit, _fit_stature(unit, box, target, min_thickness), min_thickness)
    low, high = _extent(joints, thickness, head)
    offset = rng.uniform(MARGIN - low, (width, height) - high - MARGIN)
    color = sorted(COLORS)[int(rng.integers(len(COLORS)))]
    placed = joints + offset
    return Figure(joints=tuple((float(x), float(y)) for x, y in placed), color=color, thickness=thickness)


def _fixed(point: tuple[float, float]) -> tuple[int, int]:
    """A continuous point as cv2 fixed-point pixel-centre coordinates."""
    return round((point[0] - 0.5) * _ONE), round((point[1] - 0.5) * _ONE)


def body_mask(fig: Figure, width: int, height: int) -> np.ndarray:
    """The pixels ``draw_figure`` paints: thick limbs, filled torso and head disc.

    Args:
        fig: The figure.
        width: Image width in pixels, at least 1.
        height: Image height in pixels, at least 1.

    Returns:
        Boolean array of shape ``(height, width)``; parts outside the image are clipped.

    Raises:
        ValueError: If the size is not positive.
    """
    _check_size(width, height, 1)
    canvas = np.zeros((height, width), dtype=np.uint8)
    pts = [_fixed(p) for p in fig.joints]
    # A cv2 LINE_8 line of thickness t is 2 * ceil(t / 2) + 1 pixels wide, so t = width - 1 is exact for
    # odd widths (and one pixel wider for even ones).
    thickness = max(1, round(fig.thickness) - 1)
    torso = np.array([pts[_J[n]] for n in ("r_shoulder", "l_shoulder", "l_hip", "r_hip")], dtype=np.int32)
    cv2.fillPoly(canvas, [torso], 255, cv2.LINE_8, _SHIFT)
    for a, b in LIMBS:
        cv2.line(canvas, pts[a], pts[b], 255, thickness, cv2.LINE_8, _SHIFT)
    cv2.circle(canvas, pts[_J["nose"]], round(head_radius(fig) * _ONE), 255, -1, cv2.LINE_8, _SHIFT)
    return canvas > 0


def draw_figure(image: np.ndarray, fig: Figure) -> np.ndarray:
    """Draw the figure's body in its colour over a copy of ``image``.

    Args:
        image: RGB ``uint8`` array of shape ``(H, W, 3)``; left unchanged.
        fig: The figure.

    Returns:
        A new ``uint8`` array of the same shape, with exactly ``body_mask(fig, W, H)`` painted.

    Raises:
        ValueError: If ``image`` is not an ``(H, W, 3)`` ``uint8`` array.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be a uint8 numpy array of shape (H, W, 3)")
    out = image.copy()
    out[body_mask(fig, image.shape[1], image.shape[0])] = COLORS[fig.color]
    return out


def _stroke(
    canvas: np.ndarray, p: tuple[int, int], q: tuple[int, int], color: tuple[int, ...], px: int
) -> None:
    """Draw a segment exactly ``px`` pixels wide across its minor axis (fixed-point endpoints).

    cv2's own thick lines only come in odd widths (see ``body_mask``), so a width-``px`` stroke is ``px``
    parallel one-pixel lines, one pixel apart along the axis the segment moves least in.
    """
    steep = abs(q[1] - p[1]) > abs(q[0] - p[0])
    for i in range(px):
        offset = round((i - (px - 1) / 2) * _ONE)
        dx, dy = (offset, 0) if steep else (0, offset)
        cv2.line(canvas, (p[0] + dx, p[1] + dy), (q[0] + dx, q[1] + dy), color, 1, cv2.LINE_8, _SHIFT)


def _as_figures(fig_or_figs: Figure | Sequence[Figure]) -> tuple[Figure, ...]:
    figs = (fig_or_figs,) if isinstance(fig_or_figs, Figure) else tuple(fig_or_figs)
    if not all(isinstance(f, Figure) for f in figs):
        raise ValueError("expected a Figure or a sequence of Figures")
    return figs


def pose_map(fig_or_figs: Figure | Sequence[Figure], width: int, height: int, *, line: int = 2) -> np.ndarray:
    """Render OpenPose-style skeletons: ``LIMB_COLORS`` lines and ``JOINT_COLOR`` dots on black.

    Figures are drawn in order (later ones on top), each as all its limbs and then all its joint dots.

    Args:
        fig_or_figs: One figure or a sequence of figures (possibly empty).
        width: Image width in pixels, at least 1.
        height: Image height in pixels, at least 1.
        line: Line width at a 64-pixel short side (see ``skeleton_width``); the default keeps the
            skeleton inside the bodies ``make_figure`` samples.

    Returns:
        RGB ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: If the size or ``line`` is out of range, or an item is not a ``Figure``.
    """
    _check_size(width, height, 1)
    line_px = skeleton_width(line, width, height)
    radius = dot_radius(line_px) * _ONE
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for fig in _as_figures(fig_or_figs):
        pts = [_fixed(p) for p in fig.joints]
        for (a, b), color in zip(LIMBS, LIMB_COLORS, strict=True):
            _stroke(canvas, pts[a], pts[b], color, line_px)
        for p in pts:
            cv2.circle(canvas, p, radius, JOINT_COLOR, -1, cv2.LINE_8, _SHIFT)
    return canvas


def pose_strokes(
    fig_or_figs: Figure | Sequence[Figure], width: int, height: int, *, line: int = 2
) -> np.ndarray:
    """Boolean ``(height, width)`` mask of exactly the non-black pixels of ``pose_map``.

    Args:
        fig_or_figs: One figure or a sequence of figures.
        width: Image width in pixels, at least 1.
        height: Image height in pixels, at least 1.
        line: As for ``pose_map``.

    Returns:
        The stroke mask.
    """
    return pose_map(fig_or_figs, width, height, line=line).any(axis=2)
