"""The batch's parts on their own: study folder names and the per-study lock."""

from __future__ import annotations

import os
import subprocess
import sys

from medseg.pipeline import batch_lock
from medseg.pipeline.batch_lock import StudyLock
from medseg.pipeline.batch_names import short_hash, study_names


def test_names_come_from_the_path_under_the_common_parent(tmp_path):
    a, b = tmp_path / "ct-chest-2" / "dicom", tmp_path / "ct-abdomen-20" / "dicom"
    assert study_names([a, b]) == ["ct-chest-2_dicom", "ct-abdomen-20_dicom"]
    assert study_names([a]) == ["dicom"]
    deeper = tmp_path / "site" / "p1" / "study" / "dicom"
    assert study_names([deeper, b]) == ["site_p1_study_dicom", "ct-abdomen-20_dicom"]


def test_a_study_inside_another_gets_a_flat_name_of_its_own(tmp_path):
    outer, inner = tmp_path / "a", tmp_path / "a" / "b"
    assert study_names([outer, inner]) == ["a", "a_b"]


def test_names_that_collide_after_cleaning_get_a_hash(tmp_path):
    one, two, three = tmp_path / "x" / "ct.nrrd", tmp_path / "x" / "ct.nii.gz", tmp_path / "x" / "CT.mha"
    names = study_names([one, two, three])
    assert names == [f"ct-{short_hash(one)}", f"ct-{short_hash(two)}", f"CT-{short_hash(three)}"]
    assert len({n.casefold() for n in names}) == 3
    assert study_names([tmp_path / "p" / "..hidden name!", tmp_path / "..odd"]) == ["p_..hidden_name", "odd"]


def test_reserved_names_of_the_root_are_never_a_study(tmp_path):
    (name,) = study_names([tmp_path / "config.yaml"])
    assert name != "config.yaml" and name.startswith("config.yaml-")


def test_a_held_lock_is_refused_and_released_on_exit(tmp_path):
    path = tmp_path / ".s.lock"
    with StudyLock(path) as first:
        assert first.acquire()
        assert f"pid {os.getpid()}" in first.holder()
        assert not StudyLock(path).acquire()  # another open file: flock refuses it, even in this process
    assert not path.exists()
    again = StudyLock(path)
    assert again.acquire()
    again.release()


def test_a_lock_left_by_a_dead_process_is_taken(tmp_path):
    path = tmp_path / ".s.lock"
    code = f"from medseg.pipeline.batch_lock import StudyLock; import os; StudyLock({str(path)!r}).acquire(); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert path.exists()  # left behind, as by SIGKILL
    lock = StudyLock(path)
    assert lock.acquire()
    lock.release()


def test_without_fcntl_the_lock_is_an_exclusive_file_with_a_pid(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_lock, "fcntl", None)
    path = tmp_path / ".s.lock"
    held = StudyLock(path)
    assert held.acquire() and not StudyLock(path).acquire()
    held.release()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(f"pid {dead.pid} on {os.uname().nodename} since then\n")
    stale = StudyLock(path)
    assert stale.acquire()
    assert f"pid {os.getpid()}" in stale.holder()
    stale.release()
