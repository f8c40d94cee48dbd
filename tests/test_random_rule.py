"""Random tensors drawn with a caller's generator go through `pixwizard.model.rng` (issue 9, item 4.1).

PyTorch refuses a generator of another device than the tensor it fills, so a seeded CUDA call fails when
any draw uses the caller's generator directly. The rule is checked on the source (it holds on CPU-only
machines); the ``gpu`` cases run a seeded call on CUDA through the pipeline and through a tool.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from pixwizard.model import rng

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("pixwizard", "tools", "agents", "mcp_server")
HELPER = REPO / "pixwizard" / "model" / "rng.py"
RANDOM_CALLS = {
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "randint",
    "randint_like",
    "randperm",
    "normal",
    "normal_",
    "uniform_",
    "bernoulli",
    "bernoulli_",
    "exponential_",
    "multinomial",
    "poisson",
    "random_",
    "geometric_",
    "cauchy_",
    "log_normal_",
}


def _called_name(call: ast.Call) -> str | None:
    """The called function's name; None for the helper itself, called as ``rng.<name>(...)``."""
    if isinstance(call.func, ast.Attribute):
        receiver = call.func.value
        return None if isinstance(receiver, ast.Name) and receiver.id == "rng" else call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def generator_draws_outside_the_helper(root: Path = REPO) -> list[str]:
    """``path:line name`` of every random call in product code that passes a generator, outside `rng`."""
    found = []
    for package in PRODUCT:
        for path in sorted((root / package).rglob("*.py")):
            if path == HELPER:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and _called_name(node) in RANDOM_CALLS
                    and any(keyword.arg == "generator" for keyword in node.keywords)
                ):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {_called_name(node)}")
    return found


def test_every_generator_draw_goes_through_the_helper():
    assert generator_draws_outside_the_helper() == [], "draw these with pixwizard.model.rng instead"


def test_the_scan_sees_direct_draws(tmp_path):
    """The scan itself works: planted direct draws are reported, draws without a generator are not."""
    package = tmp_path / "tools"
    package.mkdir()
    (package / "bad.py").write_text(
        "import torch\n"
        "x = torch.randn((2,), generator=g, device=d)\n"
        "y = torch.empty(3).uniform_(0, 1, generator=g)\n"
        "z = torch.rand(3) + rng.rand((3,), generator=g)\n"
    )
    assert generator_draws_outside_the_helper(tmp_path) == ["tools/bad.py:2 randn", "tools/bad.py:3 uniform_"]


def test_the_helper_draws_what_torch_draws_on_the_generator_device():
    for draw, direct in [
        (rng.randn, torch.randn),
        (rng.rand, torch.rand),
    ]:
        a = draw((3, 4), generator=torch.Generator().manual_seed(0))
        assert torch.equal(a, direct((3, 4), generator=torch.Generator().manual_seed(0)))
    half = rng.randn((3, 4), generator=torch.Generator().manual_seed(0), dtype=torch.bfloat16)
    full = rng.randn((3, 4), generator=torch.Generator().manual_seed(0))
    assert half.dtype == torch.bfloat16 and torch.equal(half, full.to(torch.bfloat16))  # drawn in float32
    assert rng.randn((2,), generator=torch.Generator(), dtype=torch.float64).dtype == torch.float64
    ints = rng.randint(0, 5, (100,), generator=torch.Generator().manual_seed(0))
    assert ints.dtype == torch.int64 and 0 <= ints.min() and ints.max() < 5
    exp = rng.exponential((1000,), generator=torch.Generator().manual_seed(0))
    assert exp.min() > 0 and abs(float(exp.mean()) - 1) < 0.1
    assert rng.randn((2, 2), generator=torch.Generator(), device="meta").device.type == "meta"


# --------------------------------------------------------------------------------------------------------
# CUDA: a seeded call with a CPU generator and with a CUDA generator
# --------------------------------------------------------------------------------------------------------


def _cuda_pipe():
    from pixwizard.pipeline import tiny_random

    pipe = tiny_random().configure(device="cuda", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _edit(pipe, generator, **kw):
    from PIL import Image

    photo = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    out = pipe("Remove the rain", image=photo, generator=generator, num_inference_steps=6, **kw)
    return np.asarray(out.images[0])


@pytest.mark.gpu
@pytest.mark.parametrize("token_selection", ["gumbel", "topk"])
def test_seeded_pipeline_call_on_cuda(token_selection):
    pipe = _cuda_pipe()
    results = {}
    for kind in ("cpu", "cuda"):
        first = _edit(pipe, torch.Generator(kind).manual_seed(0), token_selection=token_selection)
        again = _edit(pipe, torch.Generator(kind).manual_seed(0), token_selection=token_selection)
        assert np.array_equal(first, again), f"a {kind} generator did not reproduce its result"
        results[kind] = first
    other = _edit(pipe, torch.Generator("cuda").manual_seed(1), token_selection=token_selection)
    assert not np.array_equal(results["cuda"], other)


@pytest.mark.gpu
def test_cpu_generator_on_cuda_draws_what_it_draws_on_the_cpu():
    """A CPU generator gives the same starting noise on either device (the draw stays on the CPU)."""
    from pixwizard.pipeline import tiny_random

    cpu = tiny_random()
    cpu.set_progress_bar_config(disable=True)
    gpu = _cuda_pipe()
    kw = {"output_type": "latent", "token_selection": "topk", "num_inference_steps": 2}
    a = _latent_of(cpu, **kw)
    b = _latent_of(gpu, **kw).cpu()
    assert (a - b).abs().max() < 5e-2 * a.abs().max()  # other noise would differ by O(1); TF32 convs do not


def _latent_of(pipe, **kw):
    from PIL import Image

    photo = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    return pipe("Remove the rain", image=photo, generator=torch.Generator().manual_seed(0), **kw).images[0]


@pytest.mark.gpu
def test_seeded_tool_call_on_cuda(tmp_path):
    from PIL import Image
    from pixwizard.tools import default_registry, invoke, make_context

    photo = tmp_path / "photo.png"
    Image.radial_gradient("L").resize((80, 60)).convert("RGB").save(photo)
    ctx = make_context("tiny-random", device="cuda", store_dir=tmp_path / "store", any_path=True)
    args = {"image": str(photo), "problem": "derain", "seed": 0, "steps": 6}
    restore = default_registry().get("restore")
    first, again = (invoke(restore, args, ctx) for _ in range(2))
    pixels = [np.asarray(Image.open(result.image.path)) for result in (first, again)]
    assert np.array_equal(*pixels)
