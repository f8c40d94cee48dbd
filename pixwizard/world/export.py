"""PixWorld as training data: items from ``(seed, index)``, an export for the trainer, a contact sheet.

Export layout (``pixwizard world export --out DIR``)::

    DIR/world.json                 world_version, seed, n, tasks, size, palette
    DIR/meta.yaml                  the trainer's META list, one entry per task
    DIR/<task>/annotations.jsonl   {input_path, target_path, prompt, instruction, truth_path, slots, ...}
    DIR/<task>/input/000000.png    what the model is given (masked photo, extended canvas, condition map)
    DIR/<task>/target/000000.png   what it should draw
    DIR/<task>/truth/000000.npz    the exact answer (`pixwizard.tasks.answers.load_answer`) and its context

``prompt`` lists every template of the task filled with the item's slots (the trainer picks one per step);
``instruction`` is the one ``eval world`` uses for that item, so ``eval pairs`` reproduces it. Held-out
phrasings are never written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixwizard.tasks import TASKS
from pixwizard.tasks.answers import save_answer
from pixwizard.tasks.instructions import all_instructions
from pixwizard.tasks.results import atomic_write_bytes, png_bytes
from pixwizard.world.difficulty import WORLD_VERSION
from pixwizard.world.samples import Sample, instruction, sample
from pixwizard.world.scenes import PALETTE


def template_prompts(s: Sample) -> tuple[str, ...]:
    """Every template of the sample's task that its slots can fill, filled (training prompts)."""
    return all_instructions(s.task, **s.slots)


@dataclass(frozen=True)
class WorldItems:
    """Training items drawn from the world on demand: item ``i`` is task ``tasks[i % T]``, index ``i // T``.

    The trainer reads it directly (``data.world`` in its config): nothing is written to disk.
    """

    seed: int
    n: int
    """Items per task."""
    tasks: tuple[str, ...]
    size: tuple[int, int] = (64, 64)

    def __post_init__(self):
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"world tasks must be names of pixwizard.tasks, got {list(self.tasks)}")
        if self.n < 1:
            raise ValueError(f"world n must be at least 1, got {self.n}")

    def __len__(self) -> int:
        return self.n * len(self.tasks)

    def locate(self, i: int) -> tuple[str, int]:
        """``(task, index)`` of item ``i``."""
        return self.tasks[i % len(self.tasks)], i // len(self.tasks)

    def sample(self, i: int) -> Sample:
        """The world sample of item ``i``."""
        task, index = self.locate(i)
        return sample(task, self.seed, index, width=self.size[0], height=self.size[1])

    def pair(self, i: int) -> tuple[Image.Image, Image.Image, tuple[str, ...]]:
        """``(model input, target, prompts)`` of item ``i``."""
        s = self.sample(i)
        return s.prepared.image, s.target, template_prompts(s)

    def target_size(self, i: int) -> tuple[int, int]:
        """``(w, h)`` of item ``i``'s target without rendering it (outpainting targets are larger)."""
        task, _ = self.locate(i)
        if task == "outpaint":
            return self.sample(i).target.size
        return self.size


def _extras(s: Sample) -> dict:
    extra: dict = {"requested": [list(p) for p in s.requested], "slots": s.slots, "params": s.params}
    if s.image is not None:
        extra["before"] = np.asarray(s.image.convert("RGB"))
    if s.control is not None:
        extra["control"] = s.control
    return extra


def export(
    out: str | Path,
    *,
    n: int,
    tasks: Sequence[str] | None = None,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``n`` items per task in the trainer's annotation format (see the module docstring).

    Files are written atomically; an existing export in ``out`` is overwritten item by item.

    Returns:
        The ``world.json`` content.
    """
    tasks = list(tasks or TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known tasks: {', '.join(TASKS)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    out = Path(out)
    total, done = n * len(tasks), 0
    for task in tasks:
        lines = []
        folder = out / task
        for i in range(n):
            s = sample(task, seed, i, width=size[0], height=size[1])
            name = f"{i:06d}"
            atomic_write_bytes(
                folder / "input" / f"{name}.png", png_bytes(s.prepared.image, compress_level=1)
            )
            atomic_write_bytes(folder / "target" / f"{name}.png", png_bytes(s.target, compress_level=1))
            save_answer(folder / "truth" / f"{name}.npz", s.truth, **_extras(s))
            entry = {
                "input_path": f"input/{name}.png",
                "target_path": f"target/{name}.png",
                "truth_path": f"truth/{name}.npz",
                "prompt": list(template_prompts(s)),
                "instruction": instruction(s),
                "type": task,
                "slots": s.slots,
                "seed": seed,
                "index": i,
                "world_version": s.world_version,
            }
            lines.append(json.dumps(entry))
            done += 1
            if progress is not None:
                progress(done, total)
        atomic_write_bytes(folder / "annotations.jsonl", ("\n".join(lines) + "\n").encode())
    meta = "META:\n" + "".join(
        f"  - {json.dumps({'path': f'{t}/annotations.jsonl', 'type': t, 'ratio': 1.0})}\n" for t in tasks
    )
    atomic_write_bytes(out / "meta.yaml", meta.encode())
    info = {
        "world_version": WORLD_VERSION,
        "seed": seed,
        "n": n,
        "tasks": tasks,
        "size": list(size),
        "palette": [{"label": i, "name": name, "rgb": list(rgb)} for i, (name, rgb) in enumerate(PALETTE)],
    }
    atomic_write_bytes(out / "world.json", (json.dumps(info, indent=2) + "\n").encode())
    return info


def contact_sheet(
    task: str, seed: int, *, count: int = 6, size: tuple[int, int] = (64, 64), scale: int = 2
) -> Image.Image:
    """A sheet of ``count`` samples, one per row: model input | target, with the instruction below."""
    from PIL import ImageDraw

    samples = [sample(task, seed, i, width=size[0], height=size[1]) for i in range(count)]
    cell_w = max(s.target.width for s in samples) * scale
    cell_h = max(s.target.height for s in samples) * scale
    text_h = 14
    sheet = Image.new("RGB", (2 * cell_w + 12, count * (cell_h + text_h + 6) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for row, s in enumerate(samples):
        y = row * (cell_h + text_h + 6) + 2
        for col, image in enumerate((s.prepared.image, s.target)):
            big = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
            sheet.paste(big, (4 + col * (cell_w + 4), y))
        draw.text((4, y + cell_h + 1), instruction(s)[: 2 * cell_w // 6], fill="black")
    return sheet
