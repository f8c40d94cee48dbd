"""The trainer's parts as pure functions: dropout, conditions, data, buckets, configs, Lumina init."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from pixwizard.trainer import data as data_lib
from pixwizard.trainer.conditioning import Dropout, ItemConditions, draw_dropout, drop_conditions
from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer, item_generator


def test_dropout_rates_over_ten_thousand_draws():
    g = torch.Generator().manual_seed(0)
    draws = [draw_dropout(g, 0.05, 0.07, 0.03) for _ in range(10_000)]
    text_only = sum(d.text and not d.image for d in draws) / len(draws)
    image_only = sum(d.image and not d.text for d in draws) / len(draws)
    both = sum(d.text and d.image for d in draws) / len(draws)
    assert abs(text_only - 0.05) < 0.01 and abs(image_only - 0.07) < 0.01 and abs(both - 0.03) < 0.01
    with pytest.raises(ValueError):
        draw_dropout(g, 0.6, 0.6, 0.0)


def test_drop_conditions_is_pure_and_complete():
    item = ItemConditions(
        torch.ones(4, 2, 2), torch.ones(3, 5), False, torch.ones(2, 6), torch.ones(2), torch.ones(7)
    )
    empty = ItemConditions(None, None, False, torch.zeros(1, 6), torch.ones(1), torch.zeros(7))
    noise = torch.full((4, 2, 2), 0.5)
    text = drop_conditions(item, Dropout(text=True, image=False), empty, noise)
    assert text.text_feats.shape == (1, 6) and torch.equal(text.pooled, empty.pooled)
    assert torch.equal(text.cond_latent, item.cond_latent) and not text.no_image
    image = drop_conditions(item, Dropout(text=False, image=True), empty, noise)
    assert (
        image.no_image
        and torch.count_nonzero(image.clip_tokens) == 0
        and torch.equal(image.cond_latent, noise)
    )
    assert torch.equal(image.text_feats, item.text_feats)
    assert torch.equal(item.clip_tokens, torch.ones(3, 5))  # the input was not changed


@pytest.fixture(scope="module")
def trainer(dataset, tmp_path_factory):
    return Trainer(
        load_config("debug", [f"data.annotations={dataset}", f"out_dir={tmp_path_factory.mktemp('t')}"])
    )


def test_forced_drops_build_the_pipelines_guidance_rows(trainer):
    pipe = trainer.encoders
    trainer.config.p_text, trainer.config.p_image, trainer.config.p_both = 0.0, 0.0, 1.0
    try:
        prepared = trainer.prepare_item(0, 0)
    finally:
        trainer.config.p_text = trainer.config.p_image = trainer.config.p_both = 0.05
    # The pipeline encodes [prompts..., ""] in one call and uses the last row for its image-only and
    # no-image rows; the trainer's text-dropped item must see exactly that row (its valid tokens).
    batch = pipe.text_tokens(["Invert the colours", "Make a negative of it", ""])
    length = int(batch.mask[-1].sum())
    assert torch.allclose(prepared.cond.text_feats, batch.feats[-1, :length].float(), atol=1e-6)
    assert torch.equal(prepared.cond.text_mask, batch.mask[-1, :length])
    assert torch.allclose(
        prepared.cond.pooled, pipe.pooled_text(["Invert the colours", ""])[-1].float(), atol=1e-6
    )
    # The no-image row of the pipeline: zero CLIP tokens, the flag, and noise as the condition latent.
    assert prepared.cond.no_image and torch.count_nonzero(prepared.cond.clip_tokens) == 0
    g = item_generator(trainer.config.seed, 0, 0)
    again = trainer.prepare_item(0, 0, generator=g)
    assert torch.equal(again.x_t, prepared.x_t)  # the same draws in the same order


def test_per_item_randomness_does_not_depend_on_the_batch(trainer):
    a = trainer.prepare_item(3, 7)
    b = trainer.prepare_item(3, 7)
    c = trainer.prepare_item(3, 8)
    assert torch.equal(a.x_t, b.x_t) and a.t == b.t and not torch.equal(a.x_t, c.x_t)


def test_bucketing_keeps_padding_low(trainer):
    buckets = trainer.buckets
    bucketed = data_lib.make_batches(buckets, 4, 0, 0, bucketed=True)
    mixed = data_lib.make_batches(buckets, 4, 0, 0, bucketed=False)
    with_buckets = data_lib.padding_fraction(bucketed, buckets)
    without = data_lib.padding_fraction(mixed, buckets)
    print(f"padding: bucketed {with_buckets:.1%} vs unbucketed {without:.1%}")
    assert with_buckets <= 0.10 and without > with_buckets
    assert sorted(i for b in bucketed for i in b) == sorted(set(i for b in bucketed for i in b))


def test_same_resize_and_crop_for_input_and_target(dataset):
    items = data_lib.load_annotations(dataset)
    g = torch.Generator().manual_seed(0)
    source, target = data_lib.load_pair(items[1], (64, 48), g)
    assert source.size == target.size == (64, 48)
    import numpy as np

    assert (
        np.abs(255 - np.asarray(source, np.int16) - np.asarray(target, np.int16)).max() <= 2
    )  # aligned crops


def test_meta_balancing(tmp_path, dataset):
    small = tmp_path / "small.jsonl"
    entries = json.loads(dataset.read_text())
    small.write_text("\n".join(json.dumps(e) for e in entries[:3]))
    t2i = tmp_path / "t2i.json"
    t2i.write_text(json.dumps(entries[3:]))
    meta = tmp_path / "meta.yaml"
    meta.write_text(
        textwrap.dedent(f"""
        META:
          - {{path: {small}, type: derain, ratio: 2.0, root: {dataset.parent}}}
          - {{path: {dataset}, type: edit, ratio: 0.5}}
          - {{path: {t2i}, type: text_to_image, root: {dataset.parent}}}
    """)
    )
    stage2 = data_lib.load_meta(meta, stage=2)
    counts = {kind: sum(i.type == kind for i in stage2) for kind in ("derain", "edit", "text_to_image")}
    assert counts == {"derain": 6, "edit": 6, "text_to_image": 12}
    stage1 = data_lib.load_meta(meta, stage=1, stage1_count=10)
    assert {kind: sum(i.type == kind for i in stage1) for kind in counts} == dict.fromkeys(counts, 10)
    assert all(i.input_path.startswith(str(dataset.parent)) for i in stage1)


def test_bad_items_raise_or_are_skipped(tmp_path, dataset):
    items = data_lib.load_annotations(dataset)[:3]
    broken = data_lib.Item(str(tmp_path / "missing.png"), str(tmp_path / "missing.png"), "x")
    with pytest.raises(ValueError, match="skip_bad"):
        data_lib.checked_items([*items, broken], skip_bad=False)
    assert data_lib.checked_items([*items, broken], skip_bad=True) == items


def test_config_presets_files_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: debug\nsteps: 7\noptim: {lr: 0.01}\ndata: {centres: [64, 128]}\n")
    config = load_config(path, ["optim.warmup_steps=3", "parallel.mode=ddp", "p_text=0.2"])
    assert (config.steps, config.optim.lr, config.optim.warmup_steps) == (7, 0.01, 3)
    assert config.data.centres == [64, 128] and config.parallel.mode == "ddp" and config.p_text == 0.2
    from pixwizard.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown config key"):
        load_config("debug", ["optim.momentum=1"])
    with pytest.raises(ConfigError, match="preset"):
        load_config("nope")


def test_lumina_init_widens_the_patch_embedding(tmp_path):
    from pixwizard.model.config import tiny
    from pixwizard.model.transformer import PixWizardTransformer
    from pixwizard.trainer.trainer import init_from_lumina

    reference = PixWizardTransformer(**tiny()).randomize_(seed=3)
    lumina = {k: v for k, v in reference.state_dict().items() if "ii" not in k and "image" not in k}
    lumina["x_embedder.weight"] = reference.x_embedder.weight[:, :16].clone()
    lumina["cap_embedder.0.weight"] = torch.ones(32)
    (tmp_path / "lumina").mkdir()
    torch.save(lumina, tmp_path / "lumina" / "consolidated.00-of-01.pth")
    model = init_from_lumina(PixWizardTransformer(**tiny()), tmp_path / "lumina")
    weight = model.x_embedder.weight
    assert torch.equal(weight[:, :16], reference.x_embedder.weight[:, :16]) and not weight[:, 16:].any()
    assert torch.equal(model.layers[0].attention.wq.weight, reference.layers[0].attention.wq.weight)


def test_cli_train(dataset, tmp_path):
    from typer.testing import CliRunner

    from pixwizard.cli import app

    result = CliRunner().invoke(
        app,
        ["train", "debug", f"data.annotations={dataset}", f"out_dir={tmp_path}", "steps=3", "log_every=1"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "export" / "config.json").is_file() and (
        tmp_path / "checkpoints" / "step_0000003"
    ).is_dir()
    bad = CliRunner().invoke(app, ["train", "debug", "steps"])
    assert bad.exit_code == 1 and "key=value" in bad.stderr


def test_feature_cache_gives_the_same_training(dataset, tmp_path):
    args = [f"data.annotations={dataset}", "steps=4", "log_every=1", "data.crop=center"]
    plain = [m.loss for m in Trainer(load_config("debug", [*args, f"out_dir={tmp_path / 'a'}"])).fit()]
    cache = tmp_path / "cache"
    cached_args = [*args, f"data.cache_dir={cache}"]
    first = [m.loss for m in Trainer(load_config("debug", [*cached_args, f"out_dir={tmp_path / 'b'}"])).fit()]
    files = sorted(p.name for p in cache.iterdir())
    assert any(f.startswith("image-") for f in files) and any(f.startswith("text-") for f in files)
    second = [
        m.loss for m in Trainer(load_config("debug", [*cached_args, f"out_dir={tmp_path / 'c'}"])).fit()
    ]
    assert sorted(p.name for p in cache.iterdir()) == files  # everything came from the cache
    assert max(abs(a - b) for a, b in zip(plain, first, strict=True)) < 1e-6
    assert max(abs(a - b) for a, b in zip(first, second, strict=True)) < 1e-6
