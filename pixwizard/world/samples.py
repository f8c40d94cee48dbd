"""One PixWorld sample per task: the model's input, the image it should draw, and the exact answer.

Notable features:
- ``sample(task, seed, index)`` is deterministic: the scene is ``scene(seed, index)`` (or a later index of
  the same seed when a scene cannot serve the task, e.g. nothing in it can be referred to uniquely) and
  every task-specific draw comes from ``default_rng([seed, index, crc32(task)])``.
- ``Sample.target`` is drawn the way the model draws its answer (grey depth with near bright, RGB normals,
  the world palette, white strokes on black, a 50% highlight, a box outline), at the size of the prepared
  input; ``Sample.truth`` is the exact answer from the geometry, which the oracle reaches by decoding
  ``target`` with the task's own decoder (`pixwizard.tasks.decoders.decode`).
- Edges, sketches and line art are the scene's instance boundaries (never an operator run on the render);
  pose scenes carry a stick figure whose skeleton is the target.
"""

from __future__ import annotations

import functools
import json
import zlib
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
from PIL import Image

from pixwizard.tasks import TASKS, Family, build_instruction
from pixwizard.tasks.answers import (
    Answer,
    DepthAnswer,
    EdgeAnswer,
    ImageAnswer,
    LabelAnswer,
    NormalAnswer,
    RegionsAnswer,
    box_region,
    region_of,
)
from pixwizard.tasks.decoders import Palette, color_rgb, dilate, normals_to_rgb
from pixwizard.tasks.inputs import Prepared, outpaint_canvas, prepare
from pixwizard.tasks.instructions import fill, slot_values
from pixwizard.world import pose as pose_lib
from pixwizard.world.captions import caption, is_captioned
from pixwizard.world.degrade import degrade_for_task
from pixwizard.world.difficulty import DIFFICULTY_V1, Difficulty
from pixwizard.world.edits import make_edit
from pixwizard.world.referring import refer
from pixwizard.world.scenes import (
    COLORS,
    PALETTE,
    Scene,
    depth_map,
    edge_map,
    instance_map,
    label_image,
    label_map,
    normal_map,
    object_box,
    object_mask,
    render,
    scene,
    visible_fraction,
)

SCENE_TRIES = 32
"""Scenes tried (index, index + RETRY_STRIDE, ...) before a task gives up on an index.

About half the scenes cannot pose a person in a tall 64 × 96 frame: 8 tries left 3 in 800 pose indices
without a sample (training stopped on one). Later tries only run where the earlier ones failed, so raising
the count changes no sample that existed before.
"""
RETRY_STRIDE = 1_000_003
"""Distance between the indices tried for one sample (far beyond any export, so retries never collide)."""
HIGHLIGHT_COLORS = ("red", "green", "blue", "yellow", "cyan", "magenta")
"""Colours a highlight or box is asked in; the one farthest from the object's own colour is used."""
HIGHLIGHT_ALPHA = 0.5
"""Opacity of a highlight over the object (as in the authors' data)."""
OUTPAINT_RATIO = 0.5
"""Share of the photo's width or height that outpainting adds."""
HOLE_MARGIN = 2
"""Pixels added around an object's box to make an inpainting hole."""
EDGE_SOURCES = ("canny", "hed", "sketch", "lineart")
"""Dense tasks whose answer is a stroke map of the scene's boundaries."""


@dataclass(frozen=True, eq=False)
class Sample:
    """A task's input, target image and exact answer for one ``(seed, index)``."""

    task: str
    seed: int
    index: int
    """The index asked for (``scene_index`` says which scene served it)."""
    scene_index: int
    world_version: str
    slots: dict[str, str]
    """The instruction's slots (``build_instruction(task, **slots)``)."""
    image: Image.Image | None
    """What a user gives: the photo, the condition map, or None for text-to-image."""
    prepared: Prepared
    """The model's input (`pixwizard.tasks.inputs.prepare` of ``image``)."""
    target: Image.Image
    """The image the model should draw, at ``prepared.image``'s size."""
    truth: Answer
    """The exact answer."""
    mask: np.ndarray | None = None
    """Inpainting: the hole (True = fill)."""
    requested: tuple[tuple[str, str], ...] = ()
    """Generation: the ``(color, shape)`` pairs the caption asks for."""
    control: np.ndarray | None = None
    """Controllable generation: the union of the captioned objects' masks, which the control map fixes."""
    params: dict[str, object] = field(default_factory=dict)
    """JSON-safe facts about the sample (degradation, edit kind, referral kind, ...)."""


@functools.cache
def world_palette() -> Palette:
    """The world's label palette for the segmentation decoder (background, then one class per shape)."""
    return Palette(tuple(n for n, _ in PALETTE), np.array([c for _, c in PALETTE], np.float32), True)


@functools.cache
def held_out_phrasings() -> dict[str, tuple[str, ...]]:
    """Blind-written phrasings per task, used only for evaluation (never in training)."""
    text = resources.files("pixwizard.world").joinpath("data", "held_out.json").read_text(encoding="utf-8")
    return {task: tuple(items) for task, items in json.loads(text)["phrasings"].items()}


def instruction(s: Sample, phrasing: str = "template", seed: int | None = None) -> str:
    """The instruction for a sample: one of the task's templates, or a held-out phrasing.

    Args:
        s: The sample.
        phrasing: ``template`` (the tasks package's builder) or ``held_out``.
        seed: Chooses the template or phrasing (default: the sample's index).
    """
    seed = s.index if seed is None else seed
    if phrasing == "template":
        return build_instruction(s.task, seed=seed, **s.slots)
    if phrasing != "held_out":
        raise ValueError(f"phrasing must be 'template' or 'held_out', got {phrasing!r}")
    options = held_out_phrasings()[s.task]
    text = options[int(np.random.default_rng([seed, 7]).integers(len(options)))]
    return fill(text, slot_values(s.task, **s.slots))


def sample(
    task: str,
    seed: int,
    index: int,
    *,
    width: int = 64,
    height: int = 64,
    difficulty: Difficulty = DIFFICULTY_V1,
) -> Sample:
    """Sample ``index`` of ``seed`` for ``task``.

    Args:
        task: A task name of `pixwizard.tasks`.
        seed: The world seed.
        index: The sample index.
        width: Scene width (outpainting: the photo's; its canvas is larger).
        height: Scene height.
        difficulty: The frozen difficulty.

    Raises:
        ValueError: For an unknown task, or when no scene among ``SCENE_TRIES`` can serve it.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    make = _MAKERS.get(task) or _MAKERS[TASKS[task].family]
    for attempt in range(SCENE_TRIES):
        scene_index = index + attempt * RETRY_STRIDE
        rng = np.random.default_rng([seed, scene_index, zlib.crc32(task.encode())])
        made = make(task, seed, scene_index, width, height, difficulty, rng)
        if made is not None:
            return replace(made, index=index)
    raise ValueError(f"no scene of seed {seed} near index {index} can serve {task!r}")


# ----------------------------------------------------------------------------------------------------
# Rendering answers the way the model draws them
# ----------------------------------------------------------------------------------------------------


def depth_image(depth: np.ndarray) -> Image.Image:
    """Distance → grey: inverse depth normalised per image, the nearest white and the farthest black.

    The usual relative-depth picture (disparity, near bright); the metrics align an ``inverse`` answer to the
    truth in disparity space, so this target decodes back to the exact distances up to 8-bit rounding.
    """
    disparity = 1.0 / depth.astype(np.float64)
    low, high = float(disparity.min()), float(disparity.max())
    grey = (disparity - low) / (high - low) if high > low else np.zeros_like(disparity)
    return Image.fromarray(np.round(grey * 255).astype(np.uint8)).convert("RGB")


PAPER, GRAPHITE = (230, 220, 195), (60, 60, 60)
"""Sketches: graphite strokes on cream paper (not pure black on white, which would read as white objects)."""


def stroke_image(strokes: np.ndarray, pencil: bool = False) -> Image.Image:
    """Strokes as white on black, or (``pencil``) graphite on paper."""
    if pencil:
        return Image.fromarray(np.where(strokes[..., None], GRAPHITE, PAPER).astype(np.uint8))
    return Image.fromarray(np.where(strokes, 255, 0).astype(np.uint8)).convert("RGB")


def boundary_strokes(s: Scene, source: str) -> np.ndarray:
    """The stroke map of an edge-like task: instance boundaries (``hed`` and ``sketch`` thicker)."""
    edges = edge_map(s) > 0
    return dilate(edges, 1) if source in ("hed", "sketch") else edges


def _far_color(rgb: tuple[int, int, int]) -> str:
    own = np.array(rgb, np.float32)
    return max(HIGHLIGHT_COLORS, key=lambda c: float(np.linalg.norm(color_rgb(c) - own)))


def _base(task, seed, scene_index, s: Scene, slots, image, prepared, target, truth, **extra) -> Sample:
    return Sample(
        task=task,
        seed=seed,
        index=scene_index,
        scene_index=scene_index,
        world_version=s.world_version,
        slots=slots,
        image=image,
        prepared=prepared,
        target=target,
        truth=truth,
        **extra,
    )


# ----------------------------------------------------------------------------------------------------
# One maker per family (and per task where the family is not enough)
# ----------------------------------------------------------------------------------------------------


def _restoration(task, seed, index, width, height, difficulty, rng) -> Sample:
    s = scene(seed, index, width, height, difficulty)
    clean = np.asarray(render(s))
    degraded = degrade_for_task(task, clean, rng, difficulty, depth=depth_map(s))
    image = Image.fromarray(degraded.image)
    params = {"degradation": degraded.kind, **degraded.params}
    return _base(
        task,
        seed,
        index,
        s,
        {},
        image,
        prepare(task, image),
        Image.fromarray(clean),
        ImageAnswer(clean),
        params=params,
    )


def _grounding(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    s = scene(seed, index, width, height, difficulty)
    referral = refer(s, rng, difficulty)
    if referral is None:
        return None
    k = referral.target
    photo = np.asarray(render(s))
    mask = object_mask(s, k)
    slots = {"referring": referral.text}
    params = {"referral": referral.kind, "target": k}
    if task == "ground_mask":
        target = stroke_image(mask)
        truth = RegionsAnswer((region_of(mask),), (width, height), "mask")
    else:
        color = _far_color(COLORS[s.objects[k - 1].color])
        slots["color"] = color
        rgb = color_rgb(color)
        drawn = photo.astype(np.float32)
        if task == "ground_highlight":
            drawn[mask] = (1 - HIGHLIGHT_ALPHA) * drawn[mask] + HIGHLIGHT_ALPHA * rgb
            truth = RegionsAnswer((region_of(mask),), (width, height), "highlight")
        else:
            box = object_box(s, k)
            x0, y0, x1, y1 = box
            line = max(1, round(min(width, height) / 32))
            frame = np.zeros(mask.shape, bool)
            frame[y0:y1, x0:x1] = True
            frame[y0 + line : y1 - line, x0 + line : x1 - line] = False
            drawn[frame] = rgb
            truth = RegionsAnswer((box_region(box, (width, height)),), (width, height), "box")
        target = Image.fromarray(np.round(drawn).astype(np.uint8))
    image = Image.fromarray(photo)
    return _base(task, seed, index, s, slots, image, prepare(task, image), target, truth, params=params)


def _pose_scene(s: Scene, rng) -> tuple[Scene, pose_lib.Figure, np.ndarray]:
    fig = pose_lib.make_figure(rng, s.width, s.height)
    body = pose_lib.body_mask(fig, s.width, s.height)
    near = dilate(body, 2)
    # Objects the figure touches are dropped, so the caption's objects stay whole and findable.
    kept = tuple(o for k, o in enumerate(s.objects, start=1) if not (object_mask(s, k) & near).any())
    kept = tuple(replace(o, z=z) for z, o in enumerate(kept))
    s = replace(s, objects=kept)
    return s, fig, pose_lib.draw_figure(np.asarray(render(s)), fig)


def _dense(task, seed, index, width, height, difficulty, rng) -> Sample:
    s = scene(seed, index, width, height, difficulty)
    if task == "pose":
        s, fig, photo = _pose_scene(s, rng)
        strokes = pose_lib.pose_strokes(fig, width, height)
        target = Image.fromarray(pose_lib.pose_map(fig, width, height))
        truth: Answer = EdgeAnswer(strokes)
    else:
        photo = np.asarray(render(s))
        if task == "depth":
            depth = depth_map(s)
            target, truth = depth_image(depth), DepthAnswer(depth, "distance")
        elif task == "normal":
            normals = normal_map(s)
            target, truth = normals_to_rgb(normals), NormalAnswer(normals)
        elif task == "segment":
            target = label_image(s)
            truth = LabelAnswer(label_map(s).astype(np.int16), world_palette().names)
        else:
            strokes = boundary_strokes(s, task)
            target, truth = stroke_image(strokes, pencil=task == "sketch"), EdgeAnswer(strokes)
    image = Image.fromarray(photo)
    return _base(task, seed, index, s, {}, image, prepare(task, image), target, truth)


def _control_map(s: Scene, source: str, fig=None) -> Image.Image:
    if source == "pose":
        return Image.fromarray(pose_lib.pose_map(fig, s.width, s.height))
    if source == "depth":
        return depth_image(depth_map(s))
    if source == "normal":
        return normals_to_rgb(normal_map(s))
    if source == "segment":
        return label_image(s)
    return stroke_image(boundary_strokes(s, source), pencil=source == "sketch")


def _captioned(s: Scene, rng) -> tuple[str, tuple[tuple[str, str], ...], np.ndarray]:
    c = caption(s, rng)
    shown = [k for k in range(1, len(s.objects) + 1) if is_captioned(s, k)]
    return c.text, c.objects, np.isin(instance_map(s), shown)


def _control(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    source = task.removesuffix("_to_image")
    s = scene(seed, index, width, height, difficulty)
    fig = None
    if source == "pose":
        s, fig, photo = _pose_scene(s, rng)
    else:
        photo = np.asarray(render(s))
    text, requested, control = _captioned(s, rng)
    if not requested:
        return None
    if fig is not None:
        text = f"a {fig.color} stick figure beside {text}"
    condition = _control_map(s, source, fig)
    return _base(
        task,
        seed,
        index,
        s,
        {"caption": text},
        condition,
        prepare(task, condition),
        Image.fromarray(photo),
        ImageAnswer(photo),
        requested=requested,
        control=control,
    )


def _text_to_image(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    s = scene(seed, index, width, height, difficulty)
    text, requested, _ = _captioned(s, rng)
    if not requested:
        return None
    photo = np.asarray(render(s))
    prepared = prepare(task, None, canvas_size=(width, height))
    return _base(
        task,
        seed,
        index,
        s,
        {"caption": text},
        None,
        prepared,
        Image.fromarray(photo),
        ImageAnswer(photo),
        requested=requested,
    )


def _edit(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    s = scene(seed, index, width, height, difficulty)
    e = make_edit(s, rng, difficulty)
    if e is None:
        return None
    before, after = np.asarray(render(e.before)), np.asarray(render(e.after))
    image = Image.fromarray(before)
    return _base(
        task,
        seed,
        index,
        s,
        {"edit": e.text},
        image,
        prepare(task, image),
        Image.fromarray(after),
        ImageAnswer(after, e.region),
        params={"edit": e.kind},
    )


def _inpaint(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    s = scene(seed, index, width, height, difficulty)
    shown = [k for k in range(1, len(s.objects) + 1) if visible_fraction(s, k) >= 0.6]
    if not shown:
        return None
    k = shown[int(rng.integers(len(shown)))]
    x0, y0, x1, y1 = object_box(s, k)
    hole = np.zeros((height, width), bool)
    hole[max(0, y0 - HOLE_MARGIN) : y1 + HOLE_MARGIN, max(0, x0 - HOLE_MARGIN) : x1 + HOLE_MARGIN] = True
    obj = s.objects[k - 1]
    text = f"a {'striped ' if obj.textured else ''}{obj.color} {obj.shape}"
    photo = np.asarray(render(s))
    image = Image.fromarray(photo)
    prepared = prepare(task, image, mask=hole)
    return _base(
        task,
        seed,
        index,
        s,
        {"caption": text},
        image,
        prepared,
        image,
        ImageAnswer(photo, hole),
        mask=hole,
        requested=((obj.color, obj.shape),),
    )


_DIRECTIONS = ("left", "right", "top", "bottom", "all")


def _outpaint(task, seed, index, width, height, difficulty, rng) -> Sample | None:
    direction = _DIRECTIONS[int(rng.integers(len(_DIRECTIONS)))]
    probe = outpaint_canvas(Image.new("RGB", (width, height)), direction, OUTPAINT_RATIO)
    canvas_w, canvas_h = probe.image.size
    s = scene(seed, index, canvas_w, canvas_h, difficulty)
    full = np.asarray(render(s))
    x0, y0, x1, y1 = probe.placement
    photo = Image.fromarray(np.ascontiguousarray(full[y0:y1, x0:x1]))
    prepared = prepare(task, photo, direction=direction, ratio=OUTPAINT_RATIO)
    slots = {"direction": direction}
    if rng.random() < 0.5:
        slots["caption"] = caption(s, rng).text
    return _base(
        task,
        seed,
        index,
        s,
        slots,
        photo,
        prepared,
        Image.fromarray(full),
        ImageAnswer(full, prepared.region),
    )


_MAKERS = {
    Family.RESTORATION: _restoration,
    Family.GROUNDING: _grounding,
    Family.DENSE: _dense,
    Family.CONTROL: _control,
    "edit": _edit,
    "inpaint": _inpaint,
    "outpaint": _outpaint,
    "text_to_image": _text_to_image,
}
