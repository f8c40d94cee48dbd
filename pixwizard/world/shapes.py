"""Analytic shapes: an inside test and a relief height for each shape kind, vectorised over pixel centres.

Every shape lives in its own unit frame: ``(u, v)`` are pixel-centre offsets from the object's centre,
rotated by the object's rotation and divided by its radius (half its size), so the shape fits inside the
unit circle. Each function returns ``(inside, relief)``: a boolean array and a height in ``[0, 1]``
(1 at the top of the bump) that is meaningful where ``inside`` is true.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Array = np.ndarray
ShapeFn = Callable[[Array, Array], tuple[Array, Array]]

RING_INNER = 0.55
"""Inner radius of the ring, in units of its outer radius."""
ELLIPSE_MINOR = 0.6
"""Minor-to-major axis ratio of the ellipse."""
CROSS_HALF_WIDTH = 0.3
"""Half the width of a cross arm."""
CROSS_HALF_LENGTH = 0.9
"""Half the length of a cross arm."""
STAR_POINTS = 5
STAR_INNER = 0.45
"""Radius of the star's inner vertices, in units of its outer radius."""


def _regular_polygon(u: Array, v: Array, n: int, first_vertex: float) -> tuple[Array, Array]:
    # The gauge max_k <p, n_k> / apothem is <= 1 exactly inside a regular polygon; 1 - gauge is a pyramid.
    apothem = math.cos(math.pi / n)
    gauge = np.full(u.shape, -np.inf)
    for k in range(n):
        angle = first_vertex + math.pi / n + 2 * math.pi * k / n
        gauge = np.maximum(gauge, (u * math.cos(angle) + v * math.sin(angle)) / apothem)
    return gauge <= 1.0, 1.0 - gauge


def circle(u: Array, v: Array) -> tuple[Array, Array]:
    """Disc of radius 1; relief a spherical cap."""
    rho2 = u * u + v * v
    return rho2 <= 1.0, np.sqrt(np.clip(1.0 - rho2, 0.0, None))


def square(u: Array, v: Array) -> tuple[Array, Array]:
    """Square inscribed in the unit circle, axis-aligned before rotation; relief a pyramid."""
    return _regular_polygon(u, v, 4, -math.pi / 4)


def triangle(u: Array, v: Array) -> tuple[Array, Array]:
    """Equilateral triangle inscribed in the unit circle, apex up (image y points down); pyramid relief."""
    return _regular_polygon(u, v, 3, -math.pi / 2)


def hexagon(u: Array, v: Array) -> tuple[Array, Array]:
    """Regular hexagon inscribed in the unit circle; pyramid relief."""
    return _regular_polygon(u, v, 6, 0.0)


def star(u: Array, v: Array) -> tuple[Array, Array]:
    """Five-pointed star, a tip up, outer radius 1; relief a cone."""
    rho = np.sqrt(u * u + v * v)
    sector = 2 * math.pi / STAR_POINTS
    # Fold the angle into one half-sector: b = 0 towards a tip, b = pi / n towards an inner vertex.
    t = np.mod(np.arctan2(v, u) + math.pi / 2, sector)
    b = np.abs(t - sector / 2)
    b = sector / 2 - b
    qx, qy = rho * np.cos(b), rho * np.sin(b)
    ix, iy = STAR_INNER * math.cos(sector / 2), STAR_INNER * math.sin(sector / 2)
    # Inside when q is on the origin's side of the edge from the tip (1, 0) to the inner vertex (ix, iy):
    # the cross product (I - O) x (q - O) has the sign it has at the origin, which is +iy > 0.
    inside = (ix - 1.0) * qy - iy * (qx - 1.0) >= 0.0
    return inside, 1.0 - np.clip(rho, 0.0, 1.0)


def ring(u: Array, v: Array) -> tuple[Array, Array]:
    """Annulus between ``RING_INNER`` and 1; relief a half-round tube."""
    rho = np.sqrt(u * u + v * v)
    mid, half = (1.0 + RING_INNER) / 2, (1.0 - RING_INNER) / 2
    s = (rho - mid) / half
    return (rho >= RING_INNER) & (rho <= 1.0), np.sqrt(np.clip(1.0 - s * s, 0.0, None))


def cross(u: Array, v: Array) -> tuple[Array, Array]:
    """Plus sign of two arms; relief falls linearly towards the arm ends."""
    au, av = np.abs(u), np.abs(v)
    inside = ((au <= CROSS_HALF_WIDTH) & (av <= CROSS_HALF_LENGTH)) | (
        (av <= CROSS_HALF_WIDTH) & (au <= CROSS_HALF_LENGTH)
    )
    return inside, 1.0 - np.maximum(au, av) / CROSS_HALF_LENGTH


def ellipse(u: Array, v: Array) -> tuple[Array, Array]:
    """Ellipse with semi-axes 1 and ``ELLIPSE_MINOR``; relief an elliptic cap."""
    e2 = u * u + (v / ELLIPSE_MINOR) ** 2
    return e2 <= 1.0, np.sqrt(np.clip(1.0 - e2, 0.0, None))


SHAPE_FNS: dict[str, ShapeFn] = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "star": star,
    "ring": ring,
    "cross": cross,
    "ellipse": ellipse,
    "hexagon": hexagon,
}
"""Inside test and relief per shape kind; the key order is the label order of the palette."""


def rasterise(
    shape: str, center: tuple[float, float], size: float, rotation: float, width: int, height: int
) -> tuple[tuple[int, int, int, int], Array, Array, Array]:
    """Rasterise one shape on the pixel-centre grid, inside its bounding window only.

    Args:
        shape: A key of ``SHAPE_FNS``.
        center: ``(x, y)`` centre in pixels (pixel ``i`` spans ``[i, i + 1)``).
        size: Diameter of the circumscribed circle, in pixels.
        rotation: Counter-clockwise rotation on screen, in radians.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        ``((y0, y1, x0, x1), inside, relief, u)``: the clipped window (exclusive ends), a boolean array of
        shape ``(y1 - y0, x1 - x0)``, the relief in ``[0, 1]`` and the local ``u`` coordinate (for textures).
    """
    cx, cy = center
    r = size / 2
    x0, x1 = max(0, math.floor(cx - r)), min(width, math.ceil(cx + r) + 1)
    y0, y1 = max(0, math.floor(cy - r)), min(height, math.ceil(cy + r) + 1)
    dx = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy)[:, None]
    # Image y points down, so a counter-clockwise screen rotation uses -rotation in these axes.
    c, s = math.cos(rotation), math.sin(rotation)
    u = (c * dx - s * dy) / r
    v = (s * dx + c * dy) / r
    inside, relief = SHAPE_FNS[shape](u, v)
    return (y0, y1, x0, x1), inside, relief, u
