"""Flow-matching sampling: time grids, solvers and the guided loop body.

Convention: rectified flow with **t = 0 noise and t = 1 data**; the model predicts ``v = data − noise``
and a solver integrates ``dx/dt = v`` from t = 0 to 1. The authors integrate with Euler on
``linspace(0, 1, N)`` (``N − 1`` model evaluations); `time_grid` reproduces it, with their optional time
shift ``t / (t + s − s·t)``. Heun and midpoint are second-order alternatives, and `SchedulerSolver` plugs
in a diffusers flow-match scheduler (which counts time the other way: ``sigma = 1 − t`` and ``−v``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from pixwizard.model.guidance import OFFICIAL_GUIDED_CHANNELS, guide
from pixwizard.model.token_sampler import TokenSelection, gumbel_noise
from pixwizard.model.transformer import Conditions, PixWizardTransformer

VelocityFn = Callable[[Tensor, float], Tensor]
StepCallback = Callable[[int, float, Tensor], Tensor]


def time_grid(num_points: int, shift: float = 1.0) -> list[float]:
    """``linspace(0, 1, num_points)`` (float32, as the authors), time-shifted by ``t / (t + s − s·t)``.

    Args:
        num_points: Grid points; the solver makes ``num_points − 1`` steps.
        shift: ``s > 1`` spends more steps near the noise end; 1 is the identity.

    Returns:
        The grid as Python floats, from 0 to 1.
    """
    if num_points < 2:
        raise ValueError(f"num_inference_steps must be at least 2 grid points, got {num_points}")
    if shift <= 0:
        raise ValueError(f"time_shift must be positive, got {shift}")
    t = torch.linspace(0, 1, num_points, dtype=torch.float32)
    if shift != 1.0:
        t = t / (t + shift - shift * t)
    return t.tolist()


def euler_step(x: Tensor, v: Tensor, dt: float) -> Tensor:
    """One Euler update ``x + dt·v``."""
    return x + dt * v


class Solver(Protocol):
    """Integrates ``dx/dt = velocity(x, t)`` over a grid; ``on_step(i, t, x)`` may replace ``x``."""

    def __call__(self, velocity: VelocityFn, x: Tensor, grid: list[float], on_step: StepCallback) -> Tensor:
        """Integrate from ``grid[0]`` to ``grid[-1]`` starting at ``x``."""
        ...


def euler(velocity: VelocityFn, x: Tensor, grid: list[float], on_step: StepCallback) -> Tensor:
    """The authors' fixed-grid Euler: one evaluation per step."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        x = on_step(i, t0, euler_step(x, velocity(x, t0), t1 - t0))
    return x


def heun(velocity: VelocityFn, x: Tensor, grid: list[float], on_step: StepCallback) -> Tensor:
    """Heun's method (trapezoidal predictor-corrector): two evaluations per step."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        dt = t1 - t0
        v0 = velocity(x, t0)
        v1 = velocity(euler_step(x, v0, dt), t1)
        x = on_step(i, t0, x + dt * (v0 + v1) / 2)
    return x


def midpoint(velocity: VelocityFn, x: Tensor, grid: list[float], on_step: StepCallback) -> Tensor:
    """The explicit midpoint method: two evaluations per step."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        dt = t1 - t0
        x_mid = euler_step(x, velocity(x, t0), dt / 2)
        x = on_step(i, t0, euler_step(x, velocity(x_mid, t0 + dt / 2), dt))
    return x


class SchedulerSolver:
    """A diffusers flow-match scheduler (e.g. ``FlowMatchEulerDiscreteScheduler``) as a solver.

    The scheduler runs ``sigma`` from 1 (noise) to 0 and expects ``noise − data``; this adapter hands it
    ``sigma = 1 − t`` for our grid (so its step sizes are ours) and ``−v``, and gives the model
    ``t = 1 − timestep / num_train_timesteps``. Keep the scheduler's own ``shift`` at 1 and shift with
    the pipeline's ``time_shift`` instead (the scheduler would shift the grid a second time).

    Args:
        scheduler: The diffusers scheduler.
    """

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def __call__(self, velocity: VelocityFn, x: Tensor, grid: list[float], on_step: StepCallback) -> Tensor:
        """Integrate with the scheduler's ``step``."""
        sched = self.scheduler
        # A fresh state every call; an array, since some schedulers (UniPC) compute on the sigmas
        sched.set_timesteps(sigmas=np.array([1.0 - t for t in grid[:-1]]), device=x.device)
        total = sched.config.num_train_timesteps
        for i, timestep in enumerate(sched.timesteps):
            t = float(1.0 - timestep / total)
            x = on_step(i, t, sched.step(-velocity(x, t), timestep, x, return_dict=False)[0])
        return x


SOLVERS: dict[str, Solver] = {"euler": euler, "heun": heun, "midpoint": midpoint}
EVALUATIONS_PER_STEP = {"euler": 1, "heun": 2, "midpoint": 2}


@dataclass
class Guidance:
    """How rows are combined and how the transformer is called at every step.

    Attributes:
        text_scale: ``w_T``; 1 turns text guidance off.
        image_scale: ``w_I``; 1 makes the no-image row cancel exactly.
        channels: Guided latent channels (the authors: 3); None guides all.
        proportional_attn: Scale self-attention by ``√(log_base N / Dh)``.
        base_seqlen: The base ``(centre/16)²`` of proportional attention.
        rope_scale: Time-aware RoPE extrapolation factor (None: none).
        rope_watershed: Time where it switches from linear to θ scaling.
    """

    text_scale: float = 4.0
    image_scale: float = 1.0
    channels: int | None = OFFICIAL_GUIDED_CHANNELS
    proportional_attn: bool = True
    base_seqlen: int | None = None
    rope_scale: float | None = None
    rope_watershed: float = 1.0


def rows_needed(text_scale: float, image_scale: float, *, skip_exact: bool = True) -> int:
    """Guidance rows a step needs: 3 (cond, image-only, no-image), 2 or 1.

    With ``image_scale == 1`` the no-image row cancels exactly, and with both scales at 1 only the
    conditional row is left. ``skip_exact=False`` keeps all three (the authors' batch).
    """
    if not skip_exact or image_scale != 1.0:
        return 3
    return 2 if text_scale != 1.0 else 1


@dataclass
class RowConditions:
    """The prepared per-row conditions of ``n`` items, rows stacked ``[cond; image-only; no-image]``.

    Attributes:
        rows: Number of rows (1, 2 or 3).
        input_x: ``(rows·n, C, H, W)`` condition latents.
        input_clip_x: ``(rows·n, N, Ci)`` CLIP tokens.
        cap_feats: ``(rows·n, Lt, Ccap)`` text features.
        cap_mask: ``(rows·n, Lt)`` text mask.
        cap_pooled_feats: ``(rows·n, Ccls)`` pooled CLIP text.
        no_image: ``(rows·n,)`` no-image flags.
        token_selection: ``topk`` (prepared once) or ``gumbel`` (fresh noise at every step).
        generators: One source of Gumbel noise per item, in item order, on any device (None: the global
            generator). Each item draws its own image rows' noise ``(rows with an image, n_layers, N)``
            at every step, so its selections do not depend on its batch-mates or on whether the
            no-image row is run; the no-image row gets none (its CLIP tokens are zeros, so which of
            them it keeps changes nothing, and the authors draw none for it either).
    """

    rows: int
    input_x: Tensor
    input_clip_x: Tensor
    cap_feats: Tensor
    cap_mask: Tensor
    cap_pooled_feats: Tensor
    no_image: Tensor
    token_selection: TokenSelection = TokenSelection.TOPK
    generators: Sequence[torch.Generator | None] | None = None
    _prepared: Conditions | None = field(default=None, repr=False)

    def prepared(self, model: PixWizardTransformer) -> Conditions:
        """The model's `Conditions`: computed once in top-k mode, afresh in Gumbel mode."""
        if self._prepared is not None:
            return self._prepared
        gumbel = TokenSelection(self.token_selection) is TokenSelection.GUMBEL
        conditions = model.prepare_conditions(
            self.input_clip_x,
            self.cap_feats,
            self.cap_mask,
            self.cap_pooled_feats,
            no_image=self.no_image,
            token_selection=self.token_selection,
            gumbel=self.gumbel_noise(len(model.layers)) if gumbel else None,
        )
        if not gumbel:
            self._prepared = conditions
        return conditions

    def gumbel_noise(self, n_layers: int) -> Tensor:
        """Fresh ``(n_layers, rows·n, N)`` Gumbel noise, each item's from its own generator (float32)."""
        n = self.input_x.shape[0] // self.rows
        tokens = self.input_clip_x.shape[1]
        image_rows = min(self.rows, 2)  # rows [cond; image-only] have an image, row 2 does not
        generators = list(self.generators) if self.generators is not None else [None] * n
        if len(generators) != n:
            raise ValueError(f"{len(generators)} generators for {n} items")
        device = self.input_clip_x.device
        draws = torch.stack(
            [
                gumbel_noise((image_rows, n_layers, tokens), generator=g, device=device, dtype=torch.float32)
                for g in generators
            ]
        )  # (n, image rows, n_layers, N)
        noise = rearrange(draws, "n r l k -> l (r n) k")
        if self.rows > image_rows:
            noise = torch.cat([noise, noise.new_zeros(n_layers, (self.rows - image_rows) * n, tokens)], 1)
        return noise


def denoise_step(
    model: PixWizardTransformer, x: Tensor, t: float | Tensor, conds: RowConditions, guidance: Guidance
) -> Tensor:
    """The guided velocity at one point of the trajectory (the body of every sampling loop).

    Args:
        model: The transformer.
        x: ``(n, C, H, W)`` current state.
        t: Flow time, a float or ``(n,)``.
        conds: The rows' prepared conditions.
        guidance: Scales, guided channels and attention options.

    Returns:
        ``(n, C, H, W)`` guided velocity in ``x``'s dtype.
    """
    n = x.shape[0]
    t_rows = (torch.full((n,), float(t)) if not isinstance(t, Tensor) else t.reshape(-1).expand(n)).repeat(
        conds.rows
    )
    out = model.forward_prepared(
        x.repeat(conds.rows, 1, 1, 1),
        t_rows.to(x.device),
        conds.input_x,
        conds.prepared(model),
        rope_scale=guidance.rope_scale,
        rope_watershed=guidance.rope_watershed,
        proportional_attn=guidance.proportional_attn,
        base_seqlen=guidance.base_seqlen,
    )
    rows = out.float().chunk(conds.rows)
    if conds.rows == 1:
        return rows[0].to(x.dtype)
    v_uncond = rows[2] if conds.rows == 3 else None
    return guide(rows[0], rows[1], v_uncond, guidance.text_scale, guidance.image_scale, guidance.channels).to(
        x.dtype
    )
