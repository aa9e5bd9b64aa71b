"""Bad input gets one clear line, exit 2, no traceback and no output file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from medseg.phantom.dicom_writer import write_ct_series


@pytest.fixture
def tiny_series(tmp_path) -> Path:
    hu = np.full((3, 16, 16), -1000, dtype=np.int16)
    hu[:, 4:12, 4:12] = 40
    folder = tmp_path / "series"
    write_ct_series(hu, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), folder)
    return folder


def assert_user_error(res, out: Path | None, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "error:" in lines[0]
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.glob(f".{out.name.split('.')[0]}-*")], "temp file left behind"


def test_empty_folder(tmp_path, cli):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", tmp_path / "empty", "-o", out), out, "empty")


def test_missing_path(tmp_path, cli):
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", tmp_path / "nope", "-o", out), out, "no such")


def test_folder_of_text_files(tmp_path, cli):
    folder = tmp_path / "text"
    folder.mkdir()
    for i in range(3):
        (folder / f"notes{i}.txt").write_text("not a DICOM file\n" * 20)
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", folder, "-o", out), out, "no DICOM images", "not a DICOM file")
    assert_user_error(cli("info", folder), None, "no DICOM images")


def test_truncated_dicom(tiny_series, tmp_path, cli):
    victim = sorted(tiny_series.iterdir())[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 200])
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", tiny_series, "-o", out), out, victim.name)


def test_truncated_header_only_file(tmp_path, cli):
    folder = tmp_path / "cut"
    folder.mkdir()
    hu = np.zeros((1, 8, 8), dtype=np.int16)
    src = write_ct_series(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), tmp_path / "src")[0]
    (folder / "cut.dcm").write_bytes(src.read_bytes()[:300])
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", folder, "-o", out), out)


def test_dicom_without_pixel_data(tiny_series, tmp_path, cli):
    folder = tmp_path / "nopixels"
    folder.mkdir()
    for f in tiny_series.iterdir():
        ds = pydicom.dcmread(f)
        del ds.PixelData
        ds.save_as(folder / f.name)
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", folder, "-o", out), out, "no pixel data")


def test_unknown_series(tiny_series, tmp_path, cli):
    out = tmp_path / "o.nrrd"
    assert_user_error(cli("convert", tiny_series, "-o", out, "--series", "1.2.3.4"), out, "1.2.3.4", "not in")


def test_output_path_is_an_input_file(tiny_series, cli):
    victim = sorted(tiny_series.iterdir())[0]
    before = victim.read_bytes()
    res = cli("convert", tiny_series, "-o", victim.with_suffix(".nrrd"))  # fine: not an input
    assert res.returncode == 0, res.stderr
    victim.with_suffix(".nrrd").unlink()
    # Rename an input to a volume extension so the writer would accept the format; it must refuse.
    trap = tiny_series / "slice.nrrd"
    victim.rename(trap)
    res = cli("convert", tiny_series, "-o", trap)
    assert_user_error(res, None, "input")
    assert trap.read_bytes() == before


def test_unknown_output_format(tiny_series, tmp_path, cli):
    out = tmp_path / "o.png"
    assert_user_error(cli("convert", tiny_series, "-o", out), out, "format")


def test_every_command_has_help(cli):
    from medseg.cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps subcommands here
    expected = {"info", "convert", "clean", "lungs", "autolabel", "contours", "evaluate", "dataset", "train",
                "predict", "export", "radiomics", "stats", "mesh", "run", "demo"}
    assert expected <= set(commands)
    for name in ("info", "convert", "demo", "clean"):
        res = cli(name, "--help")
        assert res.returncode == 0 and "usage: medseg" in res.stdout


def test_bad_option_exits_2(cli):
    res = cli("convert")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "error:" in lines[0] and "medseg convert --help" in lines[0]
