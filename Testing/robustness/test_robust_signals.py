"""Interruption: SIGTERM is handled like Ctrl-C (exit 143, temporary files removed, worker processes
stopped); a parent killed outright takes its workers with it, and reruns clear what it left.
Noise: third-party warnings go to the log (MEDSEG_LOG), not to stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from robust_corpus import cut, first_line_error, phantom_series, real_slices, run_cli

ENV = dict(os.environ, MEDSEG_PROGRESS="0")


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(predicate, timeout: float = 120.0, step: float = 0.002) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.fixture(scope="module")
def abdomen(tmp_path_factory):
    return real_slices("ct-abdomen-20", 8, tmp_path_factory.mktemp("abd") / "dicom")[0].parent


def test_sigterm_during_a_write(abdomen, tmp_path):
    out = tmp_path / "o" / "abd.nii.gz"
    proc = subprocess.Popen([sys.executable, "-m", "medseg", "convert", str(abdomen), "-o", str(out)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    caught = _wait_for(lambda: proc.poll() is not None or (out.parent.is_dir() and any(out.parent.glob(".abd-*"))))
    if proc.poll() is not None or not caught:
        pytest.skip("the write finished before SIGTERM could be sent")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(out.parent.glob(".*"))


def _segments_image(abdomen, tmp_path) -> Path:
    from medseg.io import load

    image, _ = load(abdomen)
    arr = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    for v in range(1, 9):  # eight blocks inside the body
        y, x = 150 + 40 * ((v - 1) // 4), 150 + 50 * ((v - 1) % 4)
        arr[1:7, y:y + 35, x:x + 45] = v
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(image)
    path = tmp_path / "blocks.nrrd"
    sitk.WriteImage(labels, str(path))
    return path


def test_sigterm_stops_radiomics_workers_and_removes_their_folder(abdomen, tmp_path):
    pytest.importorskip("radiomics")
    labels = _segments_image(abdomen, tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    params = tmp_path / "slow.yaml"
    params.write_text("setting:\n  binWidth: 5\n  resampledPixelSpacing: [0.5, 0.5, 0.5]\n")
    proc = subprocess.Popen([sys.executable, "-m", "medseg", "radiomics", str(abdomen), str(labels), "-o",
                             str(tmp_path / "r.csv"), "--jobs", "2", "--params", str(params)],
                            env=dict(ENV, TMPDIR=str(tmp)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = _wait_for(lambda: proc.poll() is not None or (len(_children(proc.pid)) >= 2 and any(tmp.iterdir())),
                        step=0.05)
    if proc.poll() is not None:
        pytest.fail(f"radiomics ended before the workers were seen: {proc.communicate()}")
    assert started
    time.sleep(0.5)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10, step=0.05), "workers kept running"
    assert not list(tmp.iterdir()), list(tmp.iterdir())  # no medseg-radiomics-* folder, no voxels left
    assert not (tmp_path / "r.csv").exists()


def test_sigkill_of_the_parent_takes_the_workers_and_a_rerun_cleans_up(abdomen, tmp_path):
    pytest.importorskip("radiomics")
    from medseg.measure.radiomics.pool import remove_stale_pool_dirs

    labels = _segments_image(abdomen, tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    params = tmp_path / "slow.yaml"
    params.write_text("setting:\n  binWidth: 5\n  resampledPixelSpacing: [0.5, 0.5, 0.5]\n")
    proc = subprocess.Popen([sys.executable, "-m", "medseg", "radiomics", str(abdomen), str(labels), "-o",
                             str(tmp_path / "r.csv"), "--jobs", "2", "--params", str(params)],
                            env=dict(ENV, TMPDIR=str(tmp)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: len(_children(proc.pid)) >= 2 and any(tmp.iterdir()), step=0.05)
    time.sleep(0.5)
    workers = _children(proc.pid)
    proc.kill()
    proc.wait()
    assert _wait_for(lambda: not any(_alive(w) for w in workers), timeout=15, step=0.05), "orphaned workers"
    left = [p for p in tmp.iterdir() if p.name.startswith("medseg-radiomics-")]
    assert left  # SIGKILL leaves the folder...
    assert remove_stale_pool_dirs(tmp) == left and not any(tmp.iterdir())  # ...the next pool removes it


def test_third_party_warnings_go_to_the_log_not_stderr(tmp_path):
    files = phantom_series(tmp_path / "s", n=6)
    data = bytearray(files[2].read_bytes())
    data[400:480] = bytes(range(80))  # pydicom warns while it reads this header
    files[2].write_bytes(bytes(data))
    cut(files[4], len(files[4].read_bytes()) - 10)
    log = tmp_path / "medseg.log"
    res = subprocess.run([sys.executable, "-m", "medseg", "convert", str(tmp_path / "s"), "-o",
                          str(tmp_path / "o.nrrd"), "--skip-damaged"], capture_output=True, text=True,
                         env=dict(ENV, MEDSEG_LOG=str(log)))
    assert res.returncode == 0, res.stderr
    assert all(line.startswith("medseg: warning:") for line in res.stderr.strip().splitlines()), res.stderr
    assert "pydicom" in log.read_text() or "py.warnings" in log.read_text()


def test_pykwalify_errors_do_not_double_the_error_line(tmp_path):
    pytest.importorskip("radiomics")
    phantom_series(tmp_path / "s", n=4)
    arr = np.zeros((4, 32, 32), np.uint8)
    arr[1:3, 8:24, 8:24] = 1
    labels = sitk.GetImageFromArray(arr)
    labels.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(labels, str(tmp_path / "l.nrrd"))
    params = tmp_path / "p.yaml"
    params.write_text("setting: {binWidth: abc}\n")
    line = first_line_error(run_cli("radiomics", tmp_path / "s", tmp_path / "l.nrrd", "-o", tmp_path / "r.csv",
                                    "--params", params))
    assert "binWidth" in line


def test_predict_warnings_carry_the_medseg_prefix(tmp_path):
    pytest.importorskip("torch")
    phantom_series(tmp_path / "s", n=4, spacing=(2.0, 0.1, 0.1))  # far finer pixels than the model saw
    res = run_cli("predict", tmp_path / "s", "--model", "lungs", "-o", tmp_path / "p.nrrd")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines and all(line.startswith("medseg: warning:") for line in lines), res.stderr
    assert any("pixel spacing" in line for line in lines)
