"""`medseg run`: every output and a report that shows what was measured (batches: test_batch.py)."""

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
    res = cli("run", study["dicom"], "-o", tmp_path / "out", "--radiomics", "ct-baseline")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out" / "dicom"  # the study's folder, named after its input
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
