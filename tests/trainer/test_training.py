"""Training end to end on CPU: learning, exact resume, crash safety, export (Trainer acceptance 1, 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer


def _config(dataset, out, *extra):
    return load_config("debug", [f"data.annotations={dataset}", f"out_dir={out}", "log_every=10", *extra])


def test_two_hundred_steps_halve_the_eval_loss_and_the_weights_load_into_the_pipeline(dataset, tmp_path):
    trainer = Trainer(_config(dataset, tmp_path / "run", "steps=200"))
    start = trainer.evaluate()
    trainer.fit()
    end = trainer.evaluate()
    print(f"eval loss {start:.4f} -> {end:.4f}")
    assert end <= 0.5 * start
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(10, 201, 10))
    assert records[-1]["chunk"]["to_step"] == 200
    folder = trainer.export(tmp_path / "export", ema=False)

    from pixwizard.model.transformer import PixWizardTransformer
    from pixwizard.pipeline import tiny_random

    pipe = tiny_random()
    pipe.set_progress_bar_config(disable=True)
    pipe.transformer = PixWizardTransformer.from_pretrained(folder)
    for name, value in pipe.transformer.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[name])
    from PIL import Image

    out = pipe("Invert the colours", image=Image.open(dataset.parent / "in_0.png"), num_inference_steps=3)
    assert out.images[0].size == (64, 64)


def test_resume_continues_exactly(dataset, tmp_path):
    straight = Trainer(_config(dataset, tmp_path / "a", "steps=60"))
    reference = [m.loss for m in straight.fit()]
    first = Trainer(_config(dataset, tmp_path / "b", "steps=30"))
    first.fit()
    second = Trainer(_config(dataset, tmp_path / "b", "steps=60"))
    assert second.resume() and second.step == 30
    resumed = [m.loss for m in second.fit()]
    assert len(resumed) == 30
    assert max(abs(a - b) for a, b in zip(resumed, reference[30:], strict=True)) < 1e-6


def test_killed_while_checkpointing_resumes_from_the_previous_checkpoint(dataset, tmp_path):
    out = tmp_path / "crash"
    marker = tmp_path / "writing"
    args = [
        sys.executable,
        "-m",
        "pixwizard",
        "train",
        "debug",
        f"data.annotations={dataset}",
        f"out_dir={out}",
        "steps=40",
        "ckpt_every=10",
        "log_every=1",
    ]
    env = dict(os.environ, PIXWIZARD_CHECKPOINT_HOOK=str(marker))
    # A complete checkpoint at step 10 (no hook), then a resumed run killed while writing step 20's.
    subprocess.run(
        [*args[:-2], "steps=10", "ckpt_every=10", "log_every=1"], check=True, capture_output=True, timeout=300
    )
    process = subprocess.Popen([*args, "--resume"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if marker.exists():
                break
            time.sleep(0.1)
        assert marker.read_text() == "20"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert (
        "step_0000010" in checkpoints and "step_0000020" not in checkpoints
    )  # the half-written one is not used
    resumed = Trainer(_config(dataset, out, "steps=30"))
    assert resumed.resume() and resumed.step == 10
    losses = [m.loss for m in resumed.fit()]
    reference = [m.loss for m in Trainer(_config(dataset, tmp_path / "ref", "steps=30")).fit()]
    assert max(abs(a - b) for a, b in zip(losses, reference[10:], strict=True)) < 1e-6
