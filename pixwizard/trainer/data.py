"""Training data: annotation files, the YAML meta file with two-stage balancing, buckets and batches.

Annotation files are the authors' format (a JSON list, or JSONL, of ``{input_path, target_path, prompt}``;
a list-valued prompt means "pick one"). The meta file lists them:

```yaml
META:
  - {path: derain.json, type: derain, ratio: 1.0, root: /data/derain}
  - {path: t2i.jsonl, type: text_to_image, ratio: 0.5}
```

``root`` is joined onto relative image paths (the authors' script ignored it). Balancing: stage 1 brings
every group to the same count (small groups repeated, large ones subsampled); stage 2 scales each group by
its ``ratio`` and, when a ``text_to_image`` group is present, matches it 1:1 with everything else.
Items are bucketed by aspect ratio; input and target get the same resize and crop.
"""

from __future__ import annotations

import functools
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixwizard._fs import read_records
from pixwizard.model import rng
from pixwizard.pipeline.buckets import choose_bucket

logger = logging.getLogger(__name__)
T2I_TYPE = "text_to_image"


@dataclass(frozen=True)
class Item:
    """One training pair."""

    input_path: str
    target_path: str
    prompt: str | tuple[str, ...]
    type: str = "default"
    world: tuple | None = None
    """PixWorld items: ``(seed, task, index, width, height)``, generated on demand (the paths are labels)."""


def world_items(
    seed: int, n: int, tasks: list[str] | tuple[str, ...], size: tuple[int, int], sizes=()
) -> list[Item]:
    """``n`` PixWorld items per task (``tasks`` empty: every task), interleaved task by task.

    With ``sizes``, item ``i`` of a task is drawn at ``sizes[i % len(sizes)]`` (several aspect ratios).
    """
    from pixwizard.tasks import TASKS
    from pixwizard.world.export import WorldItems

    shapes = [(int(w), int(h)) for w, h in sizes] or [(int(size[0]), int(size[1]))]
    source = WorldItems(seed, n, tuple(tasks or TASKS), shapes[0])
    items = []
    for i in range(len(source)):
        task, index = source.locate(i)
        w, h = shapes[index % len(shapes)]
        label = f"pixworld://{seed}/{task}/{index}/{w}x{h}"
        items.append(Item(label, label, (), task, (seed, task, index, w, h)))
    return items


@functools.lru_cache(maxsize=64)
def _world_sample(seed: int, task: str, index: int, width: int, height: int):
    from pixwizard.world.samples import sample

    return sample(task, seed, index, width=width, height=height)


def item_prompt(item: Item) -> str | tuple[str, ...]:
    """The item's prompt: its annotation's, or for PixWorld the task's templates filled with its slots."""
    if item.world is None:
        return item.prompt
    from pixwizard.world.export import template_prompts

    return template_prompts(_world_sample(*item.world))


def load_annotations(path: str | Path, root: str | Path | None = None, type: str = "default") -> list[Item]:
    """Items of a JSON list or JSONL annotation file; relative image paths are taken from ``root``.

    Raises:
        ValueError: For a malformed file or an entry without ``input_path``, ``target_path`` or ``prompt``.
    """
    path = Path(path)
    entries = read_records(path)
    base = Path(root) if root is not None else path.parent
    items = []
    for i, entry in enumerate(entries):
        missing = {"input_path", "target_path", "prompt"} - set(entry)
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {sorted(missing)}")
        prompt = entry["prompt"]
        items.append(
            Item(
                str(base / entry["input_path"]),
                str(base / entry["target_path"]),
                tuple(prompt) if isinstance(prompt, list) else prompt,
                entry.get("type", type),
            )
        )
    return items


def _resize_group(items: list[Item], count: int, rng: random.Random) -> list[Item]:
    """Repeat or subsample ``items`` to ``count`` (whole repeats, then a random remainder)."""
    if not items or count <= 0:
        return []
    repeats, remainder = divmod(count, len(items))
    return items * repeats + rng.sample(items, remainder)


def load_meta(
    path: str | Path, *, stage: int = 2, stage1_count: int | None = None, seed: int = 0
) -> list[Item]:
    """Items of a YAML meta file after the paper's two-stage balancing.

    Args:
        path: The meta file (``META:`` list of ``{path, type, ratio, root}``).
        stage: 1 (every group brought to ``stage1_count``, default: the largest group's size) or 2 (each group
            scaled by its ``ratio``; ``text_to_image`` matched 1:1 with the rest).
        stage1_count: Target items per group in stage 1.
        seed: Seed of the subsampling.

    Returns:
        The balanced items.
    """
    import yaml

    path = Path(path)
    meta = yaml.safe_load(path.read_text()) or {}
    entries = meta.get("META")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty META list")
    rng = random.Random(seed)
    groups: dict[str, list[Item]] = {}
    ratios: dict[str, float] = {}
    for entry in entries:
        kind = entry.get("type", "default")
        annotations = (
            Path(entry["path"]) if Path(entry["path"]).is_absolute() else path.parent / entry["path"]
        )
        groups.setdefault(kind, []).extend(load_annotations(annotations, entry.get("root"), kind))
        ratios[kind] = float(entry.get("ratio", 1.0))
    if stage == 1:
        target = stage1_count or max(len(g) for g in groups.values())
        return [item for kind in groups for item in _resize_group(groups[kind], target, rng)]
    scaled = {
        kind: _resize_group(items, round(len(items) * ratios[kind]), rng) for kind, items in groups.items()
    }
    if T2I_TYPE in scaled and len(scaled) > 1:
        others = sum(len(v) for k, v in scaled.items() if k != T2I_TYPE)
        scaled[T2I_TYPE] = _resize_group(groups[T2I_TYPE], others, rng)
    return [item for items in scaled.values() for item in items]


# ----------------------------------------------------------------------------------------------------
# Images, buckets, batches
# ----------------------------------------------------------------------------------------------------


def item_bucket(item: Item, centres: list[int]) -> tuple[int, int]:
    """The bucket ``(w, h)`` of an item, from its target image's header (no decoding)."""
    if item.world is not None:
        size = item.world[3:] if item.world[1] != "outpaint" else _world_sample(*item.world).target.size
        return choose_bucket(*size, centres)[0]
    with Image.open(item.target_path) as image:
        return choose_bucket(*image.size, centres)[0]


def load_pair(
    item: Item, bucket: tuple[int, int], generator: torch.Generator, *, center: bool = False
) -> tuple[Image.Image, Image.Image]:
    """Input and target with the same resize and crop.

    The input is first resized to the target's size, then both are scaled to cover the bucket and cropped
    at the same random offset.

    Raises:
        OSError: For a missing or unreadable file.
    """
    if item.world is not None:
        made = _world_sample(*item.world)
        source, target = made.prepared.image, made.target
    else:
        target = Image.open(item.target_path).convert("RGB")
        source = Image.open(item.input_path).convert("RGB")
    if source.size != target.size:
        source = source.resize(target.size, Image.Resampling.LANCZOS)
    bw, bh = bucket
    scale = max(bw / target.width, bh / target.height)
    size = (max(bw, round(target.width * scale)), max(bh, round(target.height * scale)))
    x = int(rng.randint(0, size[0] - bw + 1, generator=generator))
    y = int(rng.randint(0, size[1] - bh + 1, generator=generator))
    if center:  # the offsets are still drawn, so the rest of the item's draws do not move
        x, y = (size[0] - bw) // 2, (size[1] - bh) // 2
    box = (x, y, x + bw, y + bh)
    return (
        source.resize(size, Image.Resampling.BICUBIC).crop(box),
        target.resize(size, Image.Resampling.BICUBIC).crop(box),
    )


def make_batches(
    buckets: list[tuple[int, int]], batch_size: int, seed: int, epoch: int, bucketed: bool = True
) -> list[list[int]]:
    """Global batches of item indices for one epoch: shuffled, and grouped by bucket when ``bucketed``.

    Within each bucket the items are shuffled and cut into batches; the batches are then shuffled, so an
    epoch mixes sizes across steps but rarely within a batch. Leftovers of every bucket are pooled last.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(buckets)))
    rng.shuffle(order)
    if not bucketed:
        return [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for index in order:
        by_bucket.setdefault(buckets[index], []).append(index)
    batches, leftovers = [], []
    for indices in by_bucket.values():
        full = len(indices) // batch_size * batch_size
        batches += [indices[i : i + batch_size] for i in range(0, full, batch_size)]
        leftovers += indices[full:]
    batches += [leftovers[i : i + batch_size] for i in range(0, len(leftovers) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches


def padding_fraction(batches: list[list[int]], buckets: list[tuple[int, int]], patch: int = 16) -> float:
    """Share of token slots that are padding when each batch is padded to its longest item."""
    padded = real = 0
    for batch in batches:
        tokens = np.array([(buckets[i][0] // patch) * (buckets[i][1] // patch) for i in batch])
        padded += tokens.max() * len(tokens) - tokens.sum()
        real += tokens.sum()
    return float(padded / max(1, padded + real))


def checked_items(items: list[Item], skip_bad: bool) -> list[Item]:
    """Items whose two files open as images; bad ones raise, or are skipped, counted and logged."""
    good, skipped = [], 0
    for item in items:
        if item.world is not None:  # generated, nothing to open
            good.append(item)
            continue
        try:
            for path in (item.input_path, item.target_path):
                with Image.open(path) as image:
                    image.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            if not skip_bad:
                raise ValueError(
                    f"bad training item {item}: {exc} (set data.skip_bad=true to skip such items)"
                ) from exc
            skipped += 1
            logger.warning("skipping bad item %s: %s", item.target_path, exc)
            continue
        good.append(item)
    if skipped:
        logger.warning("skipped %d of %d items", skipped, len(items))
    return good
