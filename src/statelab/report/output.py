"""Writing report files: figures rendered to PNG in memory, files replaced atomically, and the
mark that tells a report directory statelab wrote from a folder of someone else's files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from statelab.params import ConfigError, check_output_path
from statelab.written import check_replace, write_file, write_together

__all__ = ["check_report_dir", "claim_report_dir", "png_bytes", "write_atomic", "write_together"]

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


def write_atomic(path: Path, data: bytes, name: str = "out") -> None:
    """Write a report file, with its mark (`statelab.written`): through a hidden temporary, so a
    reader never sees a half-written file; a symbolic link is written through, to the file it
    names. ConfigError naming `name` if it cannot be written (a full disk, a read-only folder)."""
    write_file(path, data, name)


# A sweep's report directory holds this file: statelab wrote the folder and may rewrite it.
REPORT_MARK = ".statelab-report"


REPORT_FILES = ("summary.csv", "trials.csv", "report.html")  # and heatmap*.png, memory*.png


def report_files(out: Path) -> list[Path]:
    """The files of a report directory a report writes over or removes: its fixed files and every
    heatmap*.png and memory*.png there now (the facets of an earlier report)."""
    drawn = sorted({*out.glob("heatmap*.png"), *out.glob("memory*.png")})
    return [*(out / name for name in REPORT_FILES), *drawn]


def check_report_dir(out: str | Path, name: str = "out", overwrite: bool = False) -> Path:
    """A report directory must be new, empty, or one statelab wrote (it holds REPORT_MARK), and
    every file a report would write over or remove there must be one statelab can prove it wrote
    (`statelab.written`), unless `overwrite`: statelab never writes into, or removes from, a folder
    of other files. Checked before any work; `name` is the parameter that gave it (`--out`;
    `report` from Python)."""
    out = check_output_path(name, out, "directory")
    if out.is_dir() and not (out / REPORT_MARK).is_file():
        try:
            others = any(out.iterdir())
        except OSError as exc:
            raise ConfigError(
                f"{name} must be a readable directory, got {str(out)!r} ({exc.strerror})"
            ) from None
        if others:
            raise ConfigError(
                f"{name} must be a new or empty directory, or a report directory statelab wrote (with "
                f"{REPORT_MARK}), got {str(out)!r} (it holds other files)"
            )
    if out.is_dir():
        for path in report_files(out):
            check_replace(name, path, overwrite)
    return out


MARK_TEXT = "A sweep report written by statelab; `statelab report` rewrites the files of this folder.\n"


def claim_report_dir(out: Path) -> None:
    """Make the report directory (checked by `check_report_dir`) and mark it as statelab's."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / REPORT_MARK).is_file():
            write_file(out / REPORT_MARK, MARK_TEXT.encode(), marked=False)
    except OSError as exc:
        raise ConfigError(f"out must be a writable directory, got {str(out)!r} ({exc.strerror})") from None
