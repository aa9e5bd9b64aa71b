"""`medseg run` on several studies into one root: one folder each, resume, overwrite, stale
outputs, config.yaml, medseg.log, batch.csv, exit codes."""

from __future__ import annotations

import json

import yaml

from batch_helpers import batch_rows, patient_studies  # noqa: E402

RUN_FAST = ("--no-meshes", "--no-dicom-seg")


def test_two_studies_whose_folders_share_a_name_get_two_folders(tmp_path, cli):
    first, second = patient_studies(tmp_path / "in")
    out = tmp_path / "out"
    res = cli("run", first, second, "-o", out, *RUN_FAST)
    assert res.returncode == 0, res.stderr
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["patient-1_dicom", "patient-2_dicom"]
    for name, study in zip(folders, (first, second)):
        record = json.loads((out / name / "medseg-run.json").read_text())
        assert record["input"] == str(study.resolve())
        assert (out / name / "report.html").stat().st_size > 0
        assert not (out / name / "radiomics.csv").exists()  # radiomics is off unless asked
    assert (out / folders[0] / "ct.nrrd").read_bytes() != (out / folders[1] / "ct.nrrd").read_bytes()
    rows = batch_rows(out)
    assert {n: r["status"] for n, r in rows.items()} == {"patient-1_dicom": "done", "patient-2_dicom": "done"}
    assert rows["patient-1_dicom"]["input"] == str(first) and float(rows["patient-1_dicom"]["seconds"]) > 0

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["command"][:2] == ["medseg", "run"]
    assert [s["folder"] for s in config["studies"]] == folders
    assert config["options"] == {"series": None, "resample": True, "force": False, "skip_damaged": False,
                                 "radiomics_preset": None, "radiomics_labels": None, "jobs": 1, "models": [],
                                 "device": "auto", "meshes": False, "dicom_seg": False}
    assert {"medseg", "python", "numpy", "SimpleITK", "pydicom", "pyradiomics", "torch"} <= set(config["libraries"])
    log = (out / "medseg.log").read_text()
    assert "patient-1_dicom: done" in log and "patient-2_dicom: done" in log


def test_resume_skips_a_complete_study_and_overwrite_redoes_it(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1)
    out = tmp_path / "out"
    assert cli("run", study, "-o", out, "--no-dicom-seg").returncode == 0
    folder = out / "dicom"
    assert (folder / "meshes").is_dir()
    report = (folder / "report.html").stat()

    res = cli("run", study, "-o", out, "--no-dicom-seg")
    assert res.returncode == 0, res.stderr
    assert "skipped" in res.stdout
    assert batch_rows(out)["dicom"]["status"] == "skipped"
    assert (folder / "report.html").stat().st_mtime_ns == report.st_mtime_ns

    res = cli("run", study, "-o", out, "--no-dicom-seg", "--overwrite", "--quiet")
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    assert batch_rows(out)["dicom"]["status"] == "done"
    assert (folder / "report.html").stat().st_ino != report.st_ino

    # Other options: the earlier outputs go, not just the files the new run writes again.
    res = cli("run", study, "-o", out, "--no-dicom-seg", "--no-meshes")
    assert batch_rows(out)["dicom"]["status"] == "done", res.stderr
    assert not (folder / "meshes").exists() and not (folder / "meshes.png").exists()
    assert json.loads((folder / "medseg-run.json").read_text())["options"]["meshes"] is False
    assert sorted(p.name for p in out.iterdir()) == ["batch.csv", "config.yaml", "dicom", "medseg.log"]


def test_radiomics_only_when_asked(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1)
    out = tmp_path / "out"
    res = cli("run", study, "-o", out, *RUN_FAST, "--radiomics", "ct-baseline", "--radiomics-labels", "lung-right")
    assert res.returncode == 0, res.stderr
    rows = (out / "dicom" / "radiomics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("lung-right,")
    assert yaml.safe_load((out / "config.yaml").read_text())["options"]["radiomics_preset"] == "ct-baseline"

    res = cli("run", study, "-o", out, *RUN_FAST, "--radiomics-labels", "lung-right")
    assert res.returncode == 2 and "add --radiomics" in res.stderr
    res = cli("run", "-o", out, "--radiomics", study, study.parent)  # the bare word after it is its preset
    assert res.returncode == 2 and "put --radiomics after the inputs" in res.stderr


def test_a_missing_input_is_one_line_and_creates_nothing(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1)
    out = tmp_path / "out"
    res = cli("run", study, tmp_path / "nonexist", "-o", out)
    assert res.returncode == 2
    assert res.stderr == f"medseg run: error: {tmp_path / 'nonexist'}: no such file or folder\n"
    assert not out.exists()


def test_some_studies_failing_exit_3_and_are_named(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1)
    empty = tmp_path / "in" / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    res = cli("run", study, empty, "-o", out, *RUN_FAST)
    assert res.returncode == 3, res.stderr
    assert "1 of 2 studies failed: empty" in res.stderr
    error = [line for line in res.stderr.splitlines() if line.startswith("medseg run: error:")]
    assert len(error) == 1 and error[0].count(str(empty)) == 1
    rows = batch_rows(out)
    assert rows["empty"]["status"] == "failed" and rows["empty"]["error"]
    assert rows["patient-1_dicom"]["status"] == "done"
    assert not (out / "empty").exists()

    res = cli("run", empty, "-o", out)  # one study: its error is the command's
    assert res.returncode == 2
