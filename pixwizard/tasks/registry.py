"""The task catalogue: every capability of PixWizard as a typed `TaskSpec`.

A spec says what the task is (name, family, one-line description), what its instruction needs (slots),
how its input is prepared (a photo, a condition map, a masked photo, an extended canvas, a blank canvas),
how its image output is decoded (`OutputKind`), and its default guidance. Instruction templates are our
own sentences, one per line in ``templates/<task>.txt`` (package data); a few use the short fixed prefixes
the released model was trained with (e.g. ``Depth to image: …``; facts §6), which are part of its
interface. This module imports neither torch nor the pipeline.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from importlib import resources

SLOTS = ("caption", "referring", "color", "edit", "direction")
DIRECTIONS = ("left", "right", "top", "bottom", "all")
DEFAULT_COLOR = "red"


class Family(str, enum.Enum):
    """Groups of tasks (used for routing reports and defaults)."""

    RESTORATION = "restoration"
    GROUNDING = "grounding"
    DENSE = "dense_prediction"
    CONTROL = "controllable_generation"
    EDITING = "editing"
    GENERATION = "generation"


class InputKind(str, enum.Enum):
    """How a task's input image is prepared."""

    PHOTO = "photo"  # the user's image as it is
    CONDITION = "condition"  # a condition map (edges, depth, pose, ...) as the image
    MASKED = "masked"  # the photo with the region to fill painted white or black
    EXTENDED = "extended"  # the photo on a larger canvas with blank borders
    BLANK = "blank"  # a blank canvas of the requested size


class OutputKind(str, enum.Enum):
    """How a task's image output is decoded."""

    IMAGE = "image"
    DEPTH = "depth"
    NORMAL = "normal"
    SEGMENT = "segment"
    HIGHLIGHT = "highlight"
    BOX = "box"
    MASK = "mask"
    EDGES = "edges"


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task of the catalogue.

    Attributes:
        name: The task name (fixed; clients rely on it).
        family: Its family.
        description: One line for people and LLMs.
        required: Slots the instruction must have.
        optional: Slots the instruction may have.
        input: How the input image is prepared.
        output: How the output image is decoded.
        text_guidance: Default text guidance scale (the authors sample everything with 4).
        image_guidance: Default image guidance scale (the authors: 1).
        steps: Default number of time-grid points (the authors: 60).
        preserve_unchanged: Keep original pixels outside the changed region by default.
    """

    name: str
    family: Family
    description: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    input: InputKind = InputKind.PHOTO
    output: OutputKind = OutputKind.IMAGE
    text_guidance: float = 4.0
    image_guidance: float = 1.0
    steps: int = 60
    preserve_unchanged: bool = False

    @property
    def slots(self) -> tuple[str, ...]:
        """Required then optional slots."""
        return self.required + self.optional

    @property
    def templates(self) -> tuple[str, ...]:
        """Our instruction templates for this task."""
        return _templates(self.name)


@functools.cache
def _templates(name: str) -> tuple[str, ...]:
    text = resources.files("pixwizard.tasks").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def template_slots(template: str) -> set[str]:
    """The slot placeholders a template uses."""
    return set(re.findall(r"\{(\w+)\}", template))


def _spec(name: str, family: Family, description: str, **kwargs) -> TaskSpec:
    return TaskSpec(name=name, family=family, description=description, **kwargs)


_R, _G, _D, _C = Family.RESTORATION, Family.GROUNDING, Family.DENSE, Family.CONTROL
_CONTROL_SOURCES = {
    "canny": "a Canny edge map",
    "depth": "a depth map",
    "hed": "an HED edge map",
    "sketch": "a sketch",
    "pose": "a human pose skeleton",
    "segment": "an ADE20K-coloured segmentation map",
    "normal": "a surface normal map",
    "lineart": "line art",
}

_SPECS = [
    _spec("denoise", _R, "Remove sensor noise and grain."),
    _spec("derain", _R, "Remove rain streaks and raindrops."),
    _spec("demoire", _R, "Remove moiré patterns, e.g. from photographing a screen."),
    _spec("dehaze", _R, "Remove haze, fog or smog."),
    _spec("deblur", _R, "Remove motion or defocus blur."),
    _spec("desnow", _R, "Remove falling snow."),
    _spec("deshadow", _R, "Remove cast shadows."),
    _spec("lowlight", _R, "Brighten and enhance a photo taken in low light."),
    _spec("flash_reflection_removal", _R, "Remove flash glare and reflections (e.g. through glass)."),
    _spec("face_restoration", _R, "Restore a degraded face (blurred, pixelated, old)."),
    _spec("watermark_removal", _R, "Remove a watermark, logo or stamped text."),
    _spec("super_resolution", _R, "Add detail as if the image had a higher resolution."),
    _spec(
        "ground_highlight",
        _G,
        "Show the referred object as a coloured overlay; returns its mask and box.",
        required=("referring",),
        optional=("color",),
        output=OutputKind.HIGHLIGHT,
    ),
    _spec(
        "ground_box",
        _G,
        "Draw a box around the referred object; returns the box.",
        required=("referring",),
        optional=("color",),
        output=OutputKind.BOX,
    ),
    _spec(
        "ground_mask",
        _G,
        "Produce a binary mask of the referred object; returns the mask and box.",
        required=("referring",),
        output=OutputKind.MASK,
    ),
    _spec(
        "depth", _D, "Estimate a depth map; returns it as numbers with statistics.", output=OutputKind.DEPTH
    ),
    _spec("normal", _D, "Estimate surface normals; returns unit vectors.", output=OutputKind.NORMAL),
    _spec(
        "segment",
        _D,
        "Semantic segmentation with the 150 ADE20K classes; returns labels and areas.",
        output=OutputKind.SEGMENT,
    ),
    _spec("pose", _D, "Draw the human pose skeletons.", output=OutputKind.EDGES),
    _spec(
        "canny",
        _D,
        "Canny edge map (the model's; `inputs.canny_map` computes it with OpenCV).",
        output=OutputKind.EDGES,
    ),
    _spec("hed", _D, "HED (soft) edge map.", output=OutputKind.EDGES),
    _spec("sketch", _D, "Sketch drawing of the photo.", output=OutputKind.EDGES),
    _spec("lineart", _D, "Line art of the photo.", output=OutputKind.EDGES),
    *[
        _spec(
            f"{source}_to_image",
            _C,
            f"Generate an image from {what} and a caption.",
            required=("caption",),
            input=InputKind.CONDITION,
        )
        for source, what in _CONTROL_SOURCES.items()
    ],
    _spec(
        "edit",
        Family.EDITING,
        "Change the photo as instructed (add, remove, replace, background, style, "
        "colour); unchanged pixels are kept.",
        required=("edit",),
        preserve_unchanged=True,
    ),
    _spec(
        "inpaint",
        Family.EDITING,
        "Fill a masked region, optionally with described content; pixels outside the mask are kept.",
        optional=("caption",),
        input=InputKind.MASKED,
        preserve_unchanged=True,
    ),
    _spec(
        "outpaint",
        Family.EDITING,
        "Extend the photo beyond its borders (left, right, top, bottom or all).",
        optional=("direction", "caption"),
        input=InputKind.EXTENDED,
    ),
    _spec(
        "text_to_image",
        Family.GENERATION,
        "Draw an image from a description on a blank canvas.",
        required=("caption",),
        input=InputKind.BLANK,
    ),
]

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name.

    Raises:
        KeyError: With the list of known names.
    """
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def tasks_in(family: Family) -> list[TaskSpec]:
    """Every task of a family, in catalogue order."""
    return [spec for spec in TASKS.values() if spec.family is family]
