"""Progress for the command line: the step API's ``progress(fraction, message)`` as a tqdm bar.

Bars go to stderr and only when it is a terminal (or MEDSEG_PROGRESS=1), so pipes and CI logs
stay clean.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

from ..progress import Progress


def _enabled() -> bool:
    flag = os.environ.get("MEDSEG_PROGRESS")
    if flag is not None:
        return flag not in ("0", "", "false", "no")
    return sys.stderr.isatty()


@contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """Yield a progress callback drawing a 0–100 % tqdm bar, or None when bars are off."""
    if not _enabled():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=description, unit="%", leave=False, file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(fraction: float, message: str = "") -> None:
        target = int(round(fraction * 100))
        if target > bar.n:
            bar.update(target - bar.n)
        if message:
            bar.set_postfix_str(message, refresh=False)

    try:
        yield update
    finally:
        bar.close()
