"""A matplotlib figure as PNG bytes, for pictures that live only inside report.html."""

from __future__ import annotations

import io


def png_bytes(fig, dpi: int = 90) -> bytes:
    """``fig`` (a matplotlib :class:`~matplotlib.figure.Figure`, object-oriented API) rendered to PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    return buffer.getvalue()


__all__ = ["png_bytes"]
