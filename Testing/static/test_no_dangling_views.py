"""SimpleITK's GetArrayViewFromImage returns a view that does not keep its image alive.

A view of a temporary image (`GetArrayViewFromImage(sitk.ReadImage(...))`) reads freed memory:
garbage values or a crash. This static check keeps that pattern out of the code base.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A call directly inside the argument: GetArrayViewFromImage(f(...)) or (sitk.X(...)).
PATTERN = re.compile(r"GetArrayViewFromImage\(\s*[\w.]+\(")


def test_no_array_view_of_a_temporary_image():
    offenders = []
    for folder in ("MedSegModule", "Testing", "scripts", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == Path(__file__).name:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if PATTERN.search(line.split("#")[0]):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "use GetArrayFromImage (a copy) for temporaries:\n" + "\n".join(offenders)
