"""python-gdcm never decodes in-process: its C++ exceptions on a corrupt stream abort the whole
process. It runs only when no Python plugin can decode the syntax, and then in a child process."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import DicomDecodeError
from medseg.io import load
from medseg.io.dicom import pixels
from robust_corpus import cut, jpeg2000_series, phantom_hu


def test_gdcm_is_never_the_in_process_decoder():
    assert "gdcm" not in pixels.IN_PROCESS_PLUGINS


def test_gdcm_runs_in_a_child_when_it_is_the_only_decoder(tmp_path, monkeypatch):
    pytest.importorskip("gdcm")
    files = jpeg2000_series(tmp_path / "j", n=3)
    monkeypatch.setattr(pixels, "IN_PROCESS_PLUGINS", ())  # as where only python-gdcm is installed
    calls = []
    real = pixels._gdcm_in_child
    monkeypatch.setattr(pixels, "_gdcm_in_child", lambda path: calls.append(path) or real(path))
    image, _ = load(tmp_path / "j")
    assert len(calls) == 3
    assert np.array_equal(sitk.GetArrayFromImage(image), phantom_hu(3, 32))  # bit-exact through the child
    cut(files[1], 0.5)
    with pytest.raises(DicomDecodeError, match=files[1].name):
        load(tmp_path / "j")


def test_a_crash_in_the_child_is_an_error_here(tmp_path, monkeypatch):
    files = jpeg2000_series(tmp_path / "j", n=2)
    monkeypatch.setattr(pixels, "_GDCM_CHILD", "import os; os.abort()")  # what an uncaught C++ exception does
    with pytest.raises(ValueError, match="the gdcm decoder failed \\(signal 6\\)"):
        pixels._gdcm_in_child(files[0])
