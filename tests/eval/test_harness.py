"""`pixwizard eval world` on tiny-random: every task scored beside identity, baselines and oracle."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.eval import baselines
from pixwizard.eval.harness import case_of, evaluate_world
from pixwizard.eval.scoring import LOWER_IS_BETTER, Scorer, metrics_for
from pixwizard.tasks import TASKS
from pixwizard.tasks.answers import ImageAnswer
from pixwizard.world import WORLD_VERSION
from pixwizard.world.samples import sample, world_palette

N, STEPS = 8, 10


def _rounded_clipped_mse(v: int, sigma: float) -> float:
    """E[(clip(round(v + n), 0, 255) − v)²] for n ~ N(0, σ²), summed over the outcomes 0..255."""
    cdf = lambda x: 0.5 * (1 + math.erf(x / (sigma * math.sqrt(2))))  # noqa: E731
    total = 0.0
    for k in range(256):
        low = -math.inf if k == 0 else k - 0.5 - v
        high = math.inf if k == 255 else k + 0.5 - v
        total += (cdf(high) - cdf(low)) * (k - v) ** 2
    return total


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The acceptance command itself, through the CLI: ``eval world --model tiny-random --n 8 --steps 10``."""
    out = tmp_path_factory.mktemp("eval")
    run = CliRunner().invoke(
        app,
        [
            "eval",
            "world",
            "--model",
            "tiny-random",
            "--n",
            str(N),
            "--steps",
            str(STEPS),
            "--json",
            "--out",
            str(out),
        ],
    )
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout[run.stdout.index("{") :])
    return data, out


def _values(data, system, task):
    return {r["metric"]: r["value"] for r in data["results"] if r["system"] == system and r["task"] == task}


def test_every_task_is_scored_by_the_model_identity_baselines_and_oracle(results):
    data, out = results
    assert (data["model"], data["n"], data["seed"], data["world_version"]) == (
        "tiny-random",
        N,
        0,
        WORLD_VERSION,
    )
    keys = {"task", "family", "system", "phrasing", "metric", "value", "n", "low", "high"}
    assert all(set(r) == keys for r in data["results"])
    for r in data["results"]:
        if r["system"] == "oracle":
            assert r["low"] is None and r["high"] is None
        else:
            assert r["low"] <= r["high"], r
    assert all(math.isfinite(r["value"]) and r["n"] == N for r in data["results"])
    for task in TASKS:
        for system in (
            "tiny-random",
            "identity",
            "oracle",
            *([baselines.CLASSICAL[task][0]] if task in baselines.CLASSICAL else []),
        ):
            assert set(_values(data, system, task)) == set(metrics_for(task)), (task, system)
    for task in ("depth", "normal", "segment"):
        assert set(_values(data, "constant", task)) == set(metrics_for(task))
    report = (out / "report.md").read_text()
    assert "| denoise | template | psnr ↑ |" in report and "scale-and-shift" in report
    page = (out / "report.html").read_text()
    assert page.count("<img") >= len(TASKS) + 5 and "data:image/png;base64," in page  # plots and grids
    assert json.loads((out / "results.json").read_text())["results"] == data["results"]


def test_the_oracle_is_best_everywhere_and_near_perfect_on_iou(results):
    data, _ = results
    for task in TASKS:
        oracle = _values(data, "oracle", task)
        for metric, value in oracle.items():
            if metric in ("ciou", "miou", "edge_f1"):
                assert value >= 0.99, (task, metric, value)
            rivals = [
                r["value"]
                for r in data["results"]
                if r["task"] == task and r["metric"] == metric and r["system"] != "oracle"
            ]
            best = min(rivals) if metric in LOWER_IS_BETTER else max(rivals)
            assert (value <= best) if metric in LOWER_IS_BETTER else (value >= best), (
                task,
                metric,
                value,
                best,
            )


def test_each_classical_baseline_beats_identity_on_its_own_task(results):
    data, _ = results
    for task, (name, _) in baselines.CLASSICAL.items():
        ours, identity = _values(data, name, task), _values(data, "identity", task)
        metric = metrics_for(task)[0]
        assert ours[metric] > identity[metric], (task, name, ours, identity)


def test_identity_scores_the_analytic_values():
    n = 6
    for task in ("inpaint", "outpaint"):  # the hole is white: PSNR inside it follows from the truth alone
        samples = [sample(task, 0, i) for i in range(n)]
        scorer = Scorer(task, len(world_palette().names))
        expected = []
        for s in samples:
            scorer.add(
                baselines.identity(baselines.Item(task, s.prepared, s.slots), world_palette()), case_of(s)
            )
            inside = s.truth.image[s.truth.region].astype(np.float64)
            expected.append(10 * math.log10(255**2 / ((255 - inside) ** 2).mean()))
        assert scorer.values()["psnr_hole"] == pytest.approx(np.mean(expected), abs=1e-9)
    # Depth: any constant, aligned, becomes each image's mean distance, so its RMSE is the map's std.
    samples = [sample("depth", 0, i) for i in range(n)]
    constant = baselines.constant_for("depth", [s.truth for s in samples])
    scorer = Scorer("depth", 9)
    for s in samples:
        scorer.add(constant(baselines.Item("depth", s.prepared, {}), None), case_of(s))
    assert scorer.values()["rmse"] == pytest.approx(
        np.mean([s.truth.depth.astype(np.float64).std() for s in samples])
    )
    # Denoise: identity's PSNR is that of the drawn noise, rounded and clipped to [0, 255]: the expected
    # squared error at pixel value v sums P(round(v + n) = k)·(k − v)² over the outcomes k, n ~ N(0, σ²).
    samples = [sample("denoise", 0, i) for i in range(n)]
    for s in samples:
        if s.params["degradation"] != "noise":
            continue
        clean = s.truth.image.astype(np.int64)
        values, counts = np.unique(clean, return_counts=True)
        expected = (
            sum(
                c * _rounded_clipped_mse(int(v), s.params["sigma"])
                for v, c in zip(values, counts, strict=True)
            )
            / clean.size
        )
        scorer = Scorer("denoise", 9)
        scorer.add(ImageAnswer(np.asarray(s.image)), case_of(s))
        analytic = 10 * math.log10(255**2 / expected)
        # 12,288 samples of the error: the measured PSNR is within 0.15 dB (about 2.7 standard errors).
        assert scorer.values()["psnr"] == pytest.approx(analytic, abs=0.15), (s.params, analytic)
    # Editing: returning the input changes nothing outside the edited region; a blank canvas holds no object.
    s = sample("edit", 0, 0)
    scorer = Scorer("edit", 9)
    scorer.add(baselines.identity(baselines.Item("edit", s.prepared, s.slots), None), case_of(s))
    assert scorer.values()["changed_outside"] == 0
    s = sample("text_to_image", 0, 0)
    scorer = Scorer("text_to_image", 9)
    scorer.add(baselines.identity(baselines.Item("text_to_image", s.prepared, s.slots), None), case_of(s))
    assert scorer.values()["detection"] == 0


def test_same_seed_same_report_and_phrasings(tiny_pipe):
    a = evaluate_world(
        "tiny-random", tasks=["denoise", "ground_mask"], n=2, steps=3, pipe=tiny_pipe, phrasing="both"
    )
    b = evaluate_world(
        "tiny-random", tasks=["denoise", "ground_mask"], n=2, steps=3, pipe=tiny_pipe, phrasing="both"
    )
    assert a.rows == b.rows
    assert {r.phrasing for r in a.rows} == {"template", "held_out"}
    with pytest.raises(ValueError, match="phrasing"):
        evaluate_world("tiny-random", tasks=["denoise"], n=1, pipe=tiny_pipe, phrasing="clever")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_world("tiny-random", tasks=["levitate"], n=1, pipe=tiny_pipe)


def test_batched_model_calls_give_the_scores_of_one_item_at_a_time(tiny_pipe):
    """Each item keeps its own generator, so the batch size changes how fast, not what is scored."""
    kwargs = dict(tasks=["denoise", "ground_mask", "text_to_image"], n=3, steps=3, pipe=tiny_pipe)
    alone = evaluate_world("tiny-random", batch=1, **kwargs)
    together = evaluate_world("tiny-random", batch=2, **kwargs)
    assert [(r.task, r.system, r.phrasing, r.metric) for r in alone.rows] == [
        (r.task, r.system, r.phrasing, r.metric) for r in together.rows
    ]
    for a, b in zip(alone.rows, together.rows, strict=True):
        assert b.value == pytest.approx(a.value, rel=1e-3, abs=1e-3), (a, b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_oracle_and_baselines_hold_on_other_seeds(seed):
    """The oracle's IoU metrics and each baseline's win over identity, without the model, on more seeds."""
    palette = world_palette()
    for task in TASKS:
        iou = [m for m in metrics_for(task) if m in ("ciou", "miou", "edge_f1")]
        classical = baselines.CLASSICAL.get(task)
        if not iou and classical is None:
            continue
        samples = [sample(task, seed, i) for i in range(12)]
        items = [baselines.Item(task, s.prepared, s.slots, np.asarray(s.target)) for s in samples]
        systems = {"oracle": baselines.oracle, "identity": baselines.identity}
        if classical is not None:
            systems[classical[0]] = classical[1]
        values = {}
        for name, system in systems.items():
            scorer = Scorer(task, len(palette.names))
            for item, s in zip(items, samples, strict=True):
                scorer.add(system(item, palette), case_of(s))
            values[name] = scorer.values()
        for metric in iou:
            assert values["oracle"][metric] >= 0.99, (task, seed, values)
        if classical is not None:
            metric = metrics_for(task)[0]
            assert values[classical[0]][metric] > values["identity"][metric], (task, seed, values)


def test_the_detector_rarely_finds_the_caption_in_identity_outputs():
    """Identity of generation returns the condition map (or the blank canvas): the caption is seldom there."""
    from pixwizard.eval.detector import detect

    found = total = 0
    rates = {}
    for task in [t for t in TASKS if t.endswith("_to_image")]:
        hits = count = 0
        for seed in range(3):
            for i in range(16):
                s = sample(task, seed, i)
                detections = detect(np.asarray(s.prepared.image), s.requested)
                hits += sum(d.found for d in detections)
                count += len(detections)
        rates[task] = hits / count
        found, total = found + hits, total + count
    assert found / total <= 0.05, rates
    assert max(rates.values()) <= 0.1, rates  # depth maps draw the nearest object white: the worst case


def test_bootstrap_intervals_resample_scenes_and_recompute_pooled_metrics():
    """Means: the percentile interval of resampled means; cIoU: recomputed from the resampled counts."""
    palette = world_palette()
    samples = [sample("denoise", 0, i) for i in range(20)]
    scorer = Scorer("denoise", len(palette.names))
    for s in samples:
        scorer.add(baselines.identity(baselines.Item("denoise", s.prepared, s.slots), palette), case_of(s))
    low, high = scorer.intervals()["psnr"]
    values = np.array([item["psnr"] for item in scorer.items])
    draws = np.random.default_rng(0).integers(0, 20, size=(1000, 20))
    expected = np.percentile(values[draws].mean(1), [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(expected))
    assert low < scorer.values()["psnr"] < high and high - low > 0.1
    assert scorer.intervals() == scorer.intervals()  # seeded
    grounding = [sample("ground_mask", 0, i) for i in range(12)]
    scorer = Scorer("ground_mask", len(palette.names))
    for s in grounding:
        item = baselines.Item("ground_mask", s.prepared, s.slots, np.asarray(s.target))
        scorer.add(baselines.oracle(item, palette), case_of(s))
    low, high = scorer.intervals()["ciou"]
    assert 0.99 < low <= scorer.values()["ciou"] <= high <= 1.0
    inter = np.array([i["ciou"][0] for i in scorer.items]) // 2  # half of each truth found
    union = np.array([i["ciou"][1] for i in scorer.items])
    for item, a, b in zip(scorer.items, inter, union, strict=True):
        item["ciou"] = (int(a), int(b))
    draws = np.random.default_rng(0).integers(0, 12, size=(1000, 12))
    expected = np.percentile(inter[draws].sum(1) / union[draws].sum(1), [2.5, 97.5])
    assert scorer.intervals()["ciou"] == pytest.approx(tuple(expected))
