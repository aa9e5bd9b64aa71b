"""Model cards are validated against the shipped schema; every numeric option has a type and a
range; ``export`` never destroys the model it reads; parameter files fail early."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from medseg.unet.card import SHIPPED, ModelError, read_card
from medseg.unet.card_schema import errors, schema
from robust_corpus import first_line_error, no_temp_files, phantom_series, run_cli

pytest.importorskip("torch")


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "M"
    shutil.copytree(SHIPPED / "lungs", folder)
    return folder


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(folder, change) -> None:
    card = json.loads((folder / "model.json").read_text())
    change(card)
    (folder / "model.json").write_text(json.dumps(card))


CARDS = {
    "classes as strings": (lambda c: c.update(classes=["background", "lung-right", "lung-left"]), "classes[0]"),
    "colour abc": (lambda c: c["classes"][1].update(color="abc"), "classes[1].color"),
    "convs ['a']": (lambda c: c["architecture"].update(convs=["a"] * 5), "architecture.convs[0]"),
    "junk input_range": (lambda c: c.update(input_range="junk"), "input_range"),
    "input_range values junk": (lambda c: c["input_range"].update(hu_p1=["a", 3]), "input_range.hu_p1[0]"),
    "size [0, 0]": (lambda c: c["preprocessing"].update(size=[0, 0]), "preprocessing.size[0]"),
    "size negative": (lambda c: c["preprocessing"].update(size=[-192, 192]), "preprocessing.size[0]"),
    "spacing NaN": (lambda c: c["preprocessing"].update(spacing_mm=float("nan")), "preprocessing.spacing_mm"),
    "window inf": (lambda c: c["preprocessing"].update(window=[-1000, float("inf")]), "preprocessing.window[1]"),
    "base 200000": (lambda c: c["architecture"].update(base=200000), "architecture.base"),
    "weights outside the folder": (lambda c: c["weights"].update(file="../../x.pt"), "weights.file"),
    "unknown architecture field": (lambda c: c["architecture"].update(width=3), "architecture.width"),
}


@pytest.mark.parametrize("case", sorted(CARDS))
def test_broken_card_is_refused_naming_the_field(case, model):
    change, field = CARDS[case]
    _edit(model, change)
    with pytest.raises(ModelError, match=field.replace("[", r"\[").replace("]", r"\]")):
        read_card(model)


def test_broken_card_through_predict_is_one_line(model, tmp_path):
    _edit(model, CARDS["base 200000"][0])
    phantom_series(tmp_path / "s", n=4)
    out = tmp_path / "p.nrrd"
    line = first_line_error(run_cli("predict", tmp_path / "s", "--model", model, "-o", out))
    assert "architecture.base" in line and not out.exists()


def test_the_weights_limit_applies_below_the_schema_maximum(model, monkeypatch):
    from medseg.errors import LimitError

    _edit(model, lambda c: c["architecture"].update(base=4096, max_width=8192))  # ~45 GB of weights
    with pytest.raises(LimitError, match="weights.*MEDSEG_MAX_(VOXELS|BYTES)"):
        read_card(model)
    _edit(model, lambda c: c["architecture"].update(base=8, max_width=128))
    monkeypatch.setenv("MEDSEG_MAX_BYTES", "1M")  # the shipped model's 2 MB of weights, under a 1 MiB limit
    with pytest.raises(LimitError, match="1 MiB.*MEDSEG_MAX_BYTES"):
        read_card(model)


def test_shipped_cards_pass_the_schema_and_jsonschema_agrees(model):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema())
    validator = jsonschema.Draft202012Validator(schema())
    for name in ("lungs", "table-headrest"):
        card = json.loads((SHIPPED / name / "model.json").read_text())
        assert errors(card) == [] and list(validator.iter_errors(card)) == []
    for case, (change, _field) in CARDS.items():
        card = json.loads((model / "model.json").read_text())
        change(card)
        if "NaN" in case or "inf" in case:
            continue  # JSON Schema cannot say "finite"; only MedSeg's validator refuses those
        assert errors(card) and list(validator.iter_errors(card)), case


def test_export_onto_its_own_model_is_refused_and_the_model_survives(model, tmp_path):
    (model / "previous.onnx").write_bytes(b"an earlier export, kept in the model folder")
    before = {p.name: _sha(p) for p in model.iterdir()}
    for target in (model / "model.pt", model / "previous.onnx"):
        line = first_line_error(run_cli("export", "--model", model, "-o", target, "--no-check"))
        assert "input" in line
    assert {p.name: _sha(p) for p in model.iterdir()} == before and not no_temp_files(model)
    read_card(model)
    from medseg.unet.card import load_model

    load_model(model)  # the checksum still matches: predict keeps working
    res = run_cli("export", "--model", model, "-o", tmp_path / "out" / "m.pt", "--no-check")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "m.pt").stat().st_size > 0 and (tmp_path / "out" / "m.pt.json").is_file()


def test_export_to_a_full_disk_is_one_line_and_leaves_nothing(model, tmp_path):
    from robust_corpus import in_namespace, medseg_command

    full = tmp_path / "full"
    full.mkdir()
    res = in_namespace(f"mount -t tmpfs -o size=200k none {full} && "
                       f"{medseg_command('export', '--model', model, '-o', full / 'm.pt', '--no-check')}; "
                       f"echo rc=$?; ls -A {full}")
    assert "rc=2" in res.stdout, (res.stdout, res.stderr)
    assert res.stdout.strip().splitlines()[-1] == "rc=2"  # nothing listed after it: no file, no temp file
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "m.pt" in lines[0], res.stderr


OPTIONS = [
    ("predict", "IN", "--model", "lungs", "-o", "OUT", "--batch-size", "0"),
    ("predict", "IN", "--model", "lungs", "-o", "OUT", "--batch-size", "-4"),
    ("train", "--data", "IN", "--out", "OUT", "--epochs", "0"),
    ("train", "--data", "IN", "--out", "OUT", "--lr", "nan"),
    ("train", "--data", "IN", "--out", "OUT", "--workers", "-2"),
    ("train", "--data", "IN", "--out", "OUT", "--dropout", "1.5"),
    ("mesh", "IN", "-o", "OUT", "--smooth", "100000000"),
    ("mesh", "IN", "-o", "OUT", "--decimate", "inf"),
    ("radiomics", "IN", "IN", "-o", "OUT", "--jobs", "-1"),
    ("dataset", "IN", "-o", "OUT", "--val-fraction", "2"),
    ("contours", "IN", "IN", "-o", "OUT", "--slice", "-1"),
    ("demo", "-o", "OUT", "--seed", "-5"),
]


@pytest.mark.parametrize("argv", OPTIONS, ids=[" ".join(a[:1] + a[-2:]) for a in OPTIONS])
def test_numeric_option_out_of_range_is_a_usage_error(argv, tmp_path):
    args = [str(tmp_path / "in") if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    line = first_line_error(run_cli(*args))
    assert f"argument {argv[-2]}" in line
    assert not (tmp_path / "out").exists()


def test_dataset_size_is_checked_before_anything_is_loaded(tmp_path):
    from medseg.cli.unet import dataset
    from medseg.errors import ParameterError

    missing = tmp_path / "no-such-study"  # never opened: the option is refused first
    for size in ("100000", "0", "12.5", "nan", "-4"):
        with pytest.raises(ParameterError, match="--size"):
            dataset([missing], tmp_path / "d", size=size, auto="lungs")
    line = first_line_error(run_cli("dataset", missing, "-o", tmp_path / "d", "--size", "100000", "--auto", "lungs"))
    assert "--size" in line and not (tmp_path / "d").exists()


def test_binary_radiomics_params_file(tmp_path):
    pytest.importorskip("radiomics")
    params = tmp_path / "p.yaml"
    params.write_bytes(bytes(range(256)) * 4)
    phantom_series(tmp_path / "s", n=4)
    assert "not a YAML text file" in first_line_error(run_cli("radiomics", tmp_path / "s", tmp_path / "s",
                                                              "-o", tmp_path / "r.csv", "--params", params))


def test_run_with_a_broken_params_file_fails_before_writing(tmp_path):
    pytest.importorskip("radiomics")
    params = tmp_path / "broken.yaml"
    params.write_text("setting:\n  binWidth: [unclosed\n")
    phantom_series(tmp_path / "s", n=4)
    line = first_line_error(run_cli("run", tmp_path / "s", "-o", tmp_path / "out", "--params", params))
    assert "broken.yaml" in line and not (tmp_path / "out").exists()
    params.write_text("setting:\n  binWidth: -3\n")  # valid YAML, refused by pyradiomics' schema
    first_line_error(run_cli("run", tmp_path / "s", "-o", tmp_path / "out", "--params", params))
    assert not (tmp_path / "out").exists()
