"""Aspect-ratio buckets: the sizes an input is resized to before sampling.

For a resolution centre ``c`` the candidates are every ``(w, h)`` of multiples of 16 px with
``(w/16)·(h/16) ≤ (c/16)²`` that is maximal along the walk from the widest to the tallest shape, with
aspect ratio at most 4 (97, 145 and 193 sizes for 512, 768 and 1024). An input takes the candidate whose
``w/h`` is closest to its own (the first in list order on ties); the 512 and 1024 lists start with the
square size, the 768 list is in walk order, as the authors' sampler has them. The choice ignores the
input's size, as theirs does. (Ref: AFeng-x/PixWizard@cb39454:sample_pixwizard.py, facts §4.1.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

BUCKET_PATCH = 16
MAX_ASPECT = 4.0
# Centres whose authors' lists start with the square size (the 768 list keeps walk order).
_SQUARE_FIRST = frozenset({512, 1024})


def crop_size_list(
    num_patches: int, patch: int = BUCKET_PATCH, max_aspect: float = MAX_ASPECT
) -> list[tuple[int, int]]:
    """Sizes ``(w, h)`` along the walk from ``num_patches × 1`` patches to ``1 × num_patches``.

    At each point the height grows while ``w·h`` stays within ``num_patches``, else the width shrinks; a
    point is kept when its aspect ratio is at most ``max_aspect``.

    Args:
        num_patches: Patch budget ``(centre/patch)²``.
        patch: Patch side in pixels.
        max_aspect: Largest allowed ``max(w, h) / min(w, h)``.

    Returns:
        The sizes in pixels, widest first.
    """
    sizes, wp, hp = [], num_patches, 1
    while wp > 0:
        if max(wp, hp) / min(wp, hp) <= max_aspect:
            sizes.append((wp * patch, hp * patch))
        if (hp + 1) * wp <= num_patches:
            hp += 1
        else:
            wp -= 1
    return sizes


@functools.cache
def bucket_sizes(centre: int) -> tuple[tuple[int, int], ...]:
    """The candidate sizes of one resolution centre, in the authors' order."""
    if centre % BUCKET_PATCH:
        raise ValueError(f"resolution centre must be a multiple of {BUCKET_PATCH}, got {centre}")
    sizes = crop_size_list((centre // BUCKET_PATCH) ** 2)
    if centre in _SQUARE_FIRST and (centre, centre) in sizes:
        sizes.remove((centre, centre))
        sizes.insert(0, (centre, centre))
    return tuple(sizes)


def choose_bucket(width: int, height: int, centres: Sequence[int]) -> tuple[tuple[int, int], int]:
    """The bucket ``(w, h)`` for an input of ``width × height`` and the centre it belongs to.

    Args:
        width: Input width in pixels.
        height: Input height in pixels.
        centres: Resolution centres whose lists are searched, in order.

    Returns:
        ``((w, h), centre)``; the centre is the one whose area is closest to ``w·h``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    aspect = width / height
    best, best_gap = None, float("inf")
    for centre in centres:
        for w, h in bucket_sizes(centre):
            gap = abs(w / h - aspect)
            if gap < best_gap:
                best, best_gap = (w, h), gap
    assert best is not None, "no resolution centre given"
    centre = min(centres, key=lambda c: abs(c * c - best[0] * best[1]))
    return best, centre
