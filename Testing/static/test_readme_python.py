"""The README's Python example runs as written, from the repository root, on the real abdomen."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, shared
from medseg.io import read_label_image


def test_readme_python_example_runs_as_written():
    shared("ct-abdomen-20", "dicom")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) == 3, code
    out = re.search(r'"(out/[^"]+\.seg\.nrrd)"', code).group(1)
    (REPO / out).unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    labels, names = read_label_image(REPO / out)
    assert {"body", "table-headrest", "bone"} <= set(names.values())
    (REPO / out).unlink()
