"""Input and output models of the tools (pydantic; bounded fields, enums, descriptions for an LLM)."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pixwizard.tasks.registry import Family, OutputKind, tasks_in
from pixwizard.tasks.results import ClassShare, DepthStats

ImageRef = Field(
    description=(
        "The input image: a file path, a file:// URI, a data:image/...;base64 URI, or the id / "
        "pixwizard://images/{id} URI of an image a previous call returned."
    ),
    min_length=1,
    max_length=20_000_000,
    json_schema_extra={"format": "image-ref"},
)
IMAGE_REF_FORMAT = "image-ref"  # marks the arguments that are image references (plans resolve them to ids)


def image_ref(description: str, *, optional: bool = False):
    """A field for an image reference other than the main input (a mask, a second image)."""
    return Field(
        None if optional else ...,
        description=description,
        min_length=1,
        max_length=20_000_000,
        json_schema_extra={"format": IMAGE_REF_FORMAT},
    )


def image_fields(model: type[BaseModel]) -> list[str]:
    """The names of a model's image-reference arguments."""
    return [
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict)
        and field.json_schema_extra.get("format") == IMAGE_REF_FORMAT
    ]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Generation(_Args):
    """Sampling options shared by every tool that runs the model."""

    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed; the same seed gives the same result.")
    steps: int | None = Field(None, ge=2, le=200, description="Sampling steps (default: the task's, 60).")
    text_guidance: float | None = Field(None, ge=0, le=20, description="Text guidance scale (default 4).")
    image_guidance: float | None = Field(None, ge=0, le=20, description="Image guidance scale (default 1).")
    output_dir: str | None = Field(None, description="Also copy the result into this allowed folder.")


def _task_enum(name: str, doc: str, values: list[str]) -> type[enum.Enum]:
    """An enum of task-derived choices (so the tools can never offer a task the catalogue lacks)."""
    choices = enum.Enum(name, {value: value for value in values}, type=str)
    choices.__doc__ = doc
    return choices


Restoration = _task_enum("Restoration", "What to repair.", [s.name for s in tasks_in(Family.RESTORATION)])
Condition = _task_enum(
    "Condition",
    "Kinds of condition map for controllable generation.",
    [s.name.removesuffix("_to_image") for s in tasks_in(Family.CONTROL)],
)
Annotation = _task_enum(
    "Annotation",
    "Kinds of annotation map.",
    [s.name for s in tasks_in(Family.DENSE) if s.output is OutputKind.EDGES or s.name == "normal"],
)


class RestoreArgs(Generation):
    """Arguments of restore."""

    image: str = ImageRef
    problem: Restoration = Field(description="What is wrong with the photo.")


class GroundArgs(Generation):
    """Arguments of ground."""

    image: str = ImageRef
    referring: str = Field(
        min_length=1, max_length=300, description="The object to find, e.g. 'the dog on the left'."
    )
    mode: Literal["mask", "box", "highlight"] = Field(
        "mask", description="Answer as a binary mask, a drawn box, or a coloured overlay."
    )
    color: str = Field(
        "red", max_length=20, description="Colour of the box or overlay (a common colour name)."
    )


class ImageArgs(Generation):
    """Arguments of a tool that takes one image."""

    image: str = ImageRef


class EditArgs(Generation):
    """Arguments of edit."""

    image: str = ImageRef
    instruction: str = Field(
        min_length=1, max_length=500, description="The change, e.g. 'replace the cat with a dog'."
    )
    preserve_unchanged: bool = Field(True, description="Keep the original pixels outside the edited region.")


class ControlArgs(Generation):
    """Arguments of control_generate."""

    image: str = ImageRef
    condition: Condition = Field(description="What kind of map the image is (or should be computed from it).")
    caption: str = Field(min_length=1, max_length=500, description="What to generate.")
    from_photo: bool = Field(False, description="The image is a photo: compute its condition map first.")


class InpaintArgs(Generation):
    """Arguments of inpaint."""

    image: str = ImageRef
    mask: str = image_ref("The region to fill: a mask image reference (white = fill).")
    caption: str | None = Field(None, max_length=500, description="What to paint there (optional).")
    fill: Literal["white", "black"] = Field("white", description="How the hole is shown to the model.")
    preserve_unchanged: bool = Field(True, description="Keep the original pixels outside the mask.")


class OutpaintArgs(Generation):
    """Arguments of outpaint."""

    image: str = ImageRef
    direction: Literal["left", "right", "top", "bottom", "all"] = Field("all", description="Where to extend.")
    ratio: float = Field(0.5, gt=0, le=2, description="How much to add, as a fraction of the image's size.")
    caption: str | None = Field(None, max_length=500, description="What the new area shows (optional).")


class TextToImageArgs(Generation):
    """Arguments of text_to_image."""

    caption: str = Field(min_length=1, max_length=1000, description="What to draw.")
    width: int = Field(768, ge=64, le=2048, description="Width in pixels.")
    height: int = Field(768, ge=64, le=2048, description="Height in pixels.")


class AnnotateArgs(Generation):
    """Arguments of annotate."""

    image: str = ImageRef
    kind: Annotation = Field(description="Which map to draw.")


class InstructionArgs(Generation):
    """Arguments of run_instruction."""

    request: str = Field(min_length=1, max_length=1000, description="What to do, in your own words.")
    image: str | None = Field(None, description="The input image reference (omit for text-to-image).")


class DescribeArgs(_Args):
    """Arguments of describe_image."""

    image: str = ImageRef


class JobArgs(_Args):
    """Arguments of the job tools."""

    job_id: str = Field(min_length=1, max_length=64, description="The id start_job returned.")


class StartJobArgs(_Args):
    """Arguments of start_job."""

    tool: str = Field(min_length=1, max_length=64, description="The tool to run in the background.")
    args: dict = Field(default_factory=dict, description="Its arguments, exactly as for a direct call.")


# ---------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------


class ImageOut(BaseModel):
    """A stored image: read it with resources/read on ``uri`` or from ``path``."""

    id: str
    uri: str
    path: str
    width: int
    height: int
    mode: str


class Timings(BaseModel):
    """Seconds spent waiting for the model and running it."""

    queued_s: float
    run_s: float


class Provenance(BaseModel):
    """Where a result came from, enough to run the call again (`regenerate`).

    ``tool`` and ``args`` are the call as validated, image references resolved to store ids. The model
    fields are null for model-free operations; ``run_id`` and ``step_id`` are set inside a plan.
    """

    tool: str
    args: dict
    model: str | None
    task: str | None
    instruction: str | None
    seed: int | None
    steps: int | None
    text_guidance: float | None
    image_guidance: float | None
    processed_resolution: tuple[int, int] | None
    timings: Timings
    parents: list[str]
    run_id: str | None = None
    step_id: str | None = None


class ToolOutput(BaseModel):
    """Fields every generating tool returns."""

    image: ImageOut
    provenance: Provenance
    changed_fraction: float | None = Field(description="Share of pixels that changed (null: sizes differ).")
    similarity_outside: float | None = Field(description="Similarity outside the edited region, if any.")
    exported_to: str | None = None
    warnings: list[str] = Field(default_factory=list)


class ObjectOut(BaseModel):
    """A found object."""

    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 in input pixels (x1, y1 exclusive).")
    area: int
    centroid: tuple[float, float]
    confidence: float
    mask: ImageOut | None = Field(None, description="The object's mask (usable as an inpaint mask).")
    rle: dict = Field(default_factory=dict, description="COCO RLE of the mask (uncompressed counts).")


class GroundOutput(ToolOutput):
    """Grounding: whether the object was found, and where."""

    found: bool
    objects: list[ObjectOut]


class SegmentOutput(ToolOutput):
    """Segmentation: classes by area; ``image`` is the colour map, ``overlay`` blends it over the photo."""

    classes: list[ClassShare]
    unknown_fraction: float
    palette_verified: bool
    overlay: ImageOut


class DepthOutput(ToolOutput):
    """Depth: statistics; ``image`` is the greyscale map; ``.npy`` and 16-bit PNG files beside it."""

    convention: str
    stats: DepthStats
    npy_path: str
    png16_path: str


class AnnotateOutput(ToolOutput):
    """An annotation map, with its stroke density (edges) or mean normal (normals); the other is null."""

    edge_density: float | None
    mean_normal: tuple[float, float, float] | None
    npy_path: str | None = Field(description="The normals as .npy (normals only).")


class DescribeOutput(BaseModel):
    """What an image is and where it came from (an input outside the store is described, not stored)."""

    id: str | None = Field(description="The store id, or null for an input outside the store.")
    width: int
    height: int
    mode: str
    parents: list[str]
    lineage: list[dict]
    task: str | None = None
    source: str | None = Field(None, description="Where an outside input was read from.")
    sha256: str | None = Field(None, description="SHA-256 of an outside input's bytes.")
    bytes: int | None = Field(None, description="Size of an outside input in bytes.")


class JobOutput(BaseModel):
    """A background job: ``result`` is the tool's own output once it is done (job_result only)."""

    job_id: str
    tool: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: tuple[float, float] | None = Field(None, description="(done, total), e.g. sampling steps.")
    error: str | None = None
    result: dict | None = None
