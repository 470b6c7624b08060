"""statelab's CSV outputs (a run's predictions.csv, `statelab predict`'s output): columns of numbers
and series ids written with Arrow's CSV writer."""

from __future__ import annotations

from typing import Any, BinaryIO

from statelab.data.arrow import to_arrow


def input_columns(features: list[str] | tuple[str, ...]) -> list[str]:
    """Names of the input columns of statelab's CSV outputs: `input` for one feature, or
    `input_<feature>` for several."""
    return ["input"] if len(features) == 1 else [f"input_{f}" for f in features]


def write_csv(columns: dict[str, Any], sink: BinaryIO) -> None:
    """Write a CSV file of named columns (NumPy arrays, or Arrow arrays such as a dictionary of
    series ids) to a binary file, with Arrow's writer: numbers as the shortest decimals that read
    back to the same float, an empty cell for NaN, text quoted. Hundreds of thousands of rows take
    a fraction of a second, written as they are formatted."""
    import csv
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    arrays = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else to_arrow(c) for c in columns.values()]
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(columns)  # Arrow would quote every name
    sink.write(head.getvalue().encode())
    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    pcsv.write_csv(pa.Table.from_arrays(arrays, names=list(columns)), sink, write_options=options)


def csv_bytes(columns: dict[str, Any]) -> bytes:
    """`write_csv` into memory."""
    import io

    buffer = io.BytesIO()
    write_csv(columns, buffer)
    return buffer.getvalue()
