"""Users' data: reading CSV and Parquet files into series (`files`), Arrow conversions (`arrow`),
and statelab's own CSV outputs (`output`).

Below the tasks: nothing here knows what a task, a config or a model is.
"""

from statelab.data.arrow import to_arrow, to_numpy, values_to_arrow
from statelab.data.files import (
    FILE_RULE,
    MISSING,
    PARQUET_SUFFIXES,
    Panel,
    header,
    numeric,
    read_panel,
    record_batches,
    row_bound,
    series_ids,
    shown,
    time_order,
)
from statelab.data.output import csv_bytes, input_columns, write_csv

__all__ = [
    "FILE_RULE",
    "MISSING",
    "PARQUET_SUFFIXES",
    "Panel",
    "csv_bytes",
    "header",
    "input_columns",
    "numeric",
    "read_panel",
    "record_batches",
    "row_bound",
    "series_ids",
    "shown",
    "time_order",
    "to_arrow",
    "to_numpy",
    "values_to_arrow",
    "write_csv",
]
