"""The report as a person sees it: headless Chromium renders report.html to a non-blank page."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from medseg.phantom import write_phantom_study
from medseg.pipeline.study import run_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make browser` installs it)")
def test_report_renders_in_chromium(tmp_path):
    import matplotlib.image as mpimg

    study = write_phantom_study(tmp_path / "p", seed=0, shape=(8, 64, 64))
    result = run_study(study["dicom"], tmp_path / "out", radiomics_preset=None, meshes=False)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1600",
                    f"--screenshot={shot}", result.outputs["report"].resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] == 1600
    # Text, tables and the embedded overlay make a page far from uniform white.
    assert float(np.std(pixels[..., :3])) > 0.05
    assert float((pixels[..., :3].mean(axis=2) < 0.5).mean()) > 0.01


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make browser` installs it)")
def test_removed_objects_show_in_magenta_in_the_browser(tmp_path):
    """The phantom's table (removed objects) is drawn in saturated magenta where a person looks at the page."""
    import matplotlib.image as mpimg

    study = write_phantom_study(tmp_path / "p", seed=0, shape=(8, 64, 64))
    result = run_study(study["dicom"], tmp_path / "out", radiomics_preset=None, meshes=False)
    assert any(r["segment"] == "table-headrest" and r["voxel_count"] for r in result.stats_rows)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,6000",
                    f"--screenshot={shot}", result.outputs["report"].resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    rgb = mpimg.imread(shot)[..., :3]
    magenta = (rgb[..., 0] > 0.75) & (rgb[..., 1] < 0.35) & (rgb[..., 2] > 0.75)
    rows = np.flatnonzero(magenta.any(axis=1))
    # The swatch, the montage outlines, the overlay and the label planes: several separate places down the page.
    assert magenta.sum() > 500
    assert len(np.split(rows, np.flatnonzero(np.diff(rows) > 20) + 1)) >= 3
