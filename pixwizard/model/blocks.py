"""The PixWizard block and its parts: attention with two gated cross-attentions, the block, the final layer.

Parameter names are the official state-dict keys (Ref: AFeng-x/PixWizard@cb39454:models/model.py, read for
facts only). Shapes use the vocabulary of `pixwizard.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from pixwizard.model.attention import attention
from pixwizard.model.layers import FeedForward, RMSNorm, apply_rope, modulate
from pixwizard.model.token_sampler import importance_logits, select_tokens


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
    and values when they were computed up front (sampling); it is None in training, where each block
    computes its own inside its forward (what activation checkpointing recomputes and FSDP2 gathers for).
    """

    static_c: Tensor  # (B, Dc) task embedding + global CLIP embedding
    task_emb: Tensor  # (B, Dc)
    clip_tokens: Tensor  # (B, N, Ci), zero for no-image items
    cap_feats: Tensor  # (B, Lt, Ccap)
    cap_mask: Tensor  # (B, Lt) bool
    noise: Tensor | None  # (n_layers, B, N) Gumbel noise, None for deterministic top-k
    cross: list[CrossKV] | None


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
        self,
        a: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor | None,
        scale: Tensor | None,
        cross: CrossKV,
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
            nn.Linear(dim, dim // 2),
            nn.GELU(),
            nn.Linear(dim // 2, dim // 4),
            nn.GELU(),
            nn.Linear(dim // 4, 1),
        )

    def importance(self, clip_tokens: Tensor, task_emb: Tensor) -> tuple[Tensor, Tensor]:
        """Projected CLIP tokens ``(B, N, D)`` and their importance logits ``(B, N)``."""
        projected = self.input_image_proj(clip_tokens)
        return projected, importance_logits(
            projected, task_emb, self.y_pool_proj, self.in_conv, self.out_conv
        )

    def cross_kv(self, cond: Conditions, noise: Tensor | None) -> CrossKV:
        """Select this block's image tokens and compute both cross-attentions' keys and values."""
        projected, logits = self.importance(cond.clip_tokens, cond.task_emb)
        selected = self.attention_input_norm(
            select_tokens(projected, logits, self.sample_tokens, noise=noise)
        )
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
        x = x + torch.tanh(gate_msa).unsqueeze(1) * self.attention_norm2(
            self.attention(a, rope, mask, scale, cross)
        )
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
