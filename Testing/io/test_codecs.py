"""Transfer syntaxes: every lossless syntax this environment can encode
decodes bit-exact to the uncompressed original; lossy JPEG baseline within a stated tolerance;
corrupted compressed streams give exit 2 (DicomDecodeError), never a crash.

An encoder that is not available here skips its case with the exact reason, so a skip is seen.
Decoders that crash (C code) must not take pytest down: corrupted streams are read in subprocesses.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.encaps import encapsulate
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, JPEG2000Lossless,
                         JPEGBaseline8Bit, JPEGLSLossless, RLELossless, UID)

from medseg.io import load
from medseg.io.dicom.compat import JPEGLossless, JPEGLosslessSV1, generate_frames, save_as
from medseg.phantom import make_chest
from medseg.phantom.dicom_codecs import encoder_missing, transcode
from medseg.phantom.dicom_writer import write_ct_series

LOSSLESS = [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, RLELossless, JPEGLSLossless,
            JPEG2000Lossless, JPEGLosslessSV1, JPEGLossless]
#: Lossy JPEG baseline tolerance, stated for the README: 8-bit stored values (slope 8 HU) may move
#: by at most 2 stored steps (16 HU) and by 2 HU on average.
LOSSY_MAX_HU, LOSSY_MEAN_HU = 16.0, 2.0


@pytest.fixture(scope="module")
def phantom():
    # Out-of-field corners (PixelPaddingValue -2000) make the stored values signed: the harder case.
    return make_chest((3, 64, 64), seed=5, fov_diameter_mm=300.0)


@pytest.fixture(scope="module")
def reference(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, folder, pixel_padding_value=-2000,
                            padding_mask=phantom.padding_mask)
    image, _ = load(folder)
    return files, image


def _require(syntax, bits_stored=16):
    reason = encoder_missing(syntax, bits_stored)
    if reason:
        pytest.skip(f"{UID(syntax).name} cannot be encoded here: {reason}")


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda s: UID(s).keyword or str(s))
def test_lossless_syntax_is_bit_exact(syntax, phantom, reference, tmp_path):
    _require(syntax)
    ref_files, ref_image = reference
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "w", pixel_padding_value=-2000,
                            padding_mask=phantom.padding_mask, transfer_syntax=syntax)
    recoded = transcode(ref_files, tmp_path / "t", syntax)  # the same through the transcoder
    for folder, written in ((tmp_path / "w", files), (tmp_path / "t", recoded)):
        for a, b in zip(ref_files, written):
            ds = pydicom.dcmread(b)
            assert ds.file_meta.TransferSyntaxUID == syntax
            assert np.array_equal(ds.pixel_array, pydicom.dcmread(a).pixel_array)  # stored values
        image, meta = load(folder)
        assert meta["transfer_syntax"] == syntax
        assert np.array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(ref_image))
        assert image.GetOrigin() == ref_image.GetOrigin() and image.GetSpacing() == ref_image.GetSpacing()
        assert not any("lossy" in w for w in meta["warnings"])


def test_lossy_jpeg_baseline_within_tolerance(phantom, tmp_path):
    _require(JPEGBaseline8Bit, bits_stored=8)
    hu = np.clip(phantom.hu, -1024, 1016)  # 8 bits at 8 HU per step from -1024
    kw = dict(bits_stored=8, rescale_slope=8, rescale_intercept=-1024, pixel_representation=0)
    write_ct_series(hu, phantom.spacing, phantom.origin, tmp_path / "raw8", **kw)
    files = write_ct_series(hu, phantom.spacing, phantom.origin, tmp_path / "jpeg", transfer_syntax=JPEGBaseline8Bit, **kw)
    ds = pydicom.dcmread(files[0])
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit and ds.LossyImageCompression == "01"
    assert list(ds.ImageType)[:2] == ["DERIVED", "PRIMARY"]  # lossy copies are DERIVED, and still loaded
    exact, _ = load(tmp_path / "raw8")
    lossy, meta = load(tmp_path / "jpeg")
    diff = np.abs(sitk.GetArrayFromImage(lossy).astype(float) - sitk.GetArrayFromImage(exact))
    assert diff.max() <= LOSSY_MAX_HU and diff.mean() <= LOSSY_MEAN_HU, (diff.max(), diff.mean())
    assert any("lossy-compressed" in w for w in meta["warnings"])


def test_big_endian_reads_in_simpleitk_too(phantom, reference, tmp_path):
    # An independent reader agrees that our big-endian files are well-formed.
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path, transfer_syntax=ExplicitVRBigEndian)
    ref = pydicom.dcmread(reference[0][1]).pixel_array
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(files[1])))[0]
    ours = pydicom.dcmread(files[1]).pixel_array
    assert np.array_equal(theirs, phantom.hu[1]) and np.array_equal(ours.astype(int) - 1024, phantom.hu[1])
    assert ref.shape == ours.shape


# --- corrupted streams: exit 2, in a subprocess ----------------------------------------------------

def _corrupt(src, dst, how: str) -> None:
    ds = pydicom.dcmread(src)
    frame = bytes(next(generate_frames(ds.PixelData, 1)))
    if how == "truncated":
        frame = frame[: len(frame) // 2]
    elif how == "cut-end":
        frame = frame[:-12]
    elif how == "zeroed-header":
        frame = frame[:2] + bytes(30) + frame[32:]
    ds.PixelData = encapsulate([frame])
    save_as(ds, dst)


@pytest.mark.parametrize("syntax,how", [(JPEG2000Lossless, "truncated"), (JPEG2000Lossless, "zeroed-header"),
                                        (JPEGLSLossless, "truncated"), (JPEGLSLossless, "cut-end"),
                                        (RLELossless, "truncated"), (JPEGLosslessSV1, "truncated")],
                         ids=lambda v: UID(v).keyword if str(v).startswith("1.2") else v)
def test_corrupted_stream_exits_2(syntax, how, phantom, tmp_path, cli):
    _require(syntax)
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "s", transfer_syntax=syntax)
    _corrupt(files[1], files[1], how)
    res = cli("convert", tmp_path / "s", "-o", tmp_path / "out.nrrd")  # a subprocess: a C crash cannot kill pytest
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "cannot decode" in res.stderr and files[1].name in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out.nrrd").exists()


FUZZ = textwrap.dedent("""
    import sys, numpy as np, pydicom
    from pydicom.encaps import encapsulate
    from medseg.io.dicom.compat import generate_frames, save_as
    from medseg.errors import MedSegError
    from medseg.io import load
    src, work = sys.argv[1], sys.argv[2]
    ds = pydicom.dcmread(src)
    frame = bytes(next(generate_frames(ds.PixelData, 1)))
    rng = np.random.default_rng(11)
    outcome = {"ok": 0, "error": 0}
    for trial in range(int(sys.argv[3])):
        data = bytearray(frame)
        for _ in range(int(rng.integers(1, 8))):  # flip a few random bytes
            data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
        if trial % 3 == 0:
            data = data[: int(rng.integers(8, len(data)))]
        ds.PixelData = encapsulate([bytes(data)])
        save_as(ds, work)
        try:
            load(work)
            outcome["ok"] += 1  # a flipped bit in entropy-coded data decodes to other values: undetectable
        except MedSegError:
            outcome["error"] += 1
    print(outcome)
""")


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless, RLELossless, JPEGLosslessSV1],
                         ids=lambda s: UID(s).keyword)
def test_fuzzed_streams_never_crash(syntax, phantom, tmp_path):
    """Random byte flips and truncations: each either decodes or raises a MedSegError (exit 2);
    any other exception or a crash of a C decoder fails the subprocess."""
    _require(syntax)
    files = write_ct_series(phantom.hu[:1], phantom.spacing, phantom.origin, tmp_path / "s", transfer_syntax=syntax)
    proc = subprocess.run([sys.executable, "-c", FUZZ, str(files[0]), str(tmp_path / "fuzz.dcm"), "30"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert "'error': " in proc.stdout and "'error': 0}" not in proc.stdout, proc.stdout
