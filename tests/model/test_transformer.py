"""Contract tests of the transformer: shapes, ragged batches, token selection, checkpointing, dtypes."""

from __future__ import annotations

import json

import pytest
import torch

from pixwizard.model.config import pixwizard_2b, pixwizard_2b_gqa, tiny
from pixwizard.model.token_sampler import gumbel_noise, select_tokens
from pixwizard.model.transformer import PixWizardTransformer

RELEASED_PARAMS = 2_011_441_976


def _meta(args):
    with torch.device("meta"):
        return PixWizardTransformer(**args)


def test_released_config_has_the_checkpoint_keys_and_size():
    from pathlib import Path

    manifest = json.loads(
        (
            Path(__file__).parents[1] / "fixtures/official_parity/manifest_PixWizard_2B_GQA_patch2.json"
        ).read_text()
    )
    model = _meta(pixwizard_2b_gqa())
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert sum(p.numel() for p in model.parameters()) == RELEASED_PARAMS == manifest["params"]
    assert list(shapes) == list(manifest["keys"])
    assert shapes == manifest["keys"]
    assert sum(p.numel() for p in _meta(pixwizard_2b()).parameters()) == 2_563_766_072


def test_no_module_is_registered_twice(tiny_model):
    names = [n for n, _ in tiny_model.named_parameters(remove_duplicate=False)]
    assert len(names) == len(set(names)) == len(tiny_model.state_dict())


def test_output_shape_and_learn_sigma_split(tiny_model, conditions):
    x = torch.randn(3, 4, 8, 12)
    with torch.no_grad():
        out = tiny_model(x, torch.rand(3), torch.randn_like(x), **conditions(tiny_model, 3))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("proportional", [False, True])
def test_ragged_batch_equals_items_alone(tiny_model, conditions, proportional):
    g = torch.Generator().manual_seed(3)
    xs = [torch.randn(4, 8, 8, generator=g), torch.randn(4, 6, 10, generator=g)]
    cs = [torch.randn(4, 8, 8, generator=g), torch.randn(4, 6, 10, generator=g)]
    t = torch.tensor([0.3, 0.8])
    cond = conditions(tiny_model, 2)
    kw = {"proportional_attn": True, "base_seqlen": 16} if proportional else {}
    with torch.no_grad():
        together = tiny_model(xs, t, cs, **cond, **kw)
        for i in range(2):
            alone = tiny_model(
                xs[i][None], t[i : i + 1], cs[i][None], **{k: v[i : i + 1] for k, v in cond.items()}, **kw
            )
            torch.testing.assert_close(together[i], alone[0], rtol=1e-5, atol=1e-5)


def test_pad_token_cannot_change_outputs(tiny_model, conditions):
    xs = [torch.randn(4, 8, 8), torch.randn(4, 4, 6)]
    cs = [torch.randn(4, 8, 8), torch.randn(4, 4, 6)]
    cond, t = conditions(tiny_model, 2), torch.tensor([0.5, 0.5])
    with torch.no_grad():
        before = tiny_model(xs, t, cs, **cond)
        tiny_model.pad_token.add_(10.0)
        after = tiny_model(xs, t, cs, **cond)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_proportional_attention_changes_the_result(tiny_model, conditions):
    x = torch.randn(1, 4, 8, 8)
    cond = conditions(tiny_model, 1)
    with torch.no_grad():
        plain = tiny_model(x, torch.rand(1), x, **cond)
        prop = tiny_model(x, torch.rand(1), x, **cond, proportional_attn=True, base_seqlen=4)
    assert (plain - prop).abs().max() > 1e-4


def test_topk_selection_is_deterministic(tiny_model, conditions):
    x = torch.randn(2, 4, 8, 8)
    cond = conditions(tiny_model, 2)
    with torch.no_grad():
        a = tiny_model(x, torch.full((2,), 0.4), x, **cond)
        b = tiny_model(x, torch.full((2,), 0.4), x, **cond)
    assert torch.equal(a, b)


def test_gumbel_mode_is_fresh_per_call_and_seedable(tiny_model, conditions):
    x = torch.randn(1, 4, 8, 8)
    cond = conditions(tiny_model, 1, clip_tokens=32)
    run = lambda g: tiny_model(x, torch.full((1,), 0.4), x, **cond, token_selection="gumbel", generator=g)  # noqa: E731
    with torch.no_grad():
        a, b = run(torch.Generator().manual_seed(1)), run(torch.Generator().manual_seed(1))
        outs = [run(None) for _ in range(4)]
    assert torch.equal(a, b)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_gumbel_selection_prefers_higher_logits():
    n, k, draws = 12, 4, 2000
    logits = torch.linspace(0.0, 3.0, n)[None]  # token i has the i-th lowest logit
    tokens = torch.eye(n)[None]  # token i is the one-hot e_i, so the picked rows say which were chosen
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(n)
    for _ in range(draws):
        noise = gumbel_noise((1, n), generator=g, device=torch.device("cpu"), dtype=torch.float32)
        counts += select_tokens(tokens, logits, k, noise=noise)[0].sum(0)
    assert counts.sum() == draws * k
    ranks = counts.argsort().argsort().float()
    spearman = torch.corrcoef(torch.stack([ranks, torch.arange(n, dtype=torch.float32)]))[0, 1]
    assert spearman > 0.95
    assert counts[-1] > 2 * counts[0]
    assert (counts > 0).sum() > k  # stochastic: more than the top-k ever get picked


def test_gumbel_straight_through_reaches_the_scorer(tiny_model, conditions):
    model = tiny_model.train()
    x = torch.randn(1, 4, 8, 8)
    out = model(x, torch.full((1,), 0.5), x, **conditions(model, 1, clip_tokens=32), token_selection="gumbel")
    out.square().mean().backward()
    assert model.layers[0].out_conv[4].weight.grad.abs().sum() > 0


def test_topk_keeps_raster_order():
    logits = torch.tensor([[0.1, 5.0, 0.2, 4.0, 3.0]])
    tokens = torch.arange(5.0)[None, :, None]
    assert select_tokens(tokens, logits, 3)[0, :, 0].tolist() == [1.0, 3.0, 4.0]


def test_no_image_flag_and_zero_tokens(tiny_model, conditions):
    cond = conditions(tiny_model, 2)
    zeros = dict(cond, input_clip_x=torch.zeros_like(cond["input_clip_x"]))
    flag = torch.tensor([True, True])
    with torch.no_grad():
        prepared = tiny_model.prepare_conditions(**zeros)
        flagged = tiny_model.prepare_conditions(**cond, no_image=flag)
    for block in prepared.cross:
        assert torch.count_nonzero(block.image_v) == 0  # zero tokens give a zero image-attention output
    for a, b in zip(prepared.cross, flagged.cross, strict=True):
        assert torch.equal(a.image_k, b.image_k) and torch.equal(a.image_v, b.image_v)
    torch.testing.assert_close(prepared.static_c, flagged.static_c)


def test_prepared_conditions_match_plain_forward(tiny_model, conditions):
    x = torch.randn(2, 4, 8, 8)
    cond = conditions(tiny_model, 2)
    t = torch.tensor([0.2, 0.9])
    with torch.no_grad():
        prepared = tiny_model.prepare_conditions(**cond)
        assert torch.equal(tiny_model.forward_prepared(x, t, x, prepared), tiny_model(x, t, x, **cond))


def test_gradient_checkpointing_gives_the_same_gradients(conditions):
    torch.manual_seed(0)
    model = PixWizardTransformer(**tiny()).randomize_(seed=2).train()
    x = torch.randn(2, 4, 8, 8)
    cond, t = conditions(model, 2), torch.tensor([0.3, 0.6])

    def grads():
        model.zero_grad()
        model(x, t, x, **cond).square().mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.enable_gradient_checkpointing()
    assert model.is_gradient_checkpointing
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], rtol=1e-5, atol=1e-7)


def test_bfloat16_forward_on_cpu(tiny_model, conditions):
    x = torch.randn(2, 4, 8, 8)
    cond, t = conditions(tiny_model, 2), torch.tensor([0.3, 0.6])
    with torch.no_grad():
        ref = tiny_model(x, t, x, **cond)
        out = tiny_model.to(torch.bfloat16)(x, t, x, **cond)
    assert out.dtype == torch.bfloat16
    assert ((out.float() - ref).abs().max() / ref.abs().max()) < 5e-2


def test_save_and_load_round_trip(tiny_model, conditions, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    loaded = PixWizardTransformer.from_pretrained(tmp_path)
    x = torch.randn(1, 4, 8, 8)
    cond = conditions(tiny_model, 1)
    with torch.no_grad():
        assert torch.equal(loaded(x, torch.ones(1), x, **cond), tiny_model(x, torch.ones(1), x, **cond))
    assert json.loads((tmp_path / "config.json").read_text())["sample_tokens"] == tiny()["sample_tokens"]


def test_fresh_model_follows_the_from_scratch_recipe():
    model = PixWizardTransformer(**tiny())
    assert torch.count_nonzero(model.final_layer.linear.weight) == 0
    assert torch.count_nonzero(model.layers[0].attention.gate) == 0
    assert torch.count_nonzero(model.layers[0].adaLN_modulation[1].weight) == 0
    assert model.x_embedder.weight.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": torch.randn(2, 3, 8, 8)}, "x must be"),
        ({"x": torch.randn(2, 4, 7, 8)}, "divisible"),
        ({"t": torch.rand(3)}, "t must be"),
        ({"cap_mask": torch.ones(2, 4)}, "cap_mask must have shape"),
        ({"input_clip_x": torch.randn(2, 4, 32)}, "keeps 8 CLIP tokens"),
        ({"proportional_attn": True}, "base_seqlen"),
    ],
)
def test_bad_inputs_raise_clear_errors(tiny_model, conditions, kwargs, message):
    args = {"x": torch.randn(2, 4, 8, 8), "t": torch.rand(2), **conditions(tiny_model, 2)}
    args.update(kwargs)
    x = args.pop("x")
    with pytest.raises(ValueError, match=message):
        tiny_model(x, args.pop("t"), torch.randn_like(x) if x.shape[1] == 4 else x, **args)


def test_bad_configs_are_refused():
    from pixwizard.errors import ConfigError

    with pytest.raises(ConfigError, match="n_heads"):
        PixWizardTransformer(**tiny(n_heads=5))
    with pytest.raises(ConfigError, match="multiple of 4"):
        PixWizardTransformer(**tiny(dim=48, n_heads=8, n_kv_heads=4))


def test_a_data_prediction_is_returned_as_the_velocity_towards_it(tiny_model, conditions):
    """prediction="data": the same network's output x̂ becomes (x̂ − x) / max(1 − t, 0.05)."""
    from pixwizard.errors import ConfigError
    from pixwizard.model.transformer import DATA_PREDICTION_MIN_GAP

    data_model = PixWizardTransformer(**{**tiny_model.config, "prediction": "data"}).eval()
    data_model.load_state_dict(tiny_model.state_dict(), strict=True)
    assert data_model.config.prediction == "data" and tiny_model.config.prediction == "velocity"
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([0.2, 0.9, 0.99])
    cond, image = conditions(tiny_model, 3), torch.randn(3, 4, 8, 8, generator=g)
    with torch.no_grad():
        raw = tiny_model(x, t, image, **cond)
        velocity = data_model(x, t, image, **cond)
        ragged = data_model(list(x), t, list(image), **cond)
    gap = (1 - t).clamp_min(DATA_PREDICTION_MIN_GAP).view(-1, 1, 1, 1)
    torch.testing.assert_close(velocity, (raw - x) / gap)
    torch.testing.assert_close(torch.stack(ragged), velocity, rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="prediction must be one of velocity, data"):
        PixWizardTransformer(**{**tiny_model.config, "prediction": "noise"})
