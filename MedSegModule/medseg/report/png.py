"""Pictures that live only inside report.html: PNG bytes and the caption that says what they show."""

from __future__ import annotations

import io
from dataclasses import dataclass, field


@dataclass
class Picture:
    """A PNG (``png``: its bytes) with its caption, the slice positions it shows (text, mm), and the
    planes its panels cut ("axial", "coronal", "sagittal"; empty where that is not the point)."""

    png: bytes
    caption: str = ""
    positions: list[str] = field(default_factory=list)
    planes: tuple[str, ...] = ()


def png_bytes(fig, dpi: int = 90) -> bytes:
    """``fig`` (a matplotlib :class:`~matplotlib.figure.Figure`, object-oriented API) rendered to PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    return buffer.getvalue()


__all__ = ["Picture", "png_bytes"]
