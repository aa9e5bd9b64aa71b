"""`medseg run`: every output and a report that shows what was measured; batches exit 3 on failures."""

from __future__ import annotations

import csv
import html.parser

import pydicom

from medseg.phantom import write_phantom_study


class _Report(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.links, self._in_h2 = 0, [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1
        if tag == "a":
            self.links.append(attrs.get("href"))
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def test_run_on_a_chest_phantom(tmp_path, cli):
    study = write_phantom_study(tmp_path / "chest", seed=0, shape=(16, 96, 96))
    out = tmp_path / "out"
    res = cli("run", study["dicom"], "-o", out, "--params", "ct-baseline")
    assert res.returncode == 0, res.stderr
    for name in ("ct.nrrd", "ct-clean.nrrd", "labels.seg.nrrd", "stats.csv", "radiomics.csv", "labels.seg.dcm",
                 "overlay.png", "meshes.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert {p.name for p in (out / "meshes").iterdir()} >= {"lung-right.stl", "lung-left.stl"}
    stats = {r["segment"]: r for r in csv.DictReader((out / "stats.csv").open())}
    truth = study["phantom"].labels
    assert abs(int(stats["lung-right"]["voxel_count"]) - (truth == 3).sum()) < 0.05 * (truth == 3).sum()
    seg = pydicom.dcmread(out / "labels.seg.dcm")
    assert seg.Modality == "SEG"
    parser = _Report()
    parser.feed((out / "report.html").read_text())
    assert {"Input", "Segments", "Radiomics", "Surfaces", "Outputs", "Timings"} <= set(parser.headings)
    assert parser.images == 5  # HU histogram, slice montage, overlay, label planes, static surfaces
    assert "Radiomics preset <b>ct-baseline</b>" in (out / "report.html").read_text()
    assert all((out / link).exists() for link in parser.links)


def test_run_batch_reports_partial_failure(tmp_path, cli):
    study = write_phantom_study(tmp_path / "ok", seed=1, shape=(8, 64, 64))
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("run", study["dicom"], empty, "-o", tmp_path / "out", "--no-radiomics", "--no-meshes")
    assert res.returncode == 3, res.stderr
    assert "1 of 2 studies failed" in res.stdout
    assert (tmp_path / "out" / "dicom" / "report.html").exists()
