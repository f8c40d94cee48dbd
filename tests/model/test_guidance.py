"""Two-scale classifier-free guidance and the authors' three-row forward."""

from __future__ import annotations

import pytest
import torch

from pixwizard.model.guidance import combine_guidance, guide


def test_formula_by_hand():
    vc, vi, vu = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([1.0])
    # v = vu + wI (vi − vu) + wT (vc − vi) = 1 + 1.5·1 + 4·1
    assert combine_guidance(vc, vi, vu, text_scale=4.0, image_scale=1.5).item() == 6.5


def test_guidance_on_three_channels_keeps_channel_three_conditional():
    vc, vi, vu = (torch.randn(2, 4, 3, 3) for _ in range(3))
    out = guide(vc, vi, vu, 4.0, 1.5, channels=3)
    torch.testing.assert_close(out[:, :3], combine_guidance(vc, vi, vu, 4.0, 1.5)[:, :3])
    assert torch.equal(out[:, 3], vc[:, 3])
    torch.testing.assert_close(
        guide(vc, vi, vu, 4.0, 1.5, channels=None), combine_guidance(vc, vi, vu, 4.0, 1.5)
    )


def test_skipping_the_unconditional_row_at_image_scale_one_is_exact_up_to_rounding():
    vc, vi, vu = (torch.randn(2, 4, 3, 3) for _ in range(3))
    full = guide(vc, vi, vu, 4.0, 1.0)
    skipped = guide(vc, vi, None, 4.0, 1.0)
    assert (full - skipped).abs().max() < 1e-5
    with pytest.raises(ValueError, match="unconditional row"):
        guide(vc, vi, None, 4.0, 1.5)


def test_forward_with_cfg_rows(tiny_model, conditions):
    x = torch.randn(3, 4, 8, 8)
    cond = conditions(tiny_model, 3)
    t = torch.full((3,), 0.5)
    with torch.no_grad():
        out = tiny_model.forward_with_cfg(x, t, x, **cond, text_cfg_scale=4.0, image_cfg_scale=1.5)
        rows = tiny_model(x[:1].repeat(3, 1, 1, 1), t, x, **cond, no_image=torch.tensor([False, False, True]))
    guided = combine_guidance(rows[0], rows[1], rows[2], 4.0, 1.5)
    for i in range(3):
        torch.testing.assert_close(out[i, :3], guided[:3])
        torch.testing.assert_close(out[i, 3], rows[i, 3])
