"""`medseg run` interrupted or run twice at once: nothing half-written, nothing done twice."""

from __future__ import annotations

import json
import signal

from batch_helpers import batch_rows, leftovers, patient_studies, start_run, wait_for  # noqa: E402

RUN_FAST = ("--no-meshes", "--no-dicom-seg")


def _first_output(out):
    return lambda: any(out.glob(".dicom.partial-*/ct.nrrd"))


def test_sigterm_mid_study_leaves_no_partial_file_and_the_rerun_completes(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1, shape=(16, 96, 96))
    out = tmp_path / "out"
    proc = start_run(study, "-o", out)
    wait_for(_first_output(out), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr
    assert leftovers(out) == []
    assert not (out / "dicom").exists()  # no study folder that looks like a result
    assert not (out / ".dicom.lock").exists()
    assert batch_rows(out)["dicom"]["status"] == "interrupted"

    res = cli("run", study, "-o", out)
    assert res.returncode == 0, res.stderr
    assert batch_rows(out)["dicom"]["status"] == "done"
    assert (out / "dicom" / "medseg-run.json").is_file() and (out / "dicom" / "labels.seg.dcm").is_file()


def test_a_killed_run_leaves_a_partial_folder_and_a_lock_that_the_next_run_clears(tmp_path, cli):
    (study,) = patient_studies(tmp_path / "in", n=1, shape=(16, 96, 96))
    out = tmp_path / "out"
    proc = start_run(study, "-o", out)
    wait_for(_first_output(out), proc)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.communicate(timeout=60)
    assert list(out.glob(".dicom.partial-*")) and (out / ".dicom.lock").exists()

    res = cli("run", study, "-o", out, *RUN_FAST)
    assert res.returncode == 0, res.stderr
    assert batch_rows(out)["dicom"]["status"] == "done"
    assert leftovers(out) == [] and not (out / ".dicom.lock").exists()


def test_two_runs_on_one_root_at_once_both_succeed_and_share_the_work(tmp_path):
    studies = patient_studies(tmp_path / "in", n=3)
    out = tmp_path / "out"
    runs = [start_run(*studies, "-o", out, *RUN_FAST) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], [err for _, err in results]
    names = ["patient-1_dicom", "patient-2_dicom", "patient-3_dicom"]
    for name, study in zip(names, studies):
        computed = sum(f"{study}: " in line and "outputs in" in line for stdout, _ in results
                       for line in stdout.splitlines())
        assert computed == 1, f"{name} computed {computed} times"
        record = json.loads((out / name / "medseg-run.json").read_text())
        assert record["input"] == str(study.resolve())
        assert (out / name / "report.html").stat().st_size > 0
    assert leftovers(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["batch.csv", "config.yaml", "medseg.log", *names]
    assert {r["status"] for r in batch_rows(out).values()} <= {"done", "skipped"}
