"""Primitives: RoPE geometry and caching, timestep features, norms, MLP widths, attention backends."""

from __future__ import annotations

import math

import pytest
import torch

from pixwizard.model import attention as attention_module
from pixwizard.model.attention import attention, use_backend
from pixwizard.model.layers import (
    RMSNorm,
    apply_rope,
    check_shape,
    ffn_hidden_dim,
    rope_frequencies,
    rope_table,
    timestep_sinusoid,
)


def test_ffn_widths_of_known_configs():
    assert ffn_hidden_dim(2304, 256, None) == 6144  # released model
    assert ffn_hidden_dim(64, 16, None) == 176  # GQA parity fixture
    assert ffn_hidden_dim(80, 8, 1.5) == 320  # MHA parity fixture


def test_timestep_sinusoid_is_cos_first_and_unscaled():
    t = torch.tensor([0.0, 0.5])
    feats = timestep_sinusoid(t, 8)
    assert torch.equal(feats[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = torch.exp(-math.log(10000.0) * torch.arange(4) / 4)
    torch.testing.assert_close(feats[1], torch.cat([torch.cos(0.5 * freqs), torch.sin(0.5 * freqs)]))


def test_rmsnorm_normalises_in_float32():
    norm = RMSNorm(8, eps=1e-5).to(torch.bfloat16)
    x = torch.randn(2, 8, dtype=torch.bfloat16) * 100
    ref = (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16)
    assert torch.equal(norm(x), ref)


def test_rope_frequencies_and_scalings():
    base = rope_frequencies(16)
    torch.testing.assert_close(base, 1.0 / 10000.0 ** (torch.arange(0, 16, 4).float() / 16))
    torch.testing.assert_close(rope_frequencies(16, linear_factor=2.0), base / 2)
    torch.testing.assert_close(
        rope_frequencies(16, ntk_factor=3.0), 1.0 / 30000.0 ** (torch.arange(0, 16, 4).float() / 16)
    )


def test_rope_layout_rows_then_columns_interleaved():
    cos, sin = rope_table(3, 4, 8, 10000.0, 1.0, 1.0, torch.device("cpu"))
    freqs = rope_frequencies(8)
    angle = torch.atan2(sin, cos)
    token = 2 * 4 + 3  # row 2, column 3
    torch.testing.assert_close(angle[token, 0::2], 2 * freqs)
    torch.testing.assert_close(angle[token, 1::2], 3 * freqs)


def test_rope_table_is_built_once_per_key():
    a = rope_table(5, 6, 8, 10000.0, 1.0, 1.0, torch.device("cpu"))
    b = rope_table(5, 6, 8, 10000.0, 1.0, 1.0, torch.device("cpu"))
    assert a[0] is b[0]


def test_rope_table_built_under_inference_mode_trains_later():
    with torch.inference_mode():
        cos, sin = rope_table(2, 7, 8, 10000.0, 1.0, 1.0, torch.device("cpu"))
    q = torch.randn(1, 14, 1, 8, requires_grad=True)
    apply_rope(q, cos[None], sin[None]).sum().backward()
    assert q.grad is not None


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_table(1, 10, 8, 10000.0, 1.0, 1.0, torch.device("cpu"))
    q, k = torch.randn(8), torch.randn(8)
    rq = apply_rope(q.expand(1, 10, 1, 8), cos[None], sin[None])[0, :, 0]
    rk = apply_rope(k.expand(1, 10, 1, 8), cos[None], sin[None])[0, :, 0]
    torch.testing.assert_close(rq[3] @ rk[1], rq[7] @ rk[5])
    torch.testing.assert_close(rq[0].norm(), q.norm())


def test_attention_gqa_matches_repeated_heads_and_masks_keys():
    q, k, v = torch.randn(2, 5, 4, 8), torch.randn(2, 6, 2, 8), torch.randn(2, 6, 2, 8)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    out = attention(q, k, v, key_mask=mask)
    k4, v4 = k.repeat_interleave(2, dim=2), v.repeat_interleave(2, dim=2)  # kv head j serves q heads 2j, 2j+1
    scores = torch.einsum("blhd,bmhd->bhlm", q, k4) / math.sqrt(8)
    scores = scores.masked_fill(~mask[:, None, None], float("-inf"))
    ref = torch.einsum("bhlm,bmhd->blhd", scores.softmax(-1), v4)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_attention_per_item_scale():
    q, k, v = torch.randn(2, 5, 2, 8), torch.randn(2, 5, 2, 8), torch.randn(2, 5, 2, 8)
    scales = torch.tensor([0.1, 0.7])
    out = attention(q, k, v, scale=scales)
    for i in range(2):
        torch.testing.assert_close(
            out[i : i + 1], attention(q[i : i + 1], k[i : i + 1], v[i : i + 1], scale=float(scales[i]))
        )


def test_flash_backend_refused_without_flash_attn():
    if attention_module._flash_module() is not None:
        pytest.skip("flash-attn is installed")
    with pytest.raises(ValueError, match="flash-attn"), use_backend("flash"):
        pass


@pytest.mark.gpu
def test_flash_matches_sdpa_in_bf16_on_cuda():
    if attention_module._flash_module() is None:
        pytest.skip("flash-attn is not installed")
    q = torch.randn(2, 64, 8, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(2, 64, 2, 64, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    mask = torch.ones(2, 64, dtype=torch.bool, device="cuda")
    mask[1, 40:] = False
    with use_backend("sdpa"):
        ref = attention(q, k, v, key_mask=mask)
    with use_backend("flash"):
        out = attention(q, k, v, key_mask=mask)
    torch.testing.assert_close(out.float(), ref.float(), rtol=2e-2, atol=2e-2)


def test_check_shape_names_the_argument():
    check_shape("x", torch.zeros(2, 3), (2, None))
    with pytest.raises(ValueError, match=r"x must have shape \(2, \*\), got \(3, 3\)"):
        check_shape("x", torch.zeros(3, 3), (2, None))
