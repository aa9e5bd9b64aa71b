#!/usr/bin/env python3
"""Write medseg/resources/requirements.json from pyproject.toml: the one list of what medseg needs.

Slicer has no installed ``dist-info`` of medseg (the module is copied, not pip-installed), so the
installer inside Slicer (``medseg/mrml/install.py``) reads this copy of pyproject's
``requires-python``, ``dependencies`` and ``optional-dependencies``. Run after editing pyproject.toml;
``Testing/mrml/test_mrml_install.py`` checks that the two agree.

    python scripts/make_requirements.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
OUT = REPO / "MedSegModule" / "medseg" / "resources" / "requirements.json"


def expected() -> str:
    import tomllib

    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    record = {"generated_from": "pyproject.toml by scripts/make_requirements.py",
              "requires-python": project["requires-python"], "dependencies": project["dependencies"],
              "optional-dependencies": project.get("optional-dependencies", {})}
    return json.dumps(record, indent=2) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = expected()
    if "--check" in argv:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs from pyproject.toml: run scripts/make_requirements.py")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
