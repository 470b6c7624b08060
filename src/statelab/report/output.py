"""Writing report files: figures rendered to PNG in memory, files replaced atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG in memory (Agg canvas; no pyplot, no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # attaches itself to the figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a hidden sibling, then rename: a reader never sees a half-written file, and a
    failed write leaves nothing behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
