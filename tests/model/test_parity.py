"""`scripts/check_parity.py` on the bundled copies of both official fixtures (Foundation acceptance 1)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_parity.py"
FIXTURES = REPO / "tests" / "fixtures"


def _check(*folders: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, folders)],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=300,
    )


@pytest.mark.parametrize("name, manifests", [("official_parity", 4), ("official_parity_mha", 0)])
def test_every_case_within_tolerance(name, manifests):
    result = _check(FIXTURES / name)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    shown = f"manifests {manifests}/{manifests}" if manifests else "no shape manifests in this folder"
    assert lines[-1] == f"parity: 6/6 cases within 1e-05, {shown}"
    errors = [float(m[1]) for m in (re.search(r"max_rel_err=(\S+)", line) for line in lines) if m]
    assert len(errors) == 6 and max(errors) < 1e-5


def test_a_wrong_reference_fails(tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(FIXTURES / "official_parity", folder)
    tensors = load_file(str(folder / "tiny.safetensors"))
    tensors["case.cfg.out"][0, 0, 0, 0] += 0.5
    save_file(tensors, str(folder / "tiny.safetensors"))
    result = _check(folder)
    assert result.returncode == 1
    assert "case cfg:" in result.stdout and "FAIL" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("parity: 5/6 cases")


def test_a_manifest_of_another_configuration_fails(tmp_path):
    folder = tmp_path / "manifest"
    shutil.copytree(FIXTURES / "official_parity_mha", folder)
    gqa = json.loads((FIXTURES / "official_parity" / "manifest_PixWizard_2B_GQA_patch2.json").read_text())
    (folder / "manifest_PixWizard_2B_patch2.json").write_text(json.dumps(gqa))  # GQA shapes, non-GQA name
    result = _check(folder)
    assert result.returncode == 1
    assert "manifests 0/1" in result.stdout and "shapes differ" in result.stdout


def test_not_a_parity_folder(tmp_path):
    result = _check(tmp_path)
    assert result.returncode != 0
    assert "not a parity folder" in result.stderr


def test_a_fixture_that_omits_constructor_arguments_still_builds(tmp_path):
    folder = tmp_path / "sparse"
    shutil.copytree(FIXTURES / "official_parity_mha", folder)
    meta = json.loads((folder / "tiny.json").read_text())
    for key in (
        "dim",
        "n_kv_heads",
        "multiple_of",
        "ffn_dim_multiplier",
        "cap_feat_dim",
        "cap_clip_feat_dim",
    ):
        meta["config"].pop(key)  # shapes tell these; the checker must read them off the weights
    (folder / "tiny.json").write_text(json.dumps(meta))
    result = _check(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout.strip().splitlines()[-1]
        == "parity: 6/6 cases within 1e-05, no shape manifests in this folder"
    )
