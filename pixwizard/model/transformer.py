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
from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from einops import rearrange
from torch import Tensor, nn

from pixwizard.errors import ConfigError
from pixwizard.model.attention import attention
from pixwizard.model.guidance import OFFICIAL_GUIDED_CHANNELS, guide
from pixwizard.model.layers import (
    FeedForward,
    RMSNorm,
    TimestepEmbedder,
    apply_rope,
    ffn_hidden_dim,
    modulate,
    rope_table,
)
from pixwizard.model.token_sampler import TokenSelection, gumbel_noise, importance_logits, select_tokens

Latents = Tensor | Sequence[Tensor]


@dataclass
class CrossKV:
    """Keys and values of one block's two cross-attentions (image tokens, text tokens)."""

    image_k: Tensor  # (B, K, Hkv, Dh)
    image_v: Tensor  # (B, K, Hkv, Dh)
    text_k: Tensor  # (B, Lt, Hkv, Dh)
    text_v: Tensor  # (B, Lt, Hkv, Dh)
    text_mask: Tensor  # (B, Lt) bool


@dataclass
class Conditions:
    """Everything about a batch that does not change between sampling steps.

    Built by `PixWizardTransformer.prepare_conditions`. ``cross`` holds each block's cross-attention keys
    and values when they were computed up front; it is None under gradient checkpointing, where each
    block recomputes its own inside the checkpoint to save memory.
    """

    static_c: Tensor  # (B, Dc) task embedding + global CLIP embedding
    task_emb: Tensor  # (B, Dc)
    clip_tokens: Tensor  # (B, N, Ci), zero for no-image items
    cap_feats: Tensor  # (B, Lt, Ccap)
    cap_mask: Tensor  # (B, Lt) bool
    noise: Tensor | None  # (n_layers, B, N) Gumbel noise, None for deterministic top-k
    cross: list[CrossKV] | None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


class Attention(nn.Module):
    """Self-attention plus gated image and text cross-attention, summed per head before ``wo``."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, qk_norm: bool, cap_feat_dim: int):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, dim // n_heads
        kv_dim = n_kv_heads * self.head_dim
        self.gate_for_ii = nn.Parameter(torch.zeros(n_heads))
        self.gate = nn.Parameter(torch.zeros(n_heads))
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, kv_dim, bias=False)
        self.wv = nn.Linear(dim, kv_dim, bias=False)
        self.wk_ii = nn.Linear(dim, kv_dim, bias=False)
        self.wv_ii = nn.Linear(dim, kv_dim, bias=False)
        self.wk_y = nn.Linear(cap_feat_dim, kv_dim, bias=False)
        self.wv_y = nn.Linear(cap_feat_dim, kv_dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        norm = (lambda width: nn.LayerNorm(width)) if qk_norm else (lambda width: nn.Identity())
        # Full-width LayerNorms before the head split, default eps (not norm_eps), as in the checkpoint.
        self.q_norm, self.k_norm = norm(dim), norm(kv_dim)
        self.kii_norm, self.ky_norm = norm(kv_dim), norm(kv_dim)

    def _heads(self, x: Tensor) -> Tensor:
        return rearrange(x, "b l (h d) -> b l h d", d=self.head_dim)

    def image_kv(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values ``(B, K, Hkv, Dh)`` of normed selected image tokens ``(B, K, D)``."""
        return self._heads(self.kii_norm(self.wk_ii(tokens))), self._heads(self.wv_ii(tokens))

    def text_kv(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values ``(B, Lt, Hkv, Dh)`` of normed text features ``(B, Lt, Ccap)``."""
        return self._heads(self.ky_norm(self.wk_y(y))), self._heads(self.wv_y(y))

    def forward(
        self, a: Tensor, rope: tuple[Tensor, Tensor], mask: Tensor | None, scale: Tensor | None, cross: CrossKV
    ) -> Tensor:
        """Attend from tokens ``a`` ``(B, L, D)``; returns ``(B, L, D)``."""
        q = apply_rope(self._heads(self.q_norm(self.wq(a))), *rope)  # (B, L, Hd, Dh)
        k = apply_rope(self._heads(self.k_norm(self.wk(a))), *rope)  # (B, L, Hkv, Dh)
        v = self._heads(self.wv(a))
        out = attention(q, k, v, key_mask=mask, scale=scale)
        # The cross branches use the same rotated queries against un-rotated keys, at scale 1/√Dh.
        image = attention(q, cross.image_k, cross.image_v)
        text = attention(q, cross.text_k, cross.text_v, key_mask=cross.text_mask)
        out = out + image * torch.tanh(self.gate_for_ii)[:, None] + text * torch.tanh(self.gate)[:, None]
        return self.wo(out.flatten(2))


class PixWizardBlock(nn.Module):
    """Token sampler → sandwich-normed attention → sandwich-normed SwiGLU, modulated by ``c``."""

    def __init__(
        self,
        dim: int,
        n_heads: int,
        n_kv_heads: int,
        ffn_dim: int,
        norm_eps: float,
        qk_norm: bool,
        cap_feat_dim: int,
        cond_dim: int,
        image_token_dim: int,
        sample_tokens: int,
    ):
        super().__init__()
        self.sample_tokens = sample_tokens
        self.attention = Attention(dim, n_heads, n_kv_heads, qk_norm, cap_feat_dim)
        self.feed_forward = FeedForward(dim, ffn_dim)
        self.attention_norm1 = RMSNorm(dim, norm_eps)
        self.ffn_norm1 = RMSNorm(dim, norm_eps)
        self.attention_norm2 = RMSNorm(dim, norm_eps)
        self.ffn_norm2 = RMSNorm(dim, norm_eps)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 4 * dim))
        self.attention_y_norm = RMSNorm(cap_feat_dim, norm_eps)
        # Token sampler (task-aware selection of CLIP image tokens).
        self.y_pool_proj = nn.Linear(cond_dim, dim, bias=False)
        self.input_image_proj = nn.Linear(image_token_dim, dim, bias=False)
        self.attention_input_norm = RMSNorm(dim, norm_eps)
        self.in_conv = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())
        self.out_conv = nn.Sequential(
            nn.Linear(dim, dim // 2), nn.GELU(), nn.Linear(dim // 2, dim // 4), nn.GELU(), nn.Linear(dim // 4, 1)
        )

    def importance(self, clip_tokens: Tensor, task_emb: Tensor) -> tuple[Tensor, Tensor]:
        """Projected CLIP tokens ``(B, N, D)`` and their importance logits ``(B, N)``."""
        projected = self.input_image_proj(clip_tokens)
        return projected, importance_logits(projected, task_emb, self.y_pool_proj, self.in_conv, self.out_conv)

    def cross_kv(self, cond: Conditions, noise: Tensor | None) -> CrossKV:
        """Select this block's image tokens and compute both cross-attentions' keys and values."""
        projected, logits = self.importance(cond.clip_tokens, cond.task_emb)
        selected = self.attention_input_norm(select_tokens(projected, logits, self.sample_tokens, noise=noise))
        image_k, image_v = self.attention.image_kv(selected)
        text_k, text_v = self.attention.text_kv(self.attention_y_norm(cond.cap_feats))
        return CrossKV(image_k, image_v, text_k, text_v, cond.cap_mask)

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor | None,
        scale: Tensor | None,
        cross: CrossKV | None,
        cond: Conditions,
        noise: Tensor | None,
    ) -> Tensor:
        """Update tokens ``x`` ``(B, L, D)`` under conditioning ``c`` ``(B, Dc)``."""
        if cross is None:
            cross = self.cross_kv(cond, noise)
        scale_msa, gate_msa, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(4, dim=-1)
        a = modulate(self.attention_norm1(x), scale_msa)
        x = x + torch.tanh(gate_msa).unsqueeze(1) * self.attention_norm2(self.attention(a, rope, mask, scale, cross))
        u = modulate(self.ffn_norm1(x), scale_mlp)
        return x + torch.tanh(gate_mlp).unsqueeze(1) * self.ffn_norm2(self.feed_forward(u))


class FinalLayer(nn.Module):
    """Non-affine LayerNorm (eps 1e-6), scale-only modulation, linear projection to patch outputs."""

    def __init__(self, dim: int, out_features: int, cond_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_features)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Project tokens ``(B, L, D)`` to ``(B, L, p·p·C_out)``."""
        return self.linear(modulate(self.norm_final(x), self.adaLN_modulation(c)))


class PixWizardTransformer(ModelMixin, ConfigMixin):
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
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["PixWizardBlock"]

    @register_to_config
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
    ):
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if dim % n_heads or n_heads % n_kv_heads:
            raise ConfigError(f"dim={dim} must divide into n_heads={n_heads}, and n_heads into n_kv_heads={n_kv_heads}")
        if (dim // n_heads) % 4:
            raise ConfigError(f"head dim {dim // n_heads} must be a multiple of 4 for 2-D RoPE")
        self.gradient_checkpointing = False
        self.head_dim = dim // n_heads
        out_channels = 2 * in_channels if learn_sigma else in_channels
        cond_dim = min(dim, 1024)

        self.pad_token = nn.Parameter(torch.empty(dim))
        self.x_embedder = nn.Linear(patch_size * patch_size * 2 * in_channels, dim)
        self.t_embedder = TimestepEmbedder(cond_dim)
        self.task_embedder = nn.Sequential(nn.LayerNorm(cap_clip_feat_dim), nn.Linear(cap_clip_feat_dim, cond_dim))
        self.global_semantic_embedder = nn.Sequential(
            nn.LayerNorm(image_token_dim), nn.Linear(image_token_dim, cond_dim)
        )
        ffn_dim = ffn_hidden_dim(dim, multiple_of, ffn_dim_multiplier)
        self.layers = nn.ModuleList(
            PixWizardBlock(dim, n_heads, n_kv_heads, ffn_dim, norm_eps, qk_norm, cap_feat_dim, cond_dim,
                           image_token_dim, sample_tokens)
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
            for linear in (attn.wq, attn.wk, attn.wv, attn.wk_ii, attn.wv_ii, attn.wk_y, attn.wv_y, attn.wo,
                           block.feed_forward.w1, block.feed_forward.w2, block.feed_forward.w3,
                           block.y_pool_proj, block.input_image_proj):
                nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(attn.gate_for_ii)
            nn.init.zeros_(attn.gate)
            nn.init.zeros_(block.adaLN_modulation[1].weight)
            nn.init.zeros_(block.adaLN_modulation[1].bias)
        for param in self.final_layer.parameters():
            nn.init.zeros_(param)

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

        Returns:
            The prepared `Conditions`.
        """
        cfg = self.config
        batch = input_clip_x.shape[0]
        _check(input_clip_x.ndim == 3 and input_clip_x.shape[-1] == cfg.image_token_dim,
               f"input_clip_x must be (B, N, {cfg.image_token_dim}), got {tuple(input_clip_x.shape)}")
        _check(input_clip_x.shape[1] >= cfg.sample_tokens,
               f"{input_clip_x.shape[1]} CLIP tokens given, the model keeps {cfg.sample_tokens}")
        _check(cap_feats.ndim == 3 and cap_feats.shape[0] == batch and cap_feats.shape[-1] == cfg.cap_feat_dim,
               f"cap_feats must be ({batch}, Lt, {cfg.cap_feat_dim}), got {tuple(cap_feats.shape)}")
        _check(tuple(cap_mask.shape) == tuple(cap_feats.shape[:2]),
               f"cap_mask must be {tuple(cap_feats.shape[:2])}, got {tuple(cap_mask.shape)}")
        _check(tuple(cap_pooled_feats.shape) == (batch, cfg.cap_clip_feat_dim),
               f"cap_pooled_feats must be ({batch}, {cfg.cap_clip_feat_dim}), got {tuple(cap_pooled_feats.shape)}")
        dtype = self.dtype
        clip = input_clip_x.to(dtype)
        if no_image is not None:
            _check(tuple(no_image.shape) == (batch,), f"no_image must be ({batch},), got {tuple(no_image.shape)}")
            clip = torch.where(no_image.to(clip.device, torch.bool)[:, None, None], torch.zeros_like(clip), clip)
        task_emb = self.task_embedder(cap_pooled_feats.to(dtype))  # (B, Dc)
        static_c = task_emb + self.global_semantic_embedder(clip.mean(dim=1))  # (B, Dc)
        noise = None
        if TokenSelection(token_selection) is TokenSelection.GUMBEL:
            noise = gumbel_noise((len(self.layers), batch, clip.shape[1]), generator=generator,
                                 device=clip.device, dtype=dtype)
        cond = Conditions(static_c, task_emb, clip, cap_feats.to(dtype), cap_mask.bool(), noise, None)
        if not (self.gradient_checkpointing and torch.is_grad_enabled()):
            cond.cross = [
                block.cross_kv(cond, None if noise is None else noise[i]) for i, block in enumerate(self.layers)
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
            rope_scale: RoPE extrapolation factor for this call: linear position scaling for items with
                ``t < rope_watershed``, θ scaling otherwise. None: the constructor's ``scale_factor`` as θ.
            rope_watershed: Time at which the scaling switches from linear to θ.
            proportional_attn: Scale self-attention by ``√(log_base(N)/Dh)``, ``N`` each item's tokens.
            base_seqlen: The ``base`` of proportional attention (``(centre/16)²``).

        Returns:
            Velocities shaped like ``x`` (a tensor, or a list for a list input).
        """
        cond = self.prepare_conditions(
            input_clip_x, cap_feats, cap_mask, cap_pooled_feats,
            no_image=no_image, token_selection=token_selection, generator=generator,
        )
        return self.forward_prepared(
            x, t, input_x, cond, rope_scale=rope_scale, rope_watershed=rope_watershed,
            proportional_attn=proportional_attn, base_seqlen=base_seqlen,
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
                tokens = self._gradient_checkpointing_func(block, tokens, c, rope, mask, scale, cross, cond, noise)
            else:
                tokens = block(tokens, c, rope, mask, scale, cross, cond, noise)

        out = self.final_layer(tokens, c)  # (B, L, p·p·C_out)
        return self._unpatchify(out, sizes, isinstance(x, Tensor))

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
        out = self(x[:n].repeat(3, 1, 1, 1), t, input_x, input_clip_x, cap_feats, cap_mask, cap_pooled_feats,
                   no_image=no_image, **kwargs)
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
            _check(x.ndim == 4 and x.shape[0] == batch and x.shape[1] == channels,
                   f"x must be ({batch}, {channels}, H, W), got {tuple(x.shape)}")
            _check(isinstance(input_x, Tensor) and input_x.shape == x.shape,
                   f"input_x must match x {tuple(x.shape)}")
            _check(x.shape[2] % p == 0 and x.shape[3] % p == 0, f"latent size must be divisible by {p}")
            patches = rearrange(torch.cat([x, input_x], dim=1).to(dtype), "b c (h p1) (w p2) -> b (h w) (c p1 p2)",
                                p1=p, p2=p)
            return self.x_embedder(patches), None, [(x.shape[2] // p, x.shape[3] // p)] * batch
        _check(len(x) == batch and len(input_x) == batch, f"x and input_x must hold {batch} latents each")
        items, sizes = [], []
        for xi, ci in zip(x, input_x, strict=True):
            _check(xi.ndim == 3 and xi.shape[0] == channels and ci.shape == xi.shape,
                   f"each latent must be ({channels}, H, W) with a matching condition, got {tuple(xi.shape)}")
            _check(xi.shape[1] % p == 0 and xi.shape[2] % p == 0, f"latent size must be divisible by {p}")
            items.append(rearrange(torch.cat([xi, ci]).to(dtype), "c (h p1) (w p2) -> (h w) (c p1 p2)", p1=p, p2=p))
            sizes.append((xi.shape[1] // p, xi.shape[2] // p))
        patches = nn.utils.rnn.pad_sequence(items, batch_first=True)  # (B, L, p·p·2C)
        lengths = torch.tensor([len(item) for item in items], device=patches.device)
        mask = torch.arange(patches.shape[1], device=patches.device)[None] < lengths[:, None]  # (B, L)
        tokens = torch.where(mask[..., None], self.x_embedder(patches), self.pad_token.to(dtype))
        return tokens, (None if bool(mask.all()) else mask), sizes

    def _rope(self, sizes: list, seq_len: int, t: Tensor, rope_scale: float | None, watershed: float,
              device: torch.device) -> tuple[Tensor, Tensor]:
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
        tables = [rope_table(h, w, self.head_dim, theta, ntk, lin, device) for (h, w), (ntk, lin) in zip(sizes, modes)]
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
