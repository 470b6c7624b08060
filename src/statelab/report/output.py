"""Writing report files: figures rendered to PNG in memory, files replaced atomically, and the
mark that tells a report directory statelab wrote from a folder of someone else's files."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from statelab.params import ConfigError, check_output_path
from statelab.scratch import temporary

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
    failed write leaves nothing behind. A symbolic link is written through, to the file it names
    (the link itself, which statelab did not make, stays as it was)."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    tmp = temporary(path)  # unique to this process: two reports at once never share it
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_together(files: Sequence[tuple[str, Path, bytes]]) -> None:
    """Write several files all or none: (parameter, path, content) each to a hidden sibling first,
    then all renamed into place, so a write that fails leaves every one of them as it was.
    ConfigError naming the parameter whose file could not be written. Symbolic links are written
    through, as by `write_atomic`."""
    staged: list[tuple[Path, Path]] = []
    try:
        for name, path, data in files:
            final = Path(os.path.realpath(path)) if path.is_symlink() else path
            tmp = temporary(final)
            staged.append((tmp, final))
            try:
                tmp.write_bytes(data)
            except OSError as exc:
                raise ConfigError(
                    f"{name} must be a writable file path, got {str(path)!r} ({exc.strerror})"
                ) from None
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


# A sweep's report directory holds this file: statelab wrote the folder and may rewrite it.
REPORT_MARK = ".statelab-report"
MARK_TEXT = "A sweep report written by statelab; `statelab report` rewrites the files of this folder.\n"


def check_report_dir(out: str | Path, name: str = "out") -> Path:
    """A report directory must be new, empty, or one statelab wrote (it holds REPORT_MARK):
    statelab never writes into, or removes from, a folder of other files. Checked before any work;
    `name` is the parameter that gave it (`--out`; `report` from Python)."""
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
    return out


def claim_report_dir(out: Path) -> None:
    """Make the report directory (checked by `check_report_dir`) and mark it as statelab's."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / REPORT_MARK).is_file():
            write_atomic(out / REPORT_MARK, MARK_TEXT.encode())
    except OSError as exc:
        raise ConfigError(f"out must be a writable directory, got {str(out)!r} ({exc.strerror})") from None
