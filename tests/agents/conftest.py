"""Fixtures of the agent tests: a workspace, a tool context, and a scripted model at the pipeline boundary.

`ScriptedPipeline` wraps the real ``tiny-random`` pipeline: every call runs it (so progress, cancellation
and the decoders run for real) and then, when the script has an answer for the call's (task, seed), puts
that answer in place of the model's image. tiny-random finds nothing on any image, so this is how the
recipes' found / retried / exhausted paths are reached with everything after the model real.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import default_registry, make_context

from pixwizard.tasks import TASKS

RED = (200, 20, 20)
BACKGROUND = (90, 110, 90)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def scene(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """A flat scene with one red rectangle (the 'red car')."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:] = BACKGROUND
    pixels[box[1] : box[3], box[0] : box[2]] = RED
    pixels[:, :, 1] += (np.arange(width) % 7).astype(np.uint8)[None, :]  # some texture, never pure white
    return Image.fromarray(pixels)


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "in").mkdir()
    scene(64, 48, (20, 12, 40, 30)).save(tmp_path / "in" / "photo.png")
    return tmp_path


@pytest.fixture
def ctx(workspace):
    return make_context(
        "tiny-random", store_dir=workspace / "store", allow_dirs=[workspace / "in"], device="cpu"
    )


@pytest.fixture(scope="session")
def registry():
    return default_registry()


def _template_patterns() -> list[tuple[str, re.Pattern]]:
    patterns = []
    for name, spec in TASKS.items():
        for template in spec.templates:
            parts = re.split(r"\{\w+\}", template)
            pattern = re.compile("^" + "(.+)".join(re.escape(p) for p in parts) + "$", re.S | re.I)
            patterns.append((-sum(len(p) for p in parts), name, pattern))
    # The most specific first: the template with the most fixed words, before one that matches any text.
    return [(name, pattern) for _, name, pattern in sorted(patterns, key=lambda p: p[0])]


_PATTERNS = _template_patterns()


def task_of(prompt: str) -> str | None:
    """The task whose template produced a prompt."""
    return next((name for name, pattern in _PATTERNS if pattern.match(prompt)), None)


Script = Callable[[str, int, Image.Image], Image.Image | None]


class ScriptedPipeline:
    """The real pipeline with scripted answers per (task, seed); records every call."""

    def __init__(self, real, script: Script):
        self.real, self.script = real, script
        self.calls: list[tuple[str | None, int]] = []

    def __call__(self, prompt, *, image=None, generator=None, **kwargs):
        out = self.real(prompt, image=image, generator=generator, **kwargs)
        task, seed = task_of(prompt), generator.initial_seed()
        self.calls.append((task, seed))
        answer = self.script(task, seed, image)
        if answer is not None:
            answer = answer.convert("RGB")
            out.bucket_images[0] = answer.resize(out.bucket_images[0].size, Image.NEAREST)
            out.images[0] = answer.resize(out.images[0].size, Image.NEAREST)
        return out

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def scripted(ctx):
    """``scripted(script)`` puts a `ScriptedPipeline` into the context's backend and returns it."""

    def install(script: Script) -> ScriptedPipeline:
        pipe = ScriptedPipeline(ctx.backend.pipe, script)
        ctx.backend._pipe = pipe
        return pipe

    return install


def red_mask(image: Image.Image) -> Image.Image:
    """What a perfect grounding model answers for 'the red car': white where the input is red."""
    a = np.asarray(image.convert("RGB")).astype(int)
    red = (a[..., 0] > 150) & (a[..., 1] < 80) & (a[..., 2] < 80)
    return Image.fromarray(np.where(red, 255, 0).astype(np.uint8)).convert("RGB")


def fill_hole(image: Image.Image, color: tuple[int, int, int], inset: int = 0) -> Image.Image:
    """An inpainting answer: the white hole of the prepared input painted ``color``.

    Pixels outside the hole come back off by one (a model never returns them exactly). With ``inset``,
    only the hole's bounding box shrunk by ``inset`` pixels gets ``color`` and the rest of
    the hole the background: how a failed removal puts the object back where it was.
    """
    a = np.asarray(image.convert("RGB")).copy()
    hole = np.all(a == 255, axis=-1)
    a[~hole] ^= 1  # like a real model, the answer is off by a little everywhere else
    if inset:
        a[hole] = BACKGROUND
        ys, xs = np.nonzero(hole)
        a[ys.min() + inset : ys.max() + 1 - inset, xs.min() + inset : xs.max() + 1 - inset] = color
    else:
        a[hole] = color
    return Image.fromarray(a)


@pytest.fixture
def kit():
    """The scene and answer builders above, for tests (conftest modules cannot be imported by name)."""
    import types

    return types.SimpleNamespace(
        RED=RED, BACKGROUND=BACKGROUND, scene=scene, red_mask=red_mask, fill_hole=fill_hole, task_of=task_of
    )
