"""The trainer: instruction tuning of PixWizard with flow matching.

Every random choice about an item (crop, prompt, dropout, time, noise, VAE sample, Gumbel noise) comes from
a generator seeded by ``(seed, step, global item index)``, and each step's global batch is formed before it
is split across processes: a run gives the same numbers whatever the number of processes, and a resumed run
continues exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from pixwizard.model import rng
from pixwizard.model.config import PRESETS
from pixwizard.model.flow import flow_loss, sample_path, sample_time
from pixwizard.model.token_sampler import gumbel_noise
from pixwizard.model.transformer import PixWizardTransformer
from pixwizard.pipeline.image_processing import pil_to_tensor
from pixwizard.trainer import data as data_lib
from pixwizard.trainer.conditioning import ItemConditions, draw_dropout, drop_conditions
from pixwizard.trainer.config import TrainConfig

logger = logging.getLogger(__name__)
CHECKPOINT_HOOK = "PIXWIZARD_CHECKPOINT_HOOK"  # tests: pause mid-write so the process can be killed
EVAL_TIMES = tuple(round(0.1 * k, 1) for k in range(1, 10))


@dataclass
class StepMetrics:
    """What one optimiser step reports (``loss`` is the global batch mean, all-reduced)."""

    step: int
    loss: float
    grad_norm: float
    lr: float
    items_per_s: float
    tokens_per_s: float


@dataclass
class _Drawn:
    """An item's random draws, before its text is encoded."""

    prompt: str
    dropout: object
    t: float
    noise: torch.Tensor
    data: torch.Tensor
    cond_latent: torch.Tensor
    clip: torch.Tensor
    cond_noise: torch.Tensor
    gumbel: torch.Tensor | None


@dataclass
class _Prepared:
    x_t: torch.Tensor
    t: float
    velocity: torch.Tensor
    cond: ItemConditions
    gumbel: torch.Tensor | None


def lr_factor(step: int, *, optim, steps: int) -> float:
    """The learning rate of optimiser step ``step`` as a fraction of ``optim.lr``: warm-up, flat, decay."""
    factor = min(1.0, (step + 1) / max(1, optim.warmup_steps))
    decay = int(round(optim.decay_fraction * steps))
    if decay > 0 and step >= steps - decay:
        done = (step - (steps - decay) + 1) / decay
        factor = min(factor, 1.0 - (1.0 - optim.final_lr_ratio) * done)
    return factor


def item_generator(seed: int, step: int, index: int) -> torch.Generator:
    """The generator of everything random about one item at one step."""
    digest = hashlib.sha256(f"{seed}:{step}:{index}".encode()).hexdigest()
    return torch.Generator().manual_seed(int(digest[:15], 16))


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """Train a PixWizard transformer.

    Args:
        config: The run's configuration.
        items: Training pairs (default: read from ``config.data``).
    """

    def __init__(self, config: TrainConfig, items: list[data_lib.Item] | None = None):
        from pixwizard.pipeline import PixWizardPipeline

        self.config = config
        self.rank, self.world = _rank_world()
        if config.global_batch % self.world:
            raise ValueError(f"global_batch {config.global_batch} must divide by the {self.world} processes")
        self.device = (
            torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
        self.out_dir = Path(config.out_dir)
        self.encoders = PixWizardPipeline.from_pretrained(config.encoders, device=self.device)
        self.items = data_lib.checked_items(
            items if items is not None else self._read_items(), config.data.skip_bad
        )
        if len(self.items) < config.global_batch:
            fits = len(self.items) // self.world * self.world
            fix = f"add items or pass global_batch={fits}" if fits else f"give at least {self.world} items"
            count, batch = len(self.items), config.global_batch
            raise ValueError(f"{count} items cannot fill a global batch of {batch}: {fix}")
        self.buckets = [data_lib.item_bucket(item, config.data.centres) for item in self.items]
        self._epoch, self._batches = None, []
        self.batches_per_epoch = len(
            data_lib.make_batches(self.buckets, config.global_batch, config.seed, 0, config.data.bucketed)
        )
        self.model = build_model(config).to(self.device)
        self.model.train()
        if config.parallel.activation_checkpointing:
            self.model.enable_gradient_checkpointing()
        from pixwizard.trainer.parallel import parallelize

        self.wrapped = parallelize(self.model, config.parallel.mode, self.device)
        self.ema = {name: p.detach().clone() for name, p in self.model.named_parameters()}
        optim = config.optim
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, functools.partial(lr_factor, optim=optim, steps=config.steps)
        )
        self.step = 0
        with torch.no_grad():
            self.empty = self._encode_text([""])[0]

    # -- data -------------------------------------------------------------------------------------------

    def _read_items(self) -> list[data_lib.Item]:
        data = self.config.data
        if data.world.n:
            world = data.world
            return data_lib.world_items(world.seed, world.n, world.tasks, tuple(world.size), world.sizes)
        if data.meta:
            return data_lib.load_meta(
                data.meta, stage=data.stage, stage1_count=data.stage1_count, seed=self.config.seed
            )
        if data.annotations:
            return data_lib.load_annotations(data.annotations, data.root)
        raise ValueError("set data.annotations, data.meta or data.world.n")

    def batch_indices(self, step: int) -> list[int]:
        """The global batch of a step (the same on every process)."""
        epoch, position = divmod(step, self.batches_per_epoch)
        if self._epoch != epoch:
            self._epoch = epoch
            self._batches = data_lib.make_batches(
                self.buckets, self.config.global_batch, self.config.seed, epoch, self.config.data.bucketed
            )
        return self._batches[position]

    # -- encoding ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def _encode_text(self, prompts: list[str]) -> list[ItemConditions]:
        text = self.encoders.text_tokens(prompts)
        pooled = self.encoders.pooled_text(prompts)
        out = []
        for i in range(len(prompts)):
            length = int(text.mask[i].sum())
            out.append(
                ItemConditions(
                    None,
                    None,
                    False,
                    text.feats[i, :length].float(),
                    text.mask[i, :length],
                    pooled[i].float(),
                )
            )
        return out

    @torch.no_grad()
    def prepare_item(self, index: int, step: int, *, t: float | None = None, generator=None) -> _Prepared:
        """An item's model inputs at a step; the draws happen in a fixed order from its generator."""
        return self.prepare_items([index], step, t=t, generators=None if generator is None else [generator])[
            0
        ]

    @torch.no_grad()
    def prepare_items(
        self, indices: list[int], step: int, *, t: float | None = None, generators: list | None = None
    ) -> list[_Prepared]:
        """`prepare_item` for several items, their prompts encoded together (one text-encoder call)."""
        generators = generators or [item_generator(self.config.seed, step, i) for i in indices]
        drawn = [self._draw(index, g, t) for index, g in zip(indices, generators, strict=True)]
        texts = self._texts([d.prompt for d in drawn])
        return [self._assemble(d, text) for d, text in zip(drawn, texts, strict=True)]

    def _draw(self, index: int, g: torch.Generator, t: float | None) -> _Drawn:
        config = self.config
        item = self.items[index]
        center = config.data.crop == "center"
        source, target = data_lib.load_pair(item, self.buckets[index], g, center=center)
        prompt = data_lib.item_prompt(item)
        if isinstance(prompt, tuple):
            prompt = prompt[int(rng.randint(0, len(prompt), generator=g))]
        dropout = draw_dropout(g, config.p_text, config.p_image, config.p_both)
        t = sample_time(config.time_sampler, g, config.time_shift) if t is None else t
        codec = self.encoders.codec
        mean, std, clip = self._image_features(index, source, target)
        shape = (self.model.config.in_channels, *mean.shape[-2:])
        noise = rng.randn(shape, generator=g)
        data = codec.sample(mean[0], std[0], g).float()
        cond_latent = codec.sample(mean[1], std[1], g).float()
        cond_noise = rng.randn(shape, generator=g)
        gumbel = None
        if config.token_selection == "gumbel":
            gumbel = gumbel_noise(
                (len(self.model.layers), clip.shape[0]),
                generator=g,
                device=torch.device("cpu"),
                dtype=torch.float32,
            )
        return _Drawn(prompt, dropout, t, noise, data, cond_latent, clip, cond_noise, gumbel)

    def _assemble(self, d: _Drawn, text: ItemConditions) -> _Prepared:
        full = ItemConditions(
            d.cond_latent, d.clip, False, text.text_feats.cpu(), text.text_mask.cpu(), text.pooled.cpu()
        )
        empty = ItemConditions(
            None,
            None,
            False,
            self.empty.text_feats.cpu(),
            self.empty.text_mask.cpu(),
            self.empty.pooled.cpu(),
        )
        path = sample_path(d.noise[None], d.data[None], torch.tensor([d.t]))
        return _Prepared(
            path.x_t[0],
            d.t,
            path.velocity[0],
            drop_conditions(full, d.dropout, empty, d.cond_noise),
            d.gumbel,
        )

    def _texts(self, prompts: list[str]) -> list[ItemConditions]:
        """Each prompt's text conditions: from the disk cache, or one encoder call for the rest.

        No memory between steps: a step's encodings depend on its own batch only, so a resumed run
        computes the same numbers.
        """
        found: dict[str, ItemConditions] = {}
        for prompt in prompts:
            if (cached := self._cached_only(f"text-{_digest(prompt)}")) is not None:
                found[prompt] = cached
        missing = sorted({p for p in prompts if p not in found})
        if missing:
            for prompt, text in zip(missing, self._encode_text(missing), strict=True):
                found[prompt] = text
                self._cached(f"text-{_digest(prompt)}", lambda text=text: text)
        return [found[p] for p in prompts]

    def _image_features(self, index: int, source, target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """VAE posterior (mean, std) of target and input, and the input's CLIP tokens, on the CPU."""

        def compute():
            pixels = torch.stack([pil_to_tensor(target), pil_to_tensor(source)]).to(self.device)
            mean, std = self.encoders.codec.posterior(pixels)
            clip = self.encoders.image_tokens(pixels[1:])[0]
            return mean.float().cpu(), std.float().cpu(), clip.float().cpu()

        if self.config.data.crop != "center":
            return compute()  # a random crop changes every step: nothing to reuse
        item = self.items[index]
        return self._cached(
            f"image-{_digest(item.input_path, item.target_path, self.buckets[index])}", compute
        )

    def _cached_only(self, key: str):
        """The value kept under ``key`` in ``data.cache_dir``, or None."""
        folder = self.config.data.cache_dir
        path = Path(folder) / f"{key}.pt" if folder else None
        return torch.load(path, weights_only=False) if path is not None and path.is_file() else None

    def _cached(self, key: str, compute):
        """``compute()``, kept in ``data.cache_dir`` (written atomically) when a cache is configured."""
        folder = self.config.data.cache_dir
        if not folder:
            return compute()
        path = Path(folder) / f"{key}.pt"
        if path.is_file():
            return torch.load(path, weights_only=False)
        value = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        torch.save(value, tmp)
        tmp.replace(path)
        return value

    def _model_inputs(self, prepared: list[_Prepared]) -> dict:
        width = max(p.cond.text_feats.shape[0] for p in prepared)

        def pad(x, n):
            return (
                torch.nn.functional.pad(x, (0, 0, 0, n - x.shape[0]))
                if x.ndim == 2
                else torch.nn.functional.pad(x, (0, n - x.shape[0]))
            )

        device = self.device
        inputs = {
            "x": [p.x_t.to(device) for p in prepared],
            "t": torch.tensor([p.t for p in prepared], device=device),
            "input_x": [p.cond.cond_latent.to(device) for p in prepared],
            "input_clip_x": torch.stack([p.cond.clip_tokens for p in prepared]).to(device),
            "cap_feats": torch.stack([pad(p.cond.text_feats, width) for p in prepared]).to(device),
            "cap_mask": torch.stack([pad(p.cond.text_mask, width) for p in prepared]).to(device),
            "cap_pooled_feats": torch.stack([p.cond.pooled for p in prepared]).to(device),
            "no_image": torch.tensor([p.cond.no_image for p in prepared], device=device),
            "token_selection": self.config.token_selection,
        }
        if self.config.token_selection == "gumbel":
            inputs["gumbel"] = torch.stack([p.gumbel for p in prepared], dim=1).to(device)
        return inputs

    def _losses(self, module, prepared: list[_Prepared]) -> torch.Tensor:
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.config.precision == "bf16"
            else contextlib.nullcontext()
        )
        with autocast:
            predictions = module(**self._model_inputs(prepared))
        return torch.stack(
            [
                flow_loss(pred[None], p.velocity[None].to(pred.device))[0]
                for pred, p in zip(predictions, prepared, strict=True)
            ]
        )

    # -- the step ---------------------------------------------------------------------------------------

    def forward_backward(self, local: list[int], step: int) -> torch.Tensor:
        """Encode → sample the path → predict → loss → backward, in micro-batches; returns the loss sum."""
        micro = self.config.micro_batch or len(local)
        total = torch.zeros((), device=self.device)
        chunks = [local[i : i + micro] for i in range(0, len(local), micro)]
        for k, chunk in enumerate(chunks):
            prepared = self.prepare_items(chunk, step)
            sync = k == len(chunks) - 1 or not hasattr(self.wrapped, "no_sync")
            context = contextlib.nullcontext() if sync else self.wrapped.no_sync()
            with context:
                losses = self._losses(self.wrapped, prepared)
                (losses.sum() / len(local)).backward()
            total = total + losses.detach().sum()
        return total

    def train_step(self) -> StepMetrics:
        """One optimiser step on the next global batch."""
        start = time.perf_counter()
        step = self.step
        indices = self.batch_indices(step)
        share = len(indices) // self.world
        local = indices[self.rank * share : (self.rank + 1) * share]
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = self.forward_backward(local, step)
        clip = self.config.optim.grad_clip
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), clip if clip > 0 else float("inf")
        )
        self.optimizer.step()
        self.scheduler.step()
        self._update_ema()
        if self.world > 1:
            dist.all_reduce(loss_sum)
        self.step += 1
        elapsed = time.perf_counter() - start
        side = self.encoders.codec.factor * self.model.config.patch_size  # pixels per image token
        tokens = sum((self.buckets[i][0] // side) * (self.buckets[i][1] // side) for i in indices)
        # .item() is a host sync: once per step, for the log.
        return StepMetrics(
            step + 1,
            float(loss_sum.item()) / len(indices),
            float(_full(grad_norm)),
            self.scheduler.get_last_lr()[0],
            len(indices) / elapsed,
            tokens / elapsed,
        )

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        for name, param in self.model.named_parameters():
            self.ema[name].lerp_(param.detach(), 1 - decay)

    @torch.no_grad()
    def evaluate(self, count: int = 4) -> float:
        """Loss on a fixed batch: the first items, times 0.1 … 0.9, fixed noise, no dropout, top-k tokens."""
        saved = (self.config.p_text, self.config.p_image, self.config.p_both, self.config.token_selection)
        self.config.p_text = self.config.p_image = self.config.p_both = 0.0
        self.config.token_selection = "topk"
        self.model.eval()
        try:
            losses = []
            for index in range(min(count, len(self.items))):
                prepared = [
                    self.prepare_item(index, 0, t=t, generator=item_generator(self.config.seed, -1, index))
                    for t in EVAL_TIMES
                ]
                losses.append(self._losses(self.model, prepared).mean())
            return float(torch.stack(losses).mean())
        finally:
            self.config.p_text, self.config.p_image, self.config.p_both, self.config.token_selection = saved
            self.model.train()

    # -- checkpoints ------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Full model, EMA, optimizer and schedule state, and the step."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state, optim_state = get_state_dict(self.model, self.optimizer, options=options)
        ema = {name: _full(value).cpu() for name, value in self.ema.items()}
        return {
            "model": model_state,
            "ema": ema,
            "optimizer": optim_state,
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict`'s output."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        options = StateDictOptions(full_state_dict=True)
        set_state_dict(
            self.model,
            self.optimizer,
            model_state_dict=state["model"],
            optim_state_dict=state["optimizer"],
            options=options,
        )
        for name, value in state["ema"].items():
            target = self.ema[name]
            if hasattr(target, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor

                target.copy_(
                    distribute_tensor(value.to(target.device), target.device_mesh, target.placements)
                )
            else:
                target.copy_(value)
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step_NNNNNNN`` atomically (a temporary folder, then a rename); keep N."""
        state = self.state_dict()  # collective under FSDP: every rank takes part
        if self.rank != 0:
            return None
        root = self.out_dir / "checkpoints"
        root.mkdir(parents=True, exist_ok=True)
        final = root / f"step_{self.step:07d}"
        tmp = root / f".tmp_step_{self.step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        save_file({k: v.contiguous() for k, v in state["model"].items()}, str(tmp / "model.safetensors"))
        if os.environ.get(CHECKPOINT_HOOK):
            Path(os.environ[CHECKPOINT_HOOK]).write_text(str(self.step))
            time.sleep(120)  # the test kills the process here
        save_file({k: v.contiguous() for k, v in state["ema"].items()}, str(tmp / "ema.safetensors"))
        torch.save({"optimizer": state["optimizer"], "scheduler": state["scheduler"]}, tmp / "optimizer.pt")
        config = dataclasses.asdict(self.config)
        (tmp / "trainer_state.json").write_text(json.dumps({"step": self.step, "config": config}, indent=2))
        self.model.save_config(tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob("step_*"))[: -self.config.keep_last]:
            shutil.rmtree(old)
        return final

    def resume(self) -> bool:
        """Load the newest complete checkpoint of the run, if any."""
        root = self.out_dir / "checkpoints"
        complete = sorted(root.glob("step_*")) if root.is_dir() else []
        if not complete:
            return False
        folder = complete[-1]
        extra = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
        state = {
            "model": load_file(str(folder / "model.safetensors")),
            "ema": load_file(str(folder / "ema.safetensors")),
            "optimizer": extra["optimizer"],
            "scheduler": extra["scheduler"],
            "step": json.loads((folder / "trainer_state.json").read_text())["step"],
        }
        self.load_state_dict(state)
        logger.info("resumed from %s", folder)
        return True

    def export(self, folder: str | Path, ema: bool = True) -> Path:
        """The (EMA) weights as a model: ``from_pretrained(folder)`` and ``--model folder`` load it.

        The transformer is saved as config.json + safetensors (also what ``init=pixwizard:DIR`` reads); the
        frozen encoders are named by identifier and digest (`pixwizard.pipeline.weights.write_export`).
        """
        from pixwizard.pipeline.weights import write_export

        state = self.state_dict()
        folder = Path(folder)
        if self.rank == 0:
            weights = state["ema"] if ema else state["model"]
            model = build_model(self.config)
            model.load_state_dict(weights, strict=True)
            write_export(
                folder, model, self.encoders, source=self.config.encoders, resolution=self.config.data.centres
            )
        return folder

    # -- the run ----------------------------------------------------------------------------------------

    def fit(self, steps: int | None = None, log=None, minutes: float | None = None) -> list[StepMetrics]:
        """Train to ``steps`` (default: the config's), logging JSONL and saving checkpoints.

        ``minutes`` ends this call (a chunk) at the first step past that wall-clock budget, with a
        checkpoint: ``--resume`` continues exactly. Each chunk logs its steps and wall time.
        """
        import sys

        from tqdm.auto import tqdm

        target = steps or self.config.steps
        history = []
        log_path = self.out_dir / "log.jsonl"
        writer = None
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            writer = _tensorboard(self.out_dir) if self.config.tensorboard else None
        bar = tqdm(
            total=target, initial=self.step, disable=self.rank != 0 or not sys.stderr.isatty(), unit="step"
        )
        start, first = time.perf_counter(), self.step
        every_eval = self.config.eval_world.every
        while self.step < target:
            metrics = self.train_step()
            history.append(metrics)
            bar.update()
            bar.set_postfix(loss=f"{metrics.loss:.4f}")
            if self.rank == 0 and (metrics.step % self.config.log_every == 0 or metrics.step == target):
                self._log(log_path, dataclasses.asdict(metrics))
                if writer is not None:
                    for key in ("loss", "grad_norm", "lr", "items_per_s", "tokens_per_s"):
                        writer.add_scalar(f"train/{key}", getattr(metrics, key), metrics.step)
                if log is not None:
                    log(metrics)
            if self.rank == 0 and every_eval and (metrics.step % every_eval == 0 or metrics.step == target):
                self._log(log_path, self.evaluate_world())
            out_of_time = minutes is not None and time.perf_counter() - start > 60 * minutes
            every = self.config.ckpt_every
            if (every and metrics.step % every == 0) or metrics.step == target or out_of_time:
                self.save_checkpoint()
            if out_of_time:
                break
        bar.close()
        if writer is not None:
            writer.close()
        if self.rank == 0 and self.step > first:
            chunk = {
                "from_step": first,
                "to_step": self.step,
                "wall_s": round(time.perf_counter() - start, 1),
            }
            self._log(log_path, {"chunk": chunk})
        return history

    @staticmethod
    def _log(path: Path, record: dict) -> None:
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    @torch.no_grad()
    def evaluate_world(self) -> dict:
        """PixWorld scores of the EMA weights (`config.eval_world`): ``{"step", "eval_s", "eval": {...}}``.

        ``eval`` maps ``task/metric`` to the model's score (template phrasings).
        """
        from pixwizard.eval.harness import evaluate_world

        settings = self.config.eval_world
        start = time.perf_counter()
        model = build_model(self.config).to(self.device)
        model.load_state_dict({name: _full(value) for name, value in self.ema.items()}, strict=True)
        trained, random_weights = self.encoders.transformer, self.encoders.config.random_weights
        self.encoders.transformer = model.eval()
        self.encoders.register_to_config(random_weights=False)  # no "outputs are noise" warning: trained
        try:
            report = evaluate_world(
                "training",
                tasks=settings.tasks or None,
                n=settings.n,
                steps=settings.steps,
                seed=settings.seed,
                pipe=self.encoders,
            )
        finally:
            self.encoders.transformer = trained
            self.encoders.register_to_config(random_weights=random_weights)
        scores = {
            f"{row.task}/{row.metric}": round(row.value, 4)
            for row in report.rows
            if row.system == report.model and row.phrasing == "template"
        }
        return {"step": self.step, "eval_s": round(time.perf_counter() - start, 1), "eval": scores}


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise RuntimeError("tensorboard=true needs the tensorboard package: pip install tensorboard") from exc
    return SummaryWriter(str(folder / "tensorboard"))


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def _full(value):
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def build_model(config: TrainConfig) -> PixWizardTransformer:
    """The model of a run, initialised as ``config.init`` says."""
    if config.model not in PRESETS:
        raise ValueError(f"unknown model preset {config.model!r}; choose one of {', '.join(PRESETS)}")
    torch.manual_seed(config.seed)
    model = PixWizardTransformer(**PRESETS[config.model](**config.model_overrides))
    kind, _, path = config.init.partition(":")
    if kind == "scratch":
        return model
    if kind == "pixwizard":
        from pixwizard.model.checkpoint import load_transformer

        model.load_state_dict(load_transformer(path).state_dict(), strict=True)
        return model
    if kind == "lumina":
        return init_from_lumina(model, path)
    raise ValueError(f"init must be scratch, pixwizard:DIR or lumina:DIR, got {config.init!r}")


def init_from_lumina(model: PixWizardTransformer, folder: str | Path) -> PixWizardTransformer:
    """Initialise from Lumina-Next-T2I's checkpoint as the paper does.

    ``x_embedder`` is widened with zero columns for the condition latent, keys PixWizard lacks
    (``cap_embedder.*``) are dropped and reported, and the new modules keep their from-scratch init.
    """
    from pixwizard.model.checkpoint import read_official_state_dict

    folder = Path(folder)
    files = sorted(folder.glob("consolidated*.pth"))
    if not files:
        raise FileNotFoundError(f"{folder} has no consolidated*.pth (Lumina-Next-T2I's checkpoint)")
    state = dict(read_official_state_dict(files[0]))
    weight = state.get("x_embedder.weight")
    target = model.x_embedder.weight
    if weight is not None and weight.shape[1] * 2 == target.shape[1]:
        state["x_embedder.weight"] = torch.cat([weight, torch.zeros_like(weight)], dim=1)
    result = model.load_state_dict(state, strict=False)
    logger.info(
        "Lumina init: dropped %s; new modules from scratch: %d keys",
        sorted(result.unexpected_keys),
        len(result.missing_keys),
    )
    return model
