"""PixWizard diffusion transformer (Lin et al., "PixWizard", arXiv 2409.15278), checkpoint-compatible.

Notable features:
- Patch embedding of ``[noisy latent, condition latent]`` (channel-concatenated, channel-major patches).
- 2-D RoPE with θ ("NTK") or linear (time-aware) scaling and proportional attention, both per call.
- Self-attention with grouped-query heads and full-width qk LayerNorms; two gated cross-attentions that
  reuse the rotated queries: to ``K`` CLIP image tokens picked by a task-aware token sampler, and to the
  Gemma text tokens.
- Conditioning ``c = t_emb + task_emb(CLIP text) + global(mean CLIP image tokens)``; scale-only adaLN
  with tanh gates and sandwich RMSNorms; a scale-only final layer; the unused ``learn_sigma`` half.
- Ragged batches padded once with a learned pad token and key masks; no per-item loops in the blocks.
- The per-call invariant work (token selection and the cross-attention keys/values of every block) is
  done once by `prepare_conditions` and reused across sampling steps.

Parameter names are the official state-dict keys (Ref: AFeng-x/PixWizard@cb39454:models/model.py), so the
released weights load with ``strict=True``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from pixwizard.errors import ConfigError
from pixwizard.model import rng
from pixwizard.model.blocks import Conditions, CrossKV, FinalLayer, PixWizardBlock
from pixwizard.model.configured import ConfiguredModule, records_config
from pixwizard.model.guidance import OFFICIAL_GUIDED_CHANNELS, guide
from pixwizard.model.layers import RMSNorm, TimestepEmbedder, check_shape, ffn_hidden_dim, rope_table
from pixwizard.model.token_sampler import TokenSelection, gumbel_noise

Latents = Tensor | Sequence[Tensor]

__all__ = ["Conditions", "CrossKV", "Latents", "PixWizardTransformer"]


PREDICTIONS = ("velocity", "data")
DATA_PREDICTION_MIN_GAP = 0.05
"""Smallest ``1 − t`` dividing a data prediction into a velocity (the division is unbounded at t = 1)."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


class PixWizardTransformer(ConfiguredModule):
    """The PixWizard transformer; predicts the flow velocity of the target latent.

    Args:
        patch_size: Patch side ``p`` in latent pixels.
        in_channels: Latent channels ``C`` (the input has ``2C``: noisy latent, then condition latent).
        dim: Hidden size ``D``.
        n_layers: Number of blocks.
        n_heads: Query heads ``Hd``.
        n_kv_heads: Key/value heads ``Hkv`` (None: ``Hd``, no grouping).
        multiple_of: The MLP width is rounded up to a multiple of this.
        ffn_dim_multiplier: Optional factor on the MLP width.
        norm_eps: Epsilon of the RMSNorms.
        learn_sigma: The final layer predicts ``2C`` channels and the second half is dropped.
        qk_norm: LayerNorms on queries and all keys.
        cap_feat_dim: Width of the text features (Gemma-2B: 2048).
        cap_clip_feat_dim: Width of the pooled CLIP text embedding (CLIP-L: 768).
        sample_tokens: CLIP image tokens kept by each block's token sampler (``K``).
        scale_factor: θ multiplier of RoPE when a call gives no scaling of its own.
        image_token_dim: Width of the CLIP image tokens (CLIP-L/14-336: 1024).
        rope_theta: RoPE base θ.
        prediction: What the final layer predicts: ``velocity`` (the released model) or ``data``, the clean
            target ``x̂``, returned as the velocity ``(x̂ − x) / (1 − t)`` (with ``1 − t`` at least
            ``DATA_PREDICTION_MIN_GAP``), so samplers, guidance and the velocity loss are unchanged. In
            pixel space with large patches a token must otherwise output a patch of noise, which a small
            model cannot; predicting the image keeps what it outputs on the data (Li & He 2025, "Back to
            basics: let denoising generative models denoise").
    """

    _no_split_modules = ["PixWizardBlock"]

    @records_config
    def __init__(
        self,
        patch_size: int = 2,
        in_channels: int = 4,
        dim: int = 2304,
        n_layers: int = 24,
        n_heads: int = 32,
        n_kv_heads: int | None = 8,
        multiple_of: int = 256,
        ffn_dim_multiplier: float | None = None,
        norm_eps: float = 1e-5,
        learn_sigma: bool = True,
        qk_norm: bool = True,
        cap_feat_dim: int = 2048,
        cap_clip_feat_dim: int = 768,
        sample_tokens: int = 256,
        scale_factor: float = 1.0,
        image_token_dim: int = 1024,
        rope_theta: float = 10000.0,
        prediction: str = "velocity",
    ):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ConfigError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if dim % n_heads or n_heads % n_kv_heads:
            raise ConfigError(
                f"dim={dim} must divide into n_heads={n_heads}, and n_heads into n_kv_heads={n_kv_heads}"
            )
        if (dim // n_heads) % 4:
            raise ConfigError(f"head dim {dim // n_heads} must be a multiple of 4 for 2-D RoPE")
        self.head_dim = dim // n_heads
        out_channels = 2 * in_channels if learn_sigma else in_channels
        cond_dim = min(dim, 1024)

        self.pad_token = nn.Parameter(torch.empty(dim))
        self.x_embedder = nn.Linear(patch_size * patch_size * 2 * in_channels, dim)
        self.t_embedder = TimestepEmbedder(cond_dim)
        self.task_embedder = nn.Sequential(
            nn.LayerNorm(cap_clip_feat_dim), nn.Linear(cap_clip_feat_dim, cond_dim)
        )
        self.global_semantic_embedder = nn.Sequential(
            nn.LayerNorm(image_token_dim), nn.Linear(image_token_dim, cond_dim)
        )
        ffn_dim = ffn_hidden_dim(dim, multiple_of, ffn_dim_multiplier)
        self.layers = nn.ModuleList(
            PixWizardBlock(
                dim,
                n_heads,
                n_kv_heads,
                ffn_dim,
                norm_eps,
                qk_norm,
                cap_feat_dim,
                cond_dim,
                image_token_dim,
                sample_tokens,
            )
            for _ in range(n_layers)
        )
        self.final_layer = FinalLayer(dim, patch_size * patch_size * out_channels, cond_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """From-scratch initialisation of the authors' recipe (zero gates, adaLN and final layer)."""
        # Modules not named here (qk norms, the sampler's in_conv/out_conv, LayerNorms) keep PyTorch's init.
        nn.init.normal_(self.pad_token, std=0.02)
        nn.init.xavier_uniform_(self.x_embedder.weight)
        nn.init.zeros_(self.x_embedder.bias)
        for linear in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)
        for embedder in (self.task_embedder, self.global_semantic_embedder):
            nn.init.zeros_(embedder[1].weight)
            nn.init.zeros_(embedder[1].bias)
        for block in self.layers:
            attn = block.attention
            for linear in (
                attn.wq,
                attn.wk,
                attn.wv,
                attn.wk_ii,
                attn.wv_ii,
                attn.wk_y,
                attn.wv_y,
                attn.wo,
                block.feed_forward.w1,
                block.feed_forward.w2,
                block.feed_forward.w3,
                block.y_pool_proj,
                block.input_image_proj,
            ):
                nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(attn.gate_for_ii)
            nn.init.zeros_(attn.gate)
            nn.init.zeros_(block.adaLN_modulation[1].weight)
            nn.init.zeros_(block.adaLN_modulation[1].bias)
        for param in self.final_layer.parameters():
            nn.init.zeros_(param)

    @torch.no_grad()
    def randomize_(self, seed: int = 0, std: float = 0.02) -> PixWizardTransformer:
        """Draw every parameter at random so that every path changes the output (tiny test models).

        The from-scratch recipe zeroes gates, adaLN and the final layer, which makes a fresh model's
        output constant; tests and the built-in ``tiny-random`` model need all paths live. Norm weights
        become ``1 + noise``, everything else ``noise``.

        Args:
            seed: Seed of the draw (a CPU generator; the result does not depend on the device).
            std: Standard deviation of the noise.

        Returns:
            The model itself.
        """
        generator = torch.Generator().manual_seed(seed)
        for param in self.parameters():
            param.copy_(rng.randn(param.shape, generator=generator) * std)  # drawn on the CPU, copied
        for module in self.modules():
            if isinstance(module, (RMSNorm, nn.LayerNorm)) and module.weight is not None:
                module.weight.add_(1.0)
        return self

    # ----------------------------------------------------------------------------------------------------
    # Conditions (once per call)
    # ----------------------------------------------------------------------------------------------------

    def prepare_conditions(
        self,
        input_clip_x: Tensor,
        cap_feats: Tensor,
        cap_mask: Tensor,
        cap_pooled_feats: Tensor,
        *,
        no_image: Tensor | None = None,
        token_selection: TokenSelection | str = TokenSelection.TOPK,
        generator: torch.Generator | None = None,
        gumbel: Tensor | None = None,
    ) -> Conditions:
        """Encode the per-item conditions that stay fixed during sampling.

        Args:
            input_clip_x: CLIP image tokens ``(B, N, Ci)``.
            cap_feats: Text features ``(B, Lt, Ccap)``.
            cap_mask: ``(B, Lt)``, nonzero for real tokens; every item needs at least one.
            cap_pooled_feats: Pooled CLIP text embedding ``(B, Ccls)`` (the task embedding's input).
            no_image: ``(B,)`` bool, True for items without an image condition (their CLIP tokens are
                treated as zeros, as the authors' "no image" row). None: every item has an image.
            token_selection: ``"topk"`` (deterministic) or ``"gumbel"`` (fresh noise on every call).
            generator: Source of the Gumbel noise.
            gumbel: ``(n_layers, B, N)`` Gumbel noise to use instead of drawing it (the trainer draws it
                per item so that a run does not depend on how its batch is split).

        Returns:
            The prepared `Conditions`.
        """
        cfg = self.config
        batch = input_clip_x.shape[0]
        check_shape("input_clip_x", input_clip_x, (batch, None, cfg.image_token_dim))
        kept, given = cfg.sample_tokens, input_clip_x.shape[1]
        _check(given >= kept, f"the model keeps {kept} CLIP tokens per image but input_clip_x has {given}")
        check_shape("cap_feats", cap_feats, (batch, None, cfg.cap_feat_dim))
        check_shape("cap_mask", cap_mask, tuple(cap_feats.shape[:2]))
        check_shape("cap_pooled_feats", cap_pooled_feats, (batch, cfg.cap_clip_feat_dim))
        dtype = self.dtype
        clip = input_clip_x.to(dtype)
        if no_image is not None:
            check_shape("no_image", no_image, (batch,))
            flags = no_image.to(clip.device, torch.bool)[:, None, None]
            clip = torch.where(flags, torch.zeros_like(clip), clip)
        task_emb = self.task_embedder(cap_pooled_feats.to(dtype))  # (B, Dc)
        static_c = task_emb + self.global_semantic_embedder(clip.mean(dim=1))  # (B, Dc)
        noise = None
        if TokenSelection(token_selection) is TokenSelection.GUMBEL:
            shape = (len(self.layers), batch, clip.shape[1])
            if gumbel is not None:
                check_shape("gumbel", gumbel, shape)
                noise = gumbel.to(clip.device, dtype)
            else:
                noise = gumbel_noise(shape, generator=generator, device=clip.device, dtype=dtype)
        cond = Conditions(static_c, task_emb, clip, cap_feats.to(dtype), cap_mask.bool(), noise, None)
        # Sampling reuses the cross-attention keys/values across steps, so they are computed here once. In
        # training each block computes its own inside its forward: that is what activation checkpointing
        # recomputes, and under FSDP2 a block's weights are gathered only during its forward.
        if not (self.training and torch.is_grad_enabled()):
            cond.cross = [
                block.cross_kv(cond, None if noise is None else noise[i])
                for i, block in enumerate(self.layers)
            ]
        return cond

    # ----------------------------------------------------------------------------------------------------
    # Forward
    # ----------------------------------------------------------------------------------------------------

    def forward(
        self,
        x: Latents,
        t: Tensor,
        input_x: Latents,
        input_clip_x: Tensor,
        cap_feats: Tensor,
        cap_mask: Tensor,
        cap_pooled_feats: Tensor,
        *,
        no_image: Tensor | None = None,
        token_selection: TokenSelection | str = TokenSelection.TOPK,
        generator: torch.Generator | None = None,
        gumbel: Tensor | None = None,
        rope_scale: float | None = None,
        rope_watershed: float = 1.0,
        proportional_attn: bool = False,
        base_seqlen: int | None = None,
    ) -> Latents:
        """Predict the velocity of noisy latents ``x`` given condition latents and encoded conditions.

        Args:
            x: Noisy target latents ``(B, C, H, W)``, or a list of ``(C, H_i, W_i)`` for a ragged batch.
            t: Flow times ``(B,)`` in [0, 1] (0 noise, 1 data).
            input_x: Condition latents, same shapes as ``x``.
            input_clip_x: CLIP image tokens ``(B, N, Ci)``.
            cap_feats: Text features ``(B, Lt, Ccap)``.
            cap_mask: Text mask ``(B, Lt)``.
            cap_pooled_feats: Pooled CLIP text embedding ``(B, Ccls)``.
            no_image: ``(B,)`` bool flags of items without an image condition.
            token_selection: ``"topk"`` or ``"gumbel"``.
            generator: Source of the Gumbel noise.
            gumbel: Explicit ``(n_layers, B, N)`` Gumbel noise (see `prepare_conditions`).
            rope_scale: RoPE extrapolation factor for this call: linear position scaling for items with
                ``t < rope_watershed``, θ scaling otherwise. None: the constructor's ``scale_factor`` as θ.
            rope_watershed: Time at which the scaling switches from linear to θ.
            proportional_attn: Scale self-attention by ``√(log_base(N)/Dh)``, ``N`` each item's tokens.
            base_seqlen: The ``base`` of proportional attention (``(centre/16)²``).

        Returns:
            Velocities shaped like ``x`` (a tensor, or a list for a list input).
        """
        cond = self.prepare_conditions(
            input_clip_x,
            cap_feats,
            cap_mask,
            cap_pooled_feats,
            no_image=no_image,
            token_selection=token_selection,
            generator=generator,
            gumbel=gumbel,
        )
        return self.forward_prepared(
            x,
            t,
            input_x,
            cond,
            rope_scale=rope_scale,
            rope_watershed=rope_watershed,
            proportional_attn=proportional_attn,
            base_seqlen=base_seqlen,
        )

    def forward_prepared(
        self,
        x: Latents,
        t: Tensor,
        input_x: Latents,
        cond: Conditions,
        *,
        rope_scale: float | None = None,
        rope_watershed: float = 1.0,
        proportional_attn: bool = False,
        base_seqlen: int | None = None,
    ) -> Latents:
        """`forward` with conditions from `prepare_conditions` (reused across sampling steps)."""
        batch = cond.static_c.shape[0]
        tokens, mask, sizes = self._embed_patches(x, input_x, batch)  # (B, L, D)
        _check(tuple(t.shape) == (batch,), f"t must be ({batch},), got {tuple(t.shape)}")
        rope = self._rope(sizes, tokens.shape[1], t, rope_scale, rope_watershed, tokens.device)
        scale = None
        if proportional_attn:
            _check(base_seqlen is not None and base_seqlen > 1, "proportional_attn needs base_seqlen > 1")
            counts = torch.tensor([h * w for h, w in sizes], dtype=torch.float32, device=tokens.device)
            scale = torch.sqrt(torch.log(counts) / math.log(base_seqlen) / self.head_dim)
        c = self.t_embedder(t.to(tokens.device)) + cond.static_c  # (B, Dc)

        for i, block in enumerate(self.layers):
            cross = None if cond.cross is None else cond.cross[i]
            noise = None if cond.noise is None else cond.noise[i]
            if self.gradient_checkpointing and torch.is_grad_enabled():
                tokens = self._gradient_checkpointing_func(
                    block, tokens, c, rope, mask, scale, cross, cond, noise
                )
            else:
                tokens = block(tokens, c, rope, mask, scale, cross, cond, noise)

        out = self.final_layer(tokens, c)  # (B, L, p·p·C_out)
        out = self._unpatchify(out, sizes, isinstance(x, Tensor))
        if self.config.prediction == "data":
            gap = (1 - t.float()).clamp_min(DATA_PREDICTION_MIN_GAP)
            if isinstance(x, Tensor):
                return ((out.float() - x.float()) / gap.view(-1, 1, 1, 1)).to(out.dtype)
            return [((o.float() - xi.float()) / g).to(o.dtype) for o, xi, g in zip(out, x, gap, strict=True)]
        return out

    def forward_with_cfg(
        self,
        x: Tensor,
        t: Tensor,
        input_x: Tensor,
        input_clip_x: Tensor,
        cap_feats: Tensor,
        cap_mask: Tensor,
        cap_pooled_feats: Tensor,
        *,
        text_cfg_scale: float,
        image_cfg_scale: float,
        guidance_channels: int | None = OFFICIAL_GUIDED_CHANNELS,
        no_image: Tensor | None = None,
        **kwargs,
    ) -> Tensor:
        """The authors' three-row guided forward, with their output layout.

        Rows (each a third of the batch): prompt + image, empty prompt + image, empty prompt + no image.
        Only the first third of ``x`` is used. Every row of the result holds the guided prediction on
        channels ``[0, guidance_channels)`` and its own prediction elsewhere (channel 3 of the released
        model); a sampler keeps the first third.

        Args:
            x: ``(3n, C, H, W)`` ODE state (its first third is used for all rows).
            t: ``(3n,)`` flow times.
            input_x: ``(3n, C, H, W)`` condition latents per row.
            input_clip_x: ``(3n, N, Ci)`` CLIP tokens per row.
            cap_feats: ``(3n, Lt, Ccap)`` text features per row.
            cap_mask: ``(3n, Lt)`` text mask per row.
            cap_pooled_feats: ``(3n, Ccls)`` pooled CLIP text per row.
            text_cfg_scale: ``w_T``.
            image_cfg_scale: ``w_I``.
            guidance_channels: Guided channels (3, as the authors); None guides all.
            no_image: ``(3n,)`` flags; by default the last third is the no-image row.
            **kwargs: Passed to `forward` (RoPE scaling, proportional attention, token selection).

        Returns:
            ``(3n, C, H, W)``.
        """
        _check(x.shape[0] % 3 == 0, f"forward_with_cfg needs a batch of 3 rows per item, got {x.shape[0]}")
        n = x.shape[0] // 3
        if no_image is None:
            no_image = torch.arange(3 * n, device=x.device) >= 2 * n
        out = self(
            x[:n].repeat(3, 1, 1, 1),
            t,
            input_x,
            input_clip_x,
            cap_feats,
            cap_mask,
            cap_pooled_feats,
            no_image=no_image,
            **kwargs,
        )
        v_cond, v_image, v_uncond = out.chunk(3)
        guided = guide(v_cond, v_image, v_uncond, text_cfg_scale, image_cfg_scale, None)
        channels = out.shape[1] if guidance_channels is None else min(guidance_channels, out.shape[1])
        out = out.clone()
        out[:, :channels] = guided[:, :channels].repeat(3, 1, 1, 1)
        return out

    # ----------------------------------------------------------------------------------------------------
    # Patches and positions
    # ----------------------------------------------------------------------------------------------------

    def _embed_patches(self, x: Latents, input_x: Latents, batch: int) -> tuple[Tensor, Tensor | None, list]:
        """Patchify ``[x, input_x]`` and embed; a ragged list is padded once with the pad token."""
        p, channels = self.config.patch_size, self.config.in_channels
        dtype = self.dtype
        if isinstance(x, Tensor):
            _check(
                x.ndim == 4 and x.shape[0] == batch and x.shape[1] == channels,
                f"x must be ({batch}, {channels}, H, W), got {tuple(x.shape)}",
            )
            _check(
                isinstance(input_x, Tensor) and input_x.shape == x.shape,
                f"input_x must match x {tuple(x.shape)}",
            )
            _check(x.shape[2] % p == 0 and x.shape[3] % p == 0, f"latent size must be divisible by {p}")
            patches = rearrange(
                torch.cat([x, input_x], dim=1).to(dtype), "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p
            )
            return self.x_embedder(patches), None, [(x.shape[2] // p, x.shape[3] // p)] * batch
        _check(len(x) == batch and len(input_x) == batch, f"x and input_x must hold {batch} latents each")
        items, sizes = [], []
        for xi, ci in zip(x, input_x, strict=True):
            _check(
                xi.ndim == 3 and xi.shape[0] == channels and ci.shape == xi.shape,
                f"each latent must be ({channels}, H, W) with a matching condition, got {tuple(xi.shape)}",
            )
            _check(xi.shape[1] % p == 0 and xi.shape[2] % p == 0, f"latent size must be divisible by {p}")
            items.append(
                rearrange(torch.cat([xi, ci]).to(dtype), "c (h p1) (w p2) -> (h w) (c p1 p2)", p1=p, p2=p)
            )
            sizes.append((xi.shape[1] // p, xi.shape[2] // p))
        patches = nn.utils.rnn.pad_sequence(items, batch_first=True)  # (B, L, p·p·2C)
        lengths = torch.tensor([len(item) for item in items], device=patches.device)
        mask = torch.arange(patches.shape[1], device=patches.device)[None] < lengths[:, None]  # (B, L)
        tokens = torch.where(mask[..., None], self.x_embedder(patches), self.pad_token.to(dtype))
        return tokens, (None if bool(mask.all()) else mask), sizes

    def _rope(
        self,
        sizes: list,
        seq_len: int,
        t: Tensor,
        rope_scale: float | None,
        watershed: float,
        device: torch.device,
    ) -> tuple[Tensor, Tensor]:
        """Per-item RoPE cos/sin ``(B, L, Dh/2)``; padding rows repeat the item's last position."""
        batch = len(sizes)
        if rope_scale is None:
            modes = [(float(self.config.scale_factor), 1.0)] * batch  # (θ factor, linear factor)
        elif rope_scale == 1.0:
            modes = [(1.0, 1.0)] * batch
        else:
            # The scaling mode depends on each item's time: a host sync, paid only when extrapolating.
            modes = [(1.0, rope_scale) if ti < watershed else (rope_scale, 1.0) for ti in t.tolist()]
        theta = float(self.config.rope_theta)
        tables = [
            rope_table(h, w, self.head_dim, theta, ntk, lin, device)
            for (h, w), (ntk, lin) in zip(sizes, modes, strict=True)
        ]
        if all(size == sizes[0] for size in sizes) and all(mode == modes[0] for mode in modes):
            cos, sin = tables[0]
            return cos.expand(batch, -1, -1), sin.expand(batch, -1, -1)

        def padded(table: Tensor) -> Tensor:
            return torch.cat([table, table[-1:].expand(seq_len - table.shape[0], -1)])

        return torch.stack([padded(c) for c, _ in tables]), torch.stack([padded(s) for _, s in tables])

    def _unpatchify(self, out: Tensor, sizes: list, batched: bool) -> Latents:
        """Patch outputs (channel-minor) → latents; drops padding and the learn_sigma half."""
        p, channels = self.config.patch_size, self.config.in_channels
        if batched:
            h, w = sizes[0]
            latents = rearrange(out, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=h, w=w, p1=p, p2=p)
            return latents[:, :channels]
        return [
            rearrange(out[i, : h * w], "(h w) (p1 p2 c) -> c (h p1) (w p2)", h=h, w=w, p1=p, p2=p)[:channels]
            for i, (h, w) in enumerate(sizes)
        ]
