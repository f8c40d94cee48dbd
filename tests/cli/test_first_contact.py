"""What a first-time user of the tool commands meets (issue 9, section 3: 3.4, 3.5, 3.7-3.10; progress)."""

from __future__ import annotations

import json
import re
import time

import pytest
import torch
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.cli._progress import StepLines
from pixwizard.errors import PixWizardError
from pixwizard.pipeline import PixWizardPipeline, names
from pixwizard.pipeline.names import ModelNotFoundError

runner = CliRunner()


def _flat(text: str) -> str:
    """Typer's error box as one line of text (the box wraps long messages)."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "validation error" not in stderr and "pydantic" not in stderr
    return errors[0]


# -- 3.4: a model or device that cannot be used is named at once ---------------------------------------


def test_a_missing_model_folder_is_named_at_once(cli, photo):
    start = time.perf_counter()
    result = cli("depth", str(photo), "--model", "/missing/folder")
    assert result.exit_code == 1
    line = _one_error_line(result.stderr)
    assert "no model folder at /missing/folder: it does not exist" in line and "Repo id" not in line
    assert time.perf_counter() - start < 5
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        PixWizardPipeline.from_pretrained("./no/such/folder")


def test_an_unknown_model_name_lists_the_built_in_ones(cli, photo):
    result = cli("depth", str(photo), "--model", "tiny")
    assert result.exit_code == 1
    line = _one_error_line(result.stderr)
    assert "unknown model 'tiny'" in line and "tiny-random" in line and "pixwizard models fetch" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_said_in_words(cli, photo):
    result = cli("depth", str(photo), "--device", "cuda", "--model", "tiny-random")
    assert result.exit_code == 1
    line = _one_error_line(result.stderr)
    assert "device 'cuda' was asked for" in line and "CUDA" in line and "Torch not compiled" not in line
    with pytest.raises(PixWizardError, match="unknown device 'gpu'"):
        PixWizardPipeline.from_pretrained("tiny-random", device="gpu")


# -- 3.5: choices and bounds in --help; a bad value is one message ------------------------------------


def test_help_shows_choices_and_ranges():
    ground = _flat(runner.invoke(app, ["ground", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "mask|box|highlight" in ground and "2<=x<=200" in ground
    t2i = _flat(runner.invoke(app, ["text_to_image", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "64<=x<=2048" in t2i
    edit = _flat(runner.invoke(app, ["edit", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "--no-preserve-unchanged" in edit  # a True default can be turned off


def test_a_bad_choice_or_range_is_refused_in_one_message(cli, photo):
    mode = cli("ground", str(photo), "--referring", "the dog", "--mode", "sideways")
    assert mode.exit_code == 2
    assert "Invalid value for '--mode': " in _flat(mode.stderr)
    assert "'sideways' is not one of 'mask', 'box', 'highlight'" in _flat(mode.stderr)
    width = cli("text_to_image", "--caption", "a boat", "--width", "10")
    assert width.exit_code == 2 and "Invalid value for '--width'" in _flat(width.stderr)
    assert "greater than or equal to 64" in _flat(width.stderr)
    for result in (mode, width):
        assert "validation error" not in result.output and "errors.pydantic.dev" not in result.output


def test_what_typer_cannot_check_is_one_line_naming_option_value_and_rule(cli, photo):
    ratio = cli("outpaint", str(photo), "--ratio", "0")
    assert ratio.exit_code == 1
    line = _one_error_line(ratio.stderr)
    assert line.startswith("error: invalid --ratio=0.0: input should be greater than 0")
    long = cli("ground", str(photo), "--referring", "x" * 400)
    assert long.exit_code == 1
    line = _one_error_line(long.stderr)
    assert "invalid --referring='xxx" in line and "at most 300 characters" in line


# -- 3.7: a bad file does not drop the good results ---------------------------------------------------


def test_a_bad_file_in_a_batch_keeps_the_good_results(cli, photo, tmp_path):
    second = tmp_path / "in" / "second.png"
    second.write_bytes(photo.read_bytes())
    missing = tmp_path / "in" / "missing.png"
    args = ("depth", str(photo), str(missing), str(second))
    result = cli(*args, "--json", "--model", "tiny-random")
    assert result.exit_code == 1
    good, bad, other = json.loads(result.stdout)
    assert good["input"] == str(photo) and good["stats"] and other["input"] == str(second) and other["stats"]
    assert set(bad) == {"input", "error"} and bad["input"] == str(missing)
    assert "does not exist" in bad["error"]
    assert f"error: {missing}: " in result.stderr and "1 of 3 inputs failed" in result.stderr
    plain = cli(*args, "--model", "tiny-random")
    assert plain.exit_code == 1
    assert [line.split(" -> ")[0] for line in plain.stdout.splitlines()] == [str(photo), str(second)]


# -- 3.8: tools list shows the arguments --------------------------------------------------------------


def test_tools_list_shows_each_argument_with_its_type_and_default():
    text = runner.invoke(app, ["tools", "list"]).stdout
    assert "mode: mask|box|highlight = mask" in text and "referring: str (required)" in text
    assert "steps: int (optional), 2..200" in text and "width: int = 768, 64..2048" in text
    rows = {row["name"]: row for row in json.loads(runner.invoke(app, ["tools", "list", "--json"]).stdout)}
    mode = next(a for a in rows["ground"]["arguments"] if a["name"] == "mode")
    assert mode["type"] == "mask|box|highlight" and mode["default"] == "mask" and not mode["required"]


# -- 3.9: the default model is announced --------------------------------------------------------------


def test_the_default_model_is_announced_once_and_a_chosen_one_is_not(cli, photo, monkeypatch, tmp_path):
    monkeypatch.setenv("PIXWIZARD_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(names, "world_weights_present", lambda: False)
    default = cli("depth", str(photo), "--json")
    assert default.exit_code == 0, default.output
    notices = [line for line in default.stderr.splitlines() if line.startswith("note: no model given")]
    assert len(notices) == 1 and "--model" in notices[0] and "PIXWIZARD_MODEL" in notices[0]
    chosen = cli("depth", str(photo), "--model", "tiny-random")
    assert chosen.exit_code == 0 and "model:" not in chosen.stderr and "note:" not in chosen.stderr
    from_env = cli("depth", str(photo), "--json", env={"PIXWIZARD_MODEL": "tiny-random"})
    assert from_env.exit_code == 0 and "no model given" not in from_env.stderr
    assert "model: tiny-random (from PIXWIZARD_MODEL)" in from_env.stderr
    assert json.loads(from_env.stdout)[0]["provenance"]["model"] == "tiny-random"


def test_models_resolve_given_then_env_then_the_fetched_folder_then_built_in(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXWIZARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PIXWIZARD_MODEL", raising=False)
    monkeypatch.setattr(names, "world_weights_present", lambda: True)
    assert names.choose_model(None) == names.ModelChoice("pixwizard-world", "built-in")
    assert "synthetic" in names.choose_model(None).notice()
    monkeypatch.setattr(names, "world_weights_present", lambda: False)
    assert names.choose_model(None) == names.ModelChoice("tiny-random", "fallback")
    fetched = names.default_fetch_dir()
    assert fetched == tmp_path / "home" / "models" / "pixwizard"
    fetched.mkdir(parents=True)
    assert names.choose_model(None).source == "fallback"  # incomplete: no model_index.json yet
    (fetched / "model_index.json").write_text("{}")
    assert names.choose_model(None) == names.ModelChoice(str(fetched), "fetched")
    monkeypatch.setenv("PIXWIZARD_MODEL", "tiny-random")
    assert names.choose_model(None) == names.ModelChoice("tiny-random", "env")
    assert names.choose_model("some/repo") == names.ModelChoice("some/repo", "given")
    monkeypatch.delenv("PIXWIZARD_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert names.pixwizard_home() == tmp_path / "cache" / "pixwizard"


# -- progress when stderr is not a terminal -----------------------------------------------------------


def test_progress_is_printed_as_lines_when_not_in_a_terminal(cli, photo):
    result = cli("depth", str(photo), "--model", "tiny-random", steps=5)
    assert result.exit_code == 0, result.output
    pattern = re.compile(r"^depth .*: step \d+/4 \(\d+%\)$")
    lines = [line for line in result.stderr.splitlines() if pattern.match(line)]
    assert [line.rsplit(": ", 1)[1] for line in lines] == [f"step {n}/4 ({25 * n}%)" for n in (1, 2, 3, 4)]


def test_progress_lines_come_every_ten_percent(capsys):
    report = StepLines("job")
    for step in range(0, 201):
        report(step, 200)
    report(200, 200)  # a repeated final call prints nothing more
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"job: step {20 * n}/200 ({10 * n}%)" for n in range(1, 11)]


# -- 3.10: text-to-image has no input to warn about ----------------------------------------------------


def test_text_to_image_does_not_warn_about_an_input(cli):
    result = cli("text_to_image", "--caption", "a red boat", "--json", "--model", "tiny-random")
    assert result.exit_code == 0, result.output
    (payload,) = json.loads(result.stdout)
    assert not [w for w in payload["warnings"] if "the input (" in w]
    assert any("enlarged to the requested 768x768" in w for w in payload["warnings"])
