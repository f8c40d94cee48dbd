"""Check our transformer against reference numbers produced by the authors' model.

A parity folder holds ``tiny.json`` (the official constructor arguments and the case list),
``tiny.safetensors`` (``model.<key>`` weights and ``case.<name>.<tensor>`` inputs and outputs) and any
number of ``manifest_<preset>[_noqknorm].json`` files (key → shape of a full-size configuration).
`run_parity` builds our model from the config, loads the weights with ``strict=True``, runs every case,
and checks every manifest against our model built on the meta device.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from pixwizard.errors import CheckpointError, ConfigError
from pixwizard.model.checkpoint import infer_config
from pixwizard.model.config import official_preset
from pixwizard.model.transformer import PixWizardTransformer

TOLERANCE = 1e-5
_CONSTRUCTOR_KEYS = {
    "patch_size",
    "in_channels",
    "dim",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "multiple_of",
    "ffn_dim_multiplier",
    "norm_eps",
    "learn_sigma",
    "qk_norm",
    "cap_feat_dim",
    "cap_clip_feat_dim",
    "sample_tokens",
    "scale_factor",
}
# Defaults of the official constructor for the arguments that tensor shapes cannot reveal.
_OFFICIAL_DEFAULTS = {"norm_eps": 1e-5, "sample_tokens": 256, "scale_factor": 1.0}
_MANIFEST_NAME = re.compile(r"^manifest_(?P<preset>.+?)(?P<noqk>_noqknorm)?\.json$")


@dataclass
class ParityReport:
    """What a parity run found; ``lines`` is the printable record."""

    cases_passed: int = 0
    cases_total: int = 0
    manifests_passed: int = 0
    manifests_total: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every case and every manifest passed (and there was at least one case)."""
        return (
            self.cases_total > 0
            and self.cases_passed == self.cases_total
            and self.manifests_passed == self.manifests_total
        )

    @property
    def summary(self) -> str:
        """The final line of the report."""
        manifests = (
            f"manifests {self.manifests_passed}/{self.manifests_total}"
            if self.manifests_total
            else "no shape manifests in this folder"
        )
        return f"parity: {self.cases_passed}/{self.cases_total} cases within {TOLERANCE:.0e}, {manifests}"


def max_relative_error(ours: Tensor, ref: Tensor) -> float:
    """``max |ours − ref| / max |ref|``."""
    ours, ref = ours.double(), ref.double()
    return float((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def model_from_fixture(folder: Path) -> tuple[PixWizardTransformer, dict[str, Tensor]]:
    """Build our model from ``tiny.json`` and load the fixture's ``model.*`` weights strictly.

    Args:
        folder: A parity folder.

    Returns:
        The model (float32, eval mode) and the fixture's ``case.*`` tensors.

    Raises:
        ConfigError: If the config holds keys the official constructor does not have.
    """
    meta = json.loads((folder / "tiny.json").read_text())
    config = dict(meta["config"])
    unknown = set(config) - _CONSTRUCTOR_KEYS
    if unknown:
        raise ConfigError(f"{folder / 'tiny.json'}: unknown constructor arguments {sorted(unknown)}")
    tensors = load_file(str(folder / "tiny.safetensors"))
    state = {key.removeprefix("model."): value for key, value in tensors.items() if key.startswith("model.")}
    # A key the fixture leaves out takes the official constructor's default where shapes cannot tell
    # (norm_eps, sample_tokens, scale_factor), and is read off the weights otherwise.
    config = {**_OFFICIAL_DEFAULTS, **infer_config(state), **config}
    model = PixWizardTransformer(**config)
    model.load_state_dict(state, strict=True)
    return model.eval(), {k: v for k, v in tensors.items() if k.startswith("case.")}


def _run_case(model: PixWizardTransformer, case: dict[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Run one case; returns (ours, reference) pairs."""
    kw = {k.removeprefix("kw."): v for k, v in case.items() if k.startswith("kw.")}
    conds = (case["input_clip_x"], case["cap_feats"], case["cap_mask"], case["cap_pooled_feats"])
    options = {}
    if "scale_factor" in kw:
        options.update(
            rope_scale=float(kw["scale_factor"]), rope_watershed=float(kw.get("scale_watershed", 1.0))
        )
    if bool(kw.get("proportional_attn", 0.0)):
        options.update(proportional_attn=True, base_seqlen=int(kw["base_seqlen"]))
    if "text_cfg_scale" in kw:
        out = model.forward_with_cfg(
            case["x"],
            case["t"],
            case["input_x"],
            *conds,
            text_cfg_scale=float(kw["text_cfg_scale"]),
            image_cfg_scale=float(kw["image_cfg_scale"]),
            **options,
        )
        return [(out, case["out"])]
    if "x" in case:
        return [(model(case["x"], case["t"], case["input_x"], *conds, **options), case["out"])]
    count = len([k for k in case if re.fullmatch(r"x\d+", k)])
    xs = [case[f"x{i}"] for i in range(count)]
    inputs = [case[f"input_x{i}"] for i in range(count)]
    outs = model(xs, case["t"], inputs, *conds, **options)
    return [(o, case[f"out{i}"]) for i, o in enumerate(outs)]


def _check_manifest(path: Path) -> str | None:
    """Compare a manifest with our model on the meta device; returns a problem or None."""
    match = _MANIFEST_NAME.match(path.name)
    if match is None:
        return "file name is not manifest_<preset>[_noqknorm].json"
    manifest = json.loads(path.read_text())
    args = official_preset(
        match["preset"], qk_norm=not match["noqk"], cap_feat_dim=2048, cap_clip_feat_dim=768
    )
    with torch.device("meta"):
        model = PixWizardTransformer(**args)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    theirs = manifest["keys"]
    if list(ours) != list(theirs):
        missing, extra = sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))
        return f"keys differ: missing {missing[:5]}, unexpected {extra[:5]} (or order)"
    shapes = [key for key in ours if ours[key] != theirs[key]]
    if shapes:
        return f"shapes differ at {shapes[:5]}"
    params = sum(p.numel() for p in model.parameters())
    if params != manifest["params"]:
        return f"{params:,} parameters, manifest says {manifest['params']:,}"
    return None


def run_parity(folder: str | Path, log: Callable[[str], None] = print) -> ParityReport:
    """Run every case and manifest of a parity folder, logging one line each and the summary.

    Args:
        folder: The parity folder.
        log: Where lines go.

    Returns:
        The report.

    Raises:
        CheckpointError: If the folder lacks ``tiny.json`` or ``tiny.safetensors``.
    """
    folder = Path(folder)
    for name in ("tiny.json", "tiny.safetensors"):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder} is not a parity folder: {name} is missing")
    report = ParityReport()

    def emit(line: str) -> None:
        report.lines.append(line)
        log(line)

    model, tensors = model_from_fixture(folder)
    names = sorted({key.split(".")[1] for key in tensors}, key=lambda n: (n.startswith("cfg"), n))
    with torch.no_grad():
        for name in names:
            prefix = f"case.{name}."
            case = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
            report.cases_total += 1
            try:
                error = max(max_relative_error(ours, ref) for ours, ref in _run_case(model, case))
            except (KeyError, ValueError, RuntimeError) as exc:
                emit(f"case {name}: FAIL ({type(exc).__name__}: {exc})")
                continue
            passed = error <= TOLERANCE
            report.cases_passed += passed
            emit(f"case {name}: max_rel_err={error:.2e} {'ok' if passed else 'FAIL'}")
    for path in sorted(folder.glob("manifest_*.json")):
        report.manifests_total += 1
        problem = _check_manifest(path)
        report.manifests_passed += problem is None
        emit(f"manifest {path.name}: {'ok' if problem is None else 'FAIL: ' + problem}")
    emit(report.summary)
    return report
