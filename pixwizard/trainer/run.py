"""Starting a run: config, process group, trainer, fit, export (``pixwizard train`` and torchrun)."""

from __future__ import annotations

import json
import logging
import sys

import torch


def main(argv: list[str], *, distributed: bool = False) -> int:
    """Run training: ``argv`` is ``[CONFIG] [key=value ...] [--resume] [--minutes M]``.

    ``--minutes M`` ends the run as a chunk after about M minutes (checkpoint saved, no export).
    """
    from pixwizard.trainer.config import load_config
    from pixwizard.trainer.trainer import Trainer

    resume = "--resume" in argv
    args = [a for a in argv if a != "--resume"]
    minutes = None
    if "--minutes" in args:
        at = args.index("--minutes")
        minutes = float(args[at + 1])
        del args[at : at + 2]
    source = args[0] if args and "=" not in args[0] else None
    overrides = [a for a in args[1 if source else 0 :]]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(__import__("os").environ.get("LOCAL_RANK", 0)))
    try:
        config = load_config(source, overrides)
        trainer = Trainer(config)
        if resume:
            trainer.resume()
        history = trainer.fit(
            log=lambda m: print(json.dumps(m.__dict__), flush=True) if trainer.rank == 0 else None,
            minutes=minutes,
        )
        if trainer.step < config.steps:
            print(json.dumps({"chunk_end_step": trainer.step, "resume_with": "--resume"}), flush=True)
            return 0
        trainer.export(trainer.out_dir / "export")
        if trainer.rank == 0:
            print(json.dumps({"final_step": trainer.step, "losses": [m.loss for m in history]}), flush=True)
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0
