"""Every write is checked: a full disk, a file-size limit, a read-only file system, a denied
folder, a parent that is a file or /proc are one line and exit 2 naming the path, and leave no
partial output and no temporary file. Output paths are checked before the first write."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import SimpleITK as sitk

from robust_corpus import (first_line_error, in_namespace, medseg_command, no_temp_files, phantom_series,
                           real_slices, run_cli)


@pytest.fixture(scope="module")
def abdomen(tmp_path_factory):
    """Five real 512 x 512 slices (about 2.6 MB as NRRD, 5 MB as NIfTI)."""
    return real_slices("ct-abdomen-20", 5, tmp_path_factory.mktemp("abd") / "dicom")[0].parent


@pytest.mark.parametrize("name", ["abd.nii", "abd.nii.gz", "abd.nrrd", "abd.mha"])
def test_full_disk_is_an_error_not_a_success(name, abdomen, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    res = in_namespace(f"mount -t tmpfs -o size=300k none {full} && "
                       f"{medseg_command('convert', abdomen, '-o', full / name)}; echo rc=$?; ls -A {full}")
    assert res.stdout.strip().splitlines() == ["rc=2"], (res.stdout, res.stderr)  # and nothing left in the folder
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and name in lines[0], res.stderr
    assert "wrote" not in res.stdout


def _limited(limit_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


@pytest.mark.parametrize("cmd", ["convert", "stats", "mesh"])
def test_file_size_limit(cmd, abdomen, tmp_path):
    env = dict(os.environ, MEDSEG_PROGRESS="0", PYTHONDONTWRITEBYTECODE="1")
    out = tmp_path / "out"
    if cmd == "convert":
        argv = ["convert", abdomen, "-o", out / "big.nii"]
    elif cmd == "stats":
        labels = tmp_path / "l.nrrd"
        assert run_cli("autolabel", abdomen, "-o", labels).returncode == 0
        argv = ["stats", abdomen, labels, "-o", out / "s.json"]
    else:
        labels = tmp_path / "l.seg.nrrd"
        assert run_cli("autolabel", abdomen, "-o", labels).returncode == 0
        argv = ["mesh", labels, "-o", out]
    proc = subprocess.run([sys.executable, "-m", "medseg", *map(str, argv)], capture_output=True, text=True,
                          env=env, preexec_fn=_limited(2000 if cmd != "convert" else 200_000), timeout=600)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and ("file too large" in lines[0] or "incomplete" in lines[0]), proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_read_only_file_system(abdomen, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    res = in_namespace(f"mount -t tmpfs -o size=10m,ro none {ro} && "
                       f"{medseg_command('convert', abdomen, '-o', ro / 'a.nrrd')}; echo rc=$?")
    assert "rc=2" in res.stdout, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0] and "a.nrrd" in lines[0]


@pytest.mark.parametrize("where", ["sys", "proc", "parent is a file", "denied folder"])
def test_os_errors_are_one_line_naming_the_path(where, tmp_path):
    phantom_series(tmp_path / "s", n=3)
    if where == "sys":
        target = Path("/sys/medseg-test.nrrd")  # EACCES even for root
    elif where == "proc":
        target = Path("/proc/medseg-test.nrrd")
    elif where == "parent is a file":
        (tmp_path / "file").write_text("x")
        target = tmp_path / "file" / "out.nrrd"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into any folder; /sys stands in for a denied folder")
        (tmp_path / "locked").mkdir(mode=0o500)
        target = tmp_path / "locked" / "out.nrrd"
    for argv in (("convert", tmp_path / "s", "-o", target), ("run", tmp_path / "s", "-o", target.parent / "run")):
        line = first_line_error(run_cli(*argv, "--no-radiomics") if argv[0] == "run" else run_cli(*argv))
        assert str(target.parent) in line, line


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path):
    phantom_series(tmp_path / "s", n=3)
    out = tmp_path / "ct.nrrd"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".ct-{dead.pid}-abcd1234.nrrd"  # as a writer killed by SIGKILL leaves it
    stale.write_bytes(b"half a volume")
    alive = tmp_path / f".ct-{os.getpid()}-efgh5678.nrrd"  # a live writer's: never touched
    alive.write_bytes(b"being written")
    other = tmp_path / ".notes-123-x.txt"
    other.write_text("not ours")
    assert run_cli("convert", tmp_path / "s", "-o", out).returncode == 0
    assert not stale.exists() and alive.exists() and other.exists()


def test_sigkill_during_a_write_then_rerun(abdomen, tmp_path):
    out = tmp_path / "o" / "abd.nii.gz"
    proc = subprocess.Popen([sys.executable, "-m", "medseg", "convert", str(abdomen), "-o", str(out)],
                            env=dict(os.environ, MEDSEG_PROGRESS="0"), stderr=subprocess.PIPE)
    import time

    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.parent.is_dir() and any(out.parent.glob(".abd-*")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the write finished before it could be interrupted")
    assert list(out.parent.glob(".abd-*")) and not out.exists()
    assert run_cli("convert", abdomen, "-o", out).returncode == 0
    assert not list(out.parent.glob(".abd-*")) and out.is_file()


def test_outputs_are_checked_before_the_first_write(tmp_path):
    phantom_series(tmp_path / "s", n=6)
    ct = tmp_path / "ct.nrrd"
    assert run_cli("convert", tmp_path / "s", "-o", ct).returncode == 0
    before = ct.read_bytes()
    cases = [
        (("clean", ct, "-o", tmp_path / "c.nrrd", "--body-mask", ct, "--force"), tmp_path / "c.nrrd"),
        (("clean", ct, "-o", tmp_path / "c.nrrd", "--body-mask", tmp_path / "c.nrrd", "--force"), tmp_path / "c.nrrd"),
        (("lungs", ct, "-o", tmp_path / "l.nrrd", "--roi", ct, "--force"), tmp_path / "l.nrrd"),
        (("lungs", ct, "-o", tmp_path / "l.nrrd", "--roi", tmp_path / "l.nrrd", "--force"), tmp_path / "l.nrrd"),
        (("predict", ct, "--model", "lungs", "-o", tmp_path / "p.nrrd", "--probabilities", tmp_path / "p.nrrd"),
         tmp_path / "p.nrrd"),
        # two label outputs whose names share one sidecar (m.json) would give one the other's names
        (("clean", ct, "-o", tmp_path / "c.nrrd", "--body-mask", tmp_path / "m.nii.gz", "--object-mask",
          tmp_path / "m.nrrd", "--force"), tmp_path / "m.nii.gz"),
        (("lungs", ct, "-o", tmp_path / "l.nrrd", "--roi", tmp_path / "l.nii.gz", "--force"), tmp_path / "l.nrrd"),
        (("stats", ct, ct, "-o", ct), None),
        (("mesh", ct, "-o", tmp_path, "--png", ct), None),
    ]
    for argv, out in cases:
        if argv[0] == "predict":
            pytest.importorskip("torch")
        line = first_line_error(run_cli(*argv))
        assert "refusing" in line, line
        if out is not None:
            assert not out.exists(), argv
    assert ct.read_bytes() == before and not no_temp_files(tmp_path)


def test_run_input_ending_in_dotdot_stays_inside_the_output_root(tmp_path):
    phantom_series(tmp_path / "a" / "series", n=4)
    phantom_series(tmp_path / "b" / "series", n=4, series_number=2)
    root = tmp_path / "out"
    res = run_cli("run", tmp_path / "a" / "series" / "..", tmp_path / "b", "-o", root, "--no-radiomics",
                  "--no-meshes", "--no-dicom-seg", "--force")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["a", "b"]
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "ct.nrrd").exists()


def test_written_volume_reads_back(abdomen, tmp_path):
    for name in ("a.nrrd", "a.nii.gz", "a.mha", "a.nii"):
        res = run_cli("convert", abdomen, "-o", tmp_path / name)
        assert res.returncode == 0, res.stderr
        assert sitk.ReadImage(str(tmp_path / name)).GetSize() == (512, 512, 5)
