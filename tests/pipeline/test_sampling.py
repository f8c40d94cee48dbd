"""The loop body against the authors' numbers, solver identities and the time grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pixwizard.eval.parity import max_relative_error, model_from_fixture
from pixwizard.pipeline.sampling import (
    Guidance,
    RowConditions,
    denoise_step,
    euler,
    euler_step,
    heun,
    midpoint,
    rows_needed,
    time_grid,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CFG_CASES = ["cfg", "cfg_ntk", "cfg_linear", "cfg_prop"]


def _rows(case: dict, rows: int = 3) -> RowConditions:
    n = rows * (case["x"].shape[0] // 3)
    return RowConditions(
        rows=rows,
        input_x=case["input_x"][:n],
        input_clip_x=case["input_clip_x"][:n],
        cap_feats=case["cap_feats"][:n],
        cap_mask=case["cap_mask"][:n],
        cap_pooled_feats=case["cap_pooled_feats"][:n],
        no_image=torch.tensor([False, False, True])[:n],
    )


def _guidance(case: dict) -> Guidance:
    kw = {k.removeprefix("kw."): float(v) for k, v in case.items() if k.startswith("kw.")}
    return Guidance(
        text_scale=kw["text_cfg_scale"],
        image_scale=kw["image_cfg_scale"],
        proportional_attn=bool(kw.get("proportional_attn", 0.0)),
        base_seqlen=int(kw.get("base_seqlen", 0)) or None,
        rope_scale=kw.get("scale_factor"),
        rope_watershed=kw.get("scale_watershed", 1.0),
    )


def _case(fixture: str, name: str):
    model, tensors = model_from_fixture(FIXTURES / fixture)
    prefix = f"case.{name}."
    return model, {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


@pytest.mark.parametrize("fixture", ["official_parity", "official_parity_mha"])
@pytest.mark.parametrize("name", CFG_CASES)
def test_denoise_step_gives_row_zero_of_the_authors_output(fixture, name):
    model, case = _case(fixture, name)
    with torch.no_grad():
        v = denoise_step(model, case["x"][:1], case["t"][:1], _rows(case), _guidance(case))
    assert max_relative_error(v[0], case["out"][0]) < 1e-5


@pytest.mark.parametrize("fixture", ["official_parity", "official_parity_mha"])
def test_skipping_the_no_image_row_at_image_scale_one(fixture):
    model, case = _case(fixture, "cfg_ntk")  # image_cfg_scale = 1 in this case
    guidance = _guidance(case)
    assert guidance.image_scale == 1.0 and rows_needed(guidance.text_scale, guidance.image_scale) == 2
    with torch.no_grad():
        three = denoise_step(model, case["x"][:1], case["t"][:1], _rows(case, 3), guidance)
        two = denoise_step(model, case["x"][:1], case["t"][:1], _rows(case, 2), guidance)
    assert max_relative_error(two, three) < 1e-5


def test_euler_update_is_x_plus_dt_v():
    x, v = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(euler_step(x, v, 0.25), x + 0.25 * v)
    out = euler(lambda state, t: v, x, [0.0, 0.25], lambda i, t, state: state)
    torch.testing.assert_close(out, x + 0.25 * v)


def test_solvers_integrate_a_linear_flow_exactly():
    x0, x1 = torch.randn(3), torch.randn(3)
    velocity = lambda x, t: x1 - x0  # noqa: E731  (the straight path from noise x0 to data x1)
    for solve in (euler, heun, midpoint):
        torch.testing.assert_close(solve(velocity, x0, time_grid(7), lambda i, t, x: x), x1)


def test_second_order_solvers_beat_euler_on_a_curved_flow():
    velocity = lambda x, t: -x  # noqa: E731  exact solution x0·exp(−1)
    x0 = torch.ones(1, dtype=torch.float64)
    exact = x0 * torch.exp(torch.tensor(-1.0, dtype=torch.float64))
    errors = {
        s.__name__: (s(velocity, x0, time_grid(11), lambda i, t, x: x) - exact).abs().item()
        for s in (euler, heun, midpoint)
    }
    assert errors["heun"] < errors["euler"] / 10 and errors["midpoint"] < errors["euler"] / 10


def test_time_grid():
    grid = time_grid(60)
    assert len(grid) == 60 and grid[0] == 0.0 and grid[-1] == 1.0
    shifted = torch.tensor(time_grid(5, shift=3.0))
    t = torch.linspace(0, 1, 5)
    torch.testing.assert_close(shifted, t / (t + 3.0 - 3.0 * t))
    assert shifted[1] < t[1]  # shift > 1 spends more steps near the noise end
    with pytest.raises(ValueError):
        time_grid(1)


def test_rows_needed():
    assert rows_needed(4.0, 1.0) == 2
    assert rows_needed(4.0, 1.5) == 3
    assert rows_needed(1.0, 1.0) == 1
    assert rows_needed(4.0, 1.0, skip_exact=False) == 3
