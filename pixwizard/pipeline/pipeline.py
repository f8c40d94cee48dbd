"""`PixWizardPipeline`: images + free-form instructions in, images out.

It runs the released model as the authors' sampler does (Euler on a 60-point grid, text scale 4, image
scale 1, guidance on latent channels 0-2, proportional attention with base ``(centre/16)²``, the no-image
row conditioned on the starting noise, a fresh Gumbel-perturbed token selection at every step, a Lanczos
resize to the aspect-ratio bucket), and is faster by doing only exact savings by default: the no-image row
is skipped when ``image_guidance_scale == 1``, the text encodings and CLIP tokens are computed once per
call, and each item gets its own bucket. Every random draw of an item (starting noise, VAE sample, Gumbel
noise) comes from that item's generator, so a seed reproduces an image whatever its batch-mates.
``token_selection="topk"`` is the deterministic fast option: the selection and every block's
cross-attention keys/values are then computed once per call.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from pixwizard.errors import PixWizardError
from pixwizard.model import rng
from pixwizard.model.token_sampler import TokenSelection
from pixwizard.model.transformer import PixWizardTransformer
from pixwizard.pipeline import small
from pixwizard.pipeline.buckets import choose_bucket
from pixwizard.pipeline.components import ComponentPipeline
from pixwizard.pipeline.encoders import ClipImageEncoder, ClipTextEncoder, GemmaTextEncoder, VaeCodec
from pixwizard.pipeline.image_processing import pil_to_tensor, resize_to, tensor_to_pil, to_rgb
from pixwizard.pipeline.roles import ImageTokens, LatentCodec, PooledText, TextTokens
from pixwizard.pipeline.sampling import (
    SOLVERS,
    Guidance,
    RowConditions,
    SchedulerSolver,
    Solver,
    denoise_step,
    rows_needed,
    time_grid,
)

logger = logging.getLogger(__name__)

MAX_INSTRUCTION_CHARS = 4000
MAX_STEPS = 1000
MAX_GUIDANCE = 50.0
TIME_AWARE_WATERSHED = 0.3  # the authors' default switch time for RoPE extrapolation above 1024 px


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → cuda, then mps, then cpu; anything else as given, refused in words if it is not here."""
    if str(device) != "auto":
        return _available(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: str | torch.device) -> torch.device:
    """``device`` as a torch device, or a one-line `PixWizardError` saying why it cannot be used here."""
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise PixWizardError(f"unknown device {str(device)!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        why = "no CUDA GPU is visible" if torch.version.cuda else "this PyTorch build has no CUDA support"
        raise PixWizardError(f"device {str(device)!r} was asked for, but {why}; use device auto or cpu")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise PixWizardError(f"device {str(device)!r} was asked for, but {count} CUDA GPU(s) are visible")
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise PixWizardError(f"device {str(device)!r} was asked for, but MPS is not available here; use cpu")
    return resolved


ENCODER_KINDS = ("released", "world")
"""Which encoders fill the roles (see `PixWizardPipeline`)."""


class GenerationCancelled(PixWizardError):
    """Raised when a generation is interrupted (``pipe.interrupt()`` or a callback); nothing is returned."""


@dataclass
class PixWizardPipelineOutput:
    """What a call returns.

    Attributes:
        images: One result per item (PIL by default), resized back to its input size unless
            ``resize_to_input=False``.
        bucket_images: The same results at the processed (bucket) resolution, before any resize.
        buckets: The processed ``(width, height)`` of each item.
        notes: Remarks a caller should see (e.g. that a random-weight model produced noise).
    """

    images: list
    bucket_images: list
    buckets: list[tuple[int, int]]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """What every bucket group of one call shares."""

    text: object  # TextFeatures of the call's prompts, the empty prompt last
    pooled: Tensor
    rows: int
    grid: list[float]
    solve: Solver
    device: torch.device
    selection: TokenSelection
    vae_sample: bool
    progress: object
    callback: Callable | None
    callback_inputs: tuple[str, ...]
    guidance: Guidance  # per group: base_seqlen and RoPE scaling are filled in from the bucket's centre


@dataclass
class _Item:
    index: int
    instruction: str
    image: Image.Image
    input_size: tuple[int, int]
    bucket: tuple[int, int]
    centre: int
    generator: torch.Generator | None


class PixWizardPipeline(ComponentPipeline):
    """The PixWizard pipeline: Gemma + CLIP text, CLIP image tokens, SDXL VAE, the transformer, a solver.

    Args:
        transformer: The PixWizard transformer.
        vae: SDXL-layout ``AutoencoderKL``.
        text_encoder: Gemma (``GemmaModel``).
        tokenizer: Gemma's tokenizer.
        clip_text_encoder: ``CLIPTextModelWithProjection``.
        clip_tokenizer: ``CLIPTokenizer``.
        clip_image_encoder: ``CLIPVisionModel``.
        resolution: Default resolution centres (512, 768, 1024 for the released model).
        vae_scale: Latent scale (SDXL: 0.13025).
        vae_shift: Latent shift (SDXL: 0).
        model_id: A name for provenance (``tiny-random``, a folder or hub id).
        random_weights: True for the built-in tiny model, whose outputs are noise.
        encoder_kind: ``released`` (Gemma, CLIP and an SDXL-layout VAE, as the authors' model and
            ``tiny-random``) or ``world`` (the embedded model: MiniLM in both text roles, pixel-patch image
            tokens, pixel space; ``vae`` and the CLIP modules are None).
    """

    model_cpu_offload_seq = "text_encoder->clip_text_encoder->clip_image_encoder->vae->transformer"
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        transformer: PixWizardTransformer,
        vae,
        text_encoder,
        tokenizer,
        clip_text_encoder,
        clip_tokenizer,
        clip_image_encoder,
        resolution: list[int] | None = None,
        vae_scale: float = 0.13025,
        vae_shift: float = 0.0,
        model_id: str = "",
        random_weights: bool = False,
        encoder_kind: str = "released",
    ):
        if encoder_kind not in ENCODER_KINDS:
            raise ValueError(f"encoder_kind must be one of {', '.join(ENCODER_KINDS)}, got {encoder_kind!r}")
        self.register_modules(
            transformer=transformer,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            clip_text_encoder=clip_text_encoder,
            clip_tokenizer=clip_tokenizer,
            clip_image_encoder=clip_image_encoder,
        )
        self.register_to_config(
            resolution=list(resolution or [768]),
            vae_scale=vae_scale,
            vae_shift=vae_shift,
            model_id=model_id,
            random_weights=random_weights,
            encoder_kind=encoder_kind,
        )
        self._interrupt = False

    # ------------------------------------------------------------------------------------------------
    # Loading and placement
    # ------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path = "Afeng-x/PixWizard",
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | None = None,
        offload: str | None = None,
        vae_tiling: bool = False,
        compile: bool = False,
        ema: bool = True,
        gemma: str | Path | None = None,
        clip: str | Path | None = None,
        vae: str | Path | None = None,
        **kwargs,
    ) -> PixWizardPipeline:
        """Load a pipeline from ``tiny-random``, a folder, the authors' checkpoint, or a Hub repository.

        Args:
            pretrained_model_name_or_path: ``tiny-random`` (built in, random weights); a folder written by
                `save_pretrained` or ``pixwizard models fetch``; the authors' checkpoint folder or
                ``Afeng-x/PixWizard`` (the encoders then come from ``gemma``, ``clip`` and ``vae``, or their
                Hub repositories through the cache); or a Hub repository in our layout.
            device: ``auto`` (cuda, then mps, then cpu) or a device.
            dtype: Transformer and Gemma dtype (None: bfloat16 on CUDA, float32 elsewhere); CLIP and the
                VAE stay float32.
            offload: None, ``model`` (each model on the GPU only while it runs) or ``sequential``
                (layer by layer, for small GPUs).
            vae_tiling: Decode and encode large images in tiles.
            compile: ``torch.compile`` the transformer blocks.
            ema: For the authors' checkpoint, load the EMA weights (what they sample with).
            gemma: Gemma-2B folder or repository id (authors' layout only).
            clip: CLIP-L/14-336 folder or repository id (authors' layout only).
            vae: SDXL VAE folder or repository id (authors' layout only).
            **kwargs: For a folder in our layout: components (or configuration values) to use instead of
                the folder's.

        Returns:
            The pipeline, placed and configured.

        Raises:
            MissingWeightsError: If pieces of the model are missing; the message says how to get them.
        """
        from pixwizard.pipeline import loading
        from pixwizard.pipeline.names import check_model_name

        check_model_name(pretrained_model_name_or_path)  # a missing folder or a typo fails here, at once
        options = {"dtype": dtype, "ema": ema, "gemma": gemma, "clip": clip, "vae": vae, "kwargs": kwargs}
        pipe = loading.build(cls, str(pretrained_model_name_or_path), **options)
        return pipe.configure(
            device=device, dtype=dtype, offload=offload, vae_tiling=vae_tiling, compile=compile
        )

    def configure(
        self,
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | None = None,
        offload: str | None = None,
        vae_tiling: bool = False,
        compile: bool = False,
    ) -> PixWizardPipeline:
        """Place and cast the components; see `from_pretrained` for the arguments.

        Returns:
            The pipeline itself.
        """
        device = resolve_device(device)
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        self.transformer.to(dtype=dtype)
        self.text_encoder.to(dtype=dtype)
        if self.vae is not None:
            torch.nn.Module.to(self.vae, dtype=torch.float32)  # the SDXL VAE overflows in half precision
        if vae_tiling and self.vae is not None:
            self.vae.enable_tiling()
            self.vae.enable_slicing()
        if offload == "model":
            self.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            self.enable_sequential_cpu_offload(device=device)
        elif offload is None:
            self.to(device)
        else:
            raise ValueError(f"offload must be None, 'model' or 'sequential', got {offload!r}")
        if compile:
            for block in self.transformer.layers:
                block.compile()
        return self

    # ------------------------------------------------------------------------------------------------
    # Encoders (thin views over the registered modules)
    # ------------------------------------------------------------------------------------------------

    @property
    def _world(self) -> bool:
        return self.config.encoder_kind == "world"

    @property
    def text_tokens(self) -> TextTokens:
        """The per-token text encoder (released: Gemma-2B's penultimate layer; world: MiniLM)."""
        if self._world:
            return small.MiniLMTokens(self.text_encoder, self.tokenizer)
        return GemmaTextEncoder(self.text_encoder, self.tokenizer)

    @property
    def pooled_text(self) -> PooledText:
        """The pooled text encoder, the task embedding's input (released: CLIP-L text; world: MiniLM)."""
        if self._world:
            return small.MiniLMPooled(self.text_encoder, self.tokenizer)
        return ClipTextEncoder(self.clip_text_encoder, self.clip_tokenizer)

    @property
    def image_tokens(self) -> ImageTokens:
        """The image-token encoder (released: CLIP-L/14-336 patch tokens; world: pixel patches)."""
        if self._world:
            return small.PatchTokens()
        return ClipImageEncoder(self.clip_image_encoder)

    @property
    def codec(self) -> LatentCodec:
        """The latent codec with this model's scale and shift (released: the SDXL VAE; world: pixels)."""
        if self._world:
            return small.PixelCodec(self.config.vae_scale, self.config.vae_shift)
        return VaeCodec(self.vae, self.config.vae_scale, self.config.vae_shift)

    def interrupt(self) -> None:
        """Stop the running call at the end of its current step; it raises `GenerationCancelled`."""
        self._interrupt = True

    # ------------------------------------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------------------------------------

    def check_inputs(
        self,
        instructions: list[str],
        images: list,
        num_inference_steps: int,
        text_guidance_scale: float,
        image_guidance_scale: float,
        guidance_channels: int | None,
        time_shift: float,
    ) -> None:
        """Refuse bad arguments with a message that says what to change."""
        if not instructions:
            raise ValueError("give at least one instruction")
        if len(images) != len(instructions):
            raise ValueError(
                f"{len(instructions)} instructions but {len(images)} images; give one image per instruction"
            )
        for text in instructions:
            if not isinstance(text, str):
                raise TypeError(f"instructions must be strings, got {type(text).__name__}")
            if len(text) > MAX_INSTRUCTION_CHARS:
                raise ValueError(
                    f"instruction of {len(text)} characters; keep it under {MAX_INSTRUCTION_CHARS}"
                )
        if not 2 <= num_inference_steps <= MAX_STEPS:
            raise ValueError(
                f"num_inference_steps (grid points) must be in [2, {MAX_STEPS}], got {num_inference_steps}"
            )
        for name, scale in (
            ("text_guidance_scale", text_guidance_scale),
            ("image_guidance_scale", image_guidance_scale),
        ):
            if not (math.isfinite(scale) and 0.0 <= scale <= MAX_GUIDANCE):
                raise ValueError(f"{name} must be in [0, {MAX_GUIDANCE}], got {scale}")
        channels = self.transformer.config.in_channels
        if guidance_channels is not None and not 1 <= guidance_channels <= channels:
            raise ValueError(f"guidance_channels must be in [1, {channels}] or None, got {guidance_channels}")
        if not (math.isfinite(time_shift) and 0 < time_shift <= 100):
            raise ValueError(f"time_shift must be in (0, 100], got {time_shift}")

    def _prepare_items(self, instructions, images, centres, canvas_size, generators) -> list[_Item]:
        items = []
        for i, (text, image) in enumerate(zip(instructions, images, strict=True)):
            if image is None:
                width, height = canvas_size or (centres[0], centres[0])
                image = Image.new("RGB", (width, height), (255, 255, 255))  # the authors' blank canvas
            elif not isinstance(image, Image.Image):
                raise TypeError(f"image {i} must be a PIL image or None, got {type(image).__name__}")
            image = to_rgb(image)
            bucket, centre = choose_bucket(*image.size, centres)
            items.append(_Item(i, text, image, image.size, bucket, centre, generators[i]))
        return items

    # ------------------------------------------------------------------------------------------------
    # Call
    # ------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        instruction: str | Sequence[str],
        image: Image.Image | Sequence[Image.Image | None] | None = None,
        *,
        num_inference_steps: int = 60,
        text_guidance_scale: float = 4.0,
        image_guidance_scale: float = 1.0,
        guidance_channels: int | None = 3,
        solver: str | Solver = "euler",
        time_shift: float = 1.0,
        resolution: int | Sequence[int] | None = None,
        canvas_size: tuple[int, int] | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        token_selection: TokenSelection | str = TokenSelection.GUMBEL,
        vae_sample: bool = True,
        skip_exact_rows: bool = True,
        proportional_attn: bool = True,
        resize_to_input: bool = True,
        output_type: str = "pil",
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        return_dict: bool = True,
    ) -> PixWizardPipelineOutput | tuple:
        """Follow instructions on images.

        Args:
            instruction: One instruction or one per item.
            image: One image, one per item, or None for the blank white canvas (text-to-image).
            num_inference_steps: Points of the time grid (the solver makes one step fewer), as the authors.
            text_guidance_scale: ``w_T`` (1 turns text guidance off).
            image_guidance_scale: ``w_I`` (at 1, the default, the no-image row is skipped: it cancels).
            guidance_channels: Guided latent channels (3 as the authors); None guides all four.
            solver: ``euler`` (the authors'), ``heun``, ``midpoint``, or a `Solver` (e.g. `SchedulerSolver`).
            time_shift: Time shift ``s`` of the grid (1: uniform).
            resolution: Resolution centres to bucket into (default: the pipeline's).
            canvas_size: ``(w, h)`` of blank canvases for items without an image.
            generator: One generator, or one per item, on any device: each item's starting noise, VAE
                sample and Gumbel noise are drawn from its own, so with one generator per item an item's
                result does not depend on its batch-mates.
            token_selection: ``gumbel`` (the default, the authors' sampler: fresh Gumbel-perturbed
                selection at every step) or ``topk`` (deterministic and faster: the selection and the
                cross-attention keys/values are computed once per call; not the authors' result).
            vae_sample: Encode the input by sampling the VAE posterior (the authors) or take its mean.
            skip_exact_rows: Skip guidance rows that cancel exactly; False runs the authors' three rows.
            proportional_attn: Proportional attention with base ``(centre/16)²`` (the authors: on).
            resize_to_input: Resize results back to each input's size.
            output_type: ``pil``, ``np`` (float in [0, 1]), ``pt`` (tensor in [0, 1]) or ``latent``.
            callback_on_step_end: ``fn(pipe, step, t, {"latents": x}) -> dict`` after every step.
            callback_on_step_end_tensor_inputs: Names passed to the callback.
            return_dict: Return a `PixWizardPipelineOutput` (else a tuple).

        Returns:
            The results; see `PixWizardPipelineOutput`.

        Raises:
            GenerationCancelled: If interrupted.
        """
        # 1. Normalise and check inputs
        instructions = [instruction] if isinstance(instruction, str) else list(instruction)
        if image is None or isinstance(image, Image.Image):
            images = [image] * len(instructions)
        else:
            images = list(image)
        self.check_inputs(
            instructions,
            images,
            num_inference_steps,
            text_guidance_scale,
            image_guidance_scale,
            guidance_channels,
            time_shift,
        )
        unknown = set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs)
        if unknown:
            raise ValueError(
                f"callback tensor inputs {sorted(unknown)} not in {self._callback_tensor_inputs}"
            )
        if isinstance(generator, torch.Generator) or generator is None:
            generators = [generator] * len(instructions)
        else:
            generators = list(generator)
            if len(generators) != len(instructions):
                raise ValueError(f"{len(generators)} generators for {len(instructions)} items")
        solve = SOLVERS[solver] if isinstance(solver, str) and solver in SOLVERS else solver
        if isinstance(solver, str) and solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
        centres = [resolution] if isinstance(resolution, int) else list(resolution or self.config.resolution)
        items = self._prepare_items(instructions, images, centres, canvas_size, generators)
        grid = time_grid(num_inference_steps, time_shift)
        rows = rows_needed(text_guidance_scale, image_guidance_scale, skip_exact=skip_exact_rows)
        notes = []
        if self.config.random_weights:
            notes.append(f"{self.config.model_id or 'this model'} has random weights: its outputs are noise")
            logger.warning(notes[-1])

        # 2. Encode every instruction (and the empty prompt) once for the whole call
        device = self._execution_device
        prompts = [item.instruction for item in items] + [""]
        text = self.text_tokens(prompts)
        pooled = self.pooled_text(prompts)

        # 3. Sample each bucket group as one batch
        self._interrupt = False
        results: dict[int, Tensor] = {}
        groups: dict[tuple, list[_Item]] = {}
        for item in items:
            groups.setdefault((item.bucket, item.centre), []).append(item)
        total_steps = len(groups) * (len(grid) - 1)
        with self.progress_bar(total=total_steps) as progress:
            plan = _Plan(
                text=text,
                pooled=pooled,
                rows=rows,
                grid=grid,
                solve=solve,
                device=device,
                selection=TokenSelection(token_selection),
                vae_sample=vae_sample,
                progress=progress,
                callback=callback_on_step_end,
                callback_inputs=tuple(callback_on_step_end_tensor_inputs),
                guidance=Guidance(
                    text_guidance_scale, image_guidance_scale, guidance_channels, proportional_attn
                ),
            )
            for (bucket, centre), group in groups.items():
                latents = self._sample_group(group, bucket, centre, plan)
                for item, latent in zip(group, latents, strict=True):
                    results[item.index] = latent

        # 4. Decode and post-process
        output = self._postprocess(items, results, output_type, resize_to_input)
        self.maybe_free_model_hooks()
        if not return_dict:
            return output.images, output.bucket_images
        output.notes = notes
        return output

    def _rope_scaling(self, centre: int) -> tuple[float | None, float]:
        """Time-aware RoPE extrapolation: only above the 1024 centre (never with the authors' centres)."""
        if centre > 1024:
            return centre / 1024, TIME_AWARE_WATERSHED
        return None, 1.0

    def _sample_group(self, group: list[_Item], bucket: tuple[int, int], centre: int, plan: _Plan) -> Tensor:
        """Sample one bucket's items together; returns their final latents."""
        transformer = self.transformer
        channels = transformer.config.in_channels
        factor = self.codec.factor  # pixels per latent
        per_token = factor * transformer.config.patch_size  # pixels per image token along a side
        width, height = bucket
        # 3a. Starting noise first, then the VAE sample, per item generator (the authors' order)
        noise = torch.stack(
            [
                rng.randn(
                    (channels, height // factor, width // factor),
                    generator=item.generator,
                    device=plan.device,
                    dtype=torch.float32,
                )
                for item in group
            ]
        )
        pixels = torch.stack([pil_to_tensor(resize_to(item.image, bucket)) for item in group]).to(plan.device)
        cond_latents = torch.cat(
            [
                self.codec.encode(pixels[i : i + 1], generator=item.generator, sample=plan.vae_sample)
                for i, item in enumerate(group)
            ]
        ).float()
        clip_tokens = self.image_tokens(pixels)
        conds = self._row_conditions(
            group, plan.rows, plan.text, plan.pooled, cond_latents, clip_tokens, noise, plan.selection
        )
        rope_scale, watershed = self._rope_scaling(centre)
        guidance = dataclasses.replace(
            plan.guidance,
            base_seqlen=(centre // per_token) ** 2,
            rope_scale=rope_scale,
            rope_watershed=watershed,
        )
        step_offset = plan.progress.n

        def velocity(x: Tensor, t: float) -> Tensor:
            return denoise_step(transformer, x, t, conds, guidance)

        def on_step(i: int, t: float, x: Tensor) -> Tensor:
            if plan.callback is not None:
                values = {name: x for name in plan.callback_inputs}
                x = (plan.callback(self, step_offset + i, t, values) or {}).get("latents", x)
            plan.progress.update()
            if self._interrupt:
                raise GenerationCancelled("generation cancelled")
            return x

        return plan.solve(velocity, noise, plan.grid, on_step)

    def _row_conditions(
        self, group, rows, text, pooled, cond_latents, clip_tokens, noise, selection
    ) -> RowConditions:
        """Stack the rows: [prompt + image; empty prompt + image; empty prompt + no image (noise latent)]."""
        n = len(group)
        index = torch.tensor([item.index for item in group])
        empty = torch.full((n,), len(text.feats) - 1)
        text_rows = [index, empty, empty][:rows]
        feats = torch.cat([text.feats[i.to(text.feats.device)] for i in text_rows])
        mask = torch.cat([text.mask[i.to(text.mask.device)] for i in text_rows])
        pooled_rows = torch.cat([pooled[i.to(pooled.device)] for i in text_rows])
        latents = torch.cat([cond_latents, cond_latents, noise][:rows])
        clip = torch.cat([clip_tokens, clip_tokens, torch.zeros_like(clip_tokens)][:rows])
        no_image = torch.tensor([False] * (2 * n) + [True] * n)[: rows * n]
        generators = [item.generator for item in group]
        return RowConditions(
            rows, latents, clip, feats, mask, pooled_rows, no_image.to(latents.device), selection, generators
        )

    def _postprocess(self, items, results, output_type, resize_to_input) -> PixWizardPipelineOutput:
        ordered = [results[item.index] for item in items]
        buckets = [item.bucket for item in items]
        if output_type == "latent":
            return PixWizardPipelineOutput(ordered, ordered, buckets)
        decoded = [self.codec.decode(latent[None]).float()[0] for latent in ordered]  # (3, h, w) in [-1, 1]
        bucket_pils = [tensor_to_pil(image[None])[0] for image in decoded]
        final = [
            pil.resize(item.input_size, Image.Resampling.LANCZOS)
            if resize_to_input and pil.size != item.input_size
            else pil
            for pil, item in zip(bucket_pils, items, strict=True)
        ]
        if output_type == "pil":
            return PixWizardPipelineOutput(final, bucket_pils, buckets)
        as_array = [np.asarray(p, dtype=np.float32) / 255.0 for p in final]
        bucket_arrays = [np.asarray(p, dtype=np.float32) / 255.0 for p in bucket_pils]
        if output_type == "np":
            return PixWizardPipelineOutput(as_array, bucket_arrays, buckets)
        if output_type == "pt":
            to_pt = lambda a: torch.from_numpy(a).permute(2, 0, 1)  # noqa: E731
            return PixWizardPipelineOutput(
                [to_pt(a) for a in as_array], [to_pt(a) for a in bucket_arrays], buckets
            )
        raise ValueError(f"output_type must be pil, np, pt or latent, got {output_type!r}")


__all__ = ["GenerationCancelled", "PixWizardPipeline", "PixWizardPipelineOutput", "SchedulerSolver"]


def tiny_random(seed: int = 0, device: str | torch.device = "cpu") -> PixWizardPipeline:
    """A complete tiny pipeline with random weights (outputs are noise), built offline in about a second.

    Args:
        seed: Seed of every component's weights.
        device: Where to put it.
    """
    from pixwizard.pipeline.loading import build_tiny

    return build_tiny(PixWizardPipeline, seed).to(device)
