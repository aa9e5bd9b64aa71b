"""One CLI: the same study options everywhere, -o for every output, defaults in every help,
the model listing, and a wrong model name refused before torch is imported."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

import pytest

from medseg.cli.main import build_parser
from medseg.cli.options import DefaultsHelp

#: Commands that load one study (dataset takes many and has its own preprocessing).
LOADS_A_STUDY = ("convert", "clean", "lungs", "autolabel", "grow", "radiomics", "stats", "predict", "classify", "run")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_every_option_help_says_its_default():
    missing = []
    for name, p in _subcommands().items():
        p.format_help()  # every %(default)s expands
        formatter = DefaultsHelp(prog=name)
        for action in p._actions:
            if (not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS
                    or action.required or "(required)" in (action.help or "")):
                continue
            text = formatter._get_help_string(action)
            if "default" not in text:
                missing.append(f"{name} {'/'.join(action.option_strings)}")
    assert not missing, "options whose help does not say the default:\n" + "\n".join(missing)


def test_a_default_is_shown_in_the_help_text(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: auto)" in out and "(default: 1)" in out


def test_every_command_that_loads_a_study_takes_the_same_options():
    commands = _subcommands()
    for name in LOADS_A_STUDY:
        assert {"--series", "--no-resample", "--force", "--skip-damaged"} <= _options(commands[name]), name


def test_every_command_that_writes_takes_dash_o():
    commands = _subcommands()
    for name in ("convert", "clean", "lungs", "autolabel", "contours", "grow", "dataset", "train", "predict",
                 "export", "classify-train", "radiomics", "stats", "mesh", "run", "demo"):
        assert {"-o", "--output"} <= _options(commands[name]), name
    for name in ("train", "classify-train"):  # the older spelling is still read, not shown
        args = build_parser().parse_args([name, "--data", "D", "--out", "M"])
        assert args.out == "M"
        assert "--out " not in commands[name].format_help()


def test_train_without_an_output_is_one_line(cli, tmp_path):
    res = cli("train", "--data", tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == "medseg train: error: -o/--output is required: the model folder to write"


def test_models_lists_shipped_and_installed_with_kind_and_status(cli, tmp_path):
    from medseg.unet.card import SHIPPED

    folder = tmp_path / "models"
    shutil.copytree(SHIPPED / "lungs", folder / "my-lungs")
    (folder / "broken").mkdir()
    (folder / "broken" / "model.json").write_text("{", encoding="utf-8")
    card = json.loads((SHIPPED / "lungs" / "model.json").read_text())
    (folder / "classifier").mkdir()
    (folder / "classifier" / "model.json").write_text(json.dumps({**card, "format": "medseg-classifier/1"}))

    res = cli("models", folder, "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["lungs"]["source"] == "shipped" and rows["lungs"]["kind"] == "unet"
    assert rows["lungs"]["status"] == card["status"] and rows["lungs"]["classes"] == ["lung-right", "lung-left"]
    assert rows["table-headrest"]["status"] == "demo-only"
    assert rows["my-lungs"]["source"] == "installed" and rows["my-lungs"]["status"] == card["status"]
    assert rows["broken"]["status"].startswith("unreadable card")
    assert rows["classifier"]["kind"] == "classifier" and rows["classifier"]["status"] == "no weights file"

    text = cli("models", folder)
    assert text.returncode == 0
    assert any(line.split()[:3] == ["my-lungs", "unet", card["status"]] for line in text.stdout.splitlines())
    assert cli("models", tmp_path / "nowhere").returncode == 2


WITHOUT_TORCH = """
import sys
from medseg.cli.main import main
rc = main(sys.argv[1:])
print("torch imported" if "torch" in sys.modules else "torch not imported")
sys.exit(rc)
"""


@pytest.mark.parametrize("command", [
    ["predict", "{study}", "--model", "no-such-model", "-o", "{out}/x.nrrd"],
    ["export", "--model", "no-such-model", "-o", "{out}/x.onnx"],
    ["classify", "{study}", "--model", "no-such-model"],
    ["run", "{study}", "-o", "{out}/run", "--model", "no-such-model"],
])
def test_a_wrong_model_name_fails_before_torch_is_imported(tmp_path, command):
    args = [a.format(study=tmp_path, out=tmp_path) for a in command]
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no-such-model: no such model folder, and not a shipped model" in proc.stderr
    assert proc.stdout.strip() == "torch not imported"
    assert not (tmp_path / "run").exists()
