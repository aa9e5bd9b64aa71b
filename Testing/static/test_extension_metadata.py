"""What the Extension Index's description checks read: the licence file, the homepage, icon and screenshot
URLs (files of this repository), and contributors written "Name (Organization)"."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CMAKE = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
CONTRIBUTOR = re.compile(r"^[^()]+ \([^()]+\)$")


def _cmake(name: str) -> str:
    return re.search(rf'set\({name} "([^"]*)"\)', CMAKE).group(1)


def test_licence_file_is_the_one_pyproject_names():
    licence = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]["text"]
    assert licence == "Apache-2.0"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text[:200] and "Version 2.0, January 2004" in text[:300]
    assert "END OF TERMS AND CONDITIONS" in text


def test_icon_and_screenshot_urls_point_at_files_of_this_repository():
    homepage = _cmake("EXTENSION_HOMEPAGE")
    owner_repo = re.match(r"https://github\.com/([^/]+/[^/]+)$", homepage).group(1)
    urls = [_cmake("EXTENSION_ICONURL"), *_cmake("EXTENSION_SCREENSHOTURLS").split()]
    tracked = set(subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True).stdout.split())
    for url in urls:
        m = re.match(rf"https://raw\.githubusercontent\.com/{re.escape(owner_repo)}/main/(.+)$", url)
        assert m, f"{url} is not a file of {homepage}"
        assert m.group(1) in tracked, f"{m.group(1)} (from {url}) is not a file in this repository"
        assert (REPO / m.group(1)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_contributors_are_name_and_organization():
    for who in _cmake("EXTENSION_CONTRIBUTORS").split(","):
        assert CONTRIBUTOR.match(who.strip()), who
    tree = ast.parse((REPO / "MedSegModule" / "MedSegModule.py").read_text(encoding="utf-8"))
    lists = [n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
             and any(ast.unparse(t) == "self.parent.contributors" for t in n.targets)]
    assert lists and all(CONTRIBUTOR.match(c) for c in ast.literal_eval(lists[0]))
