"""Arrow arrays to and from NumPy without Arrow's pandas-aware conversions.

Arrow's own `to_numpy`, like `pa.array` of a NumPy array, imports pandas when it is installed:
40 MB and a quarter of a second that statelab's readers and writers never need. These read and
write the buffers directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(array: Any, dtype: Any) -> np.ndarray:
    """An Arrow array (or chunked array) of numbers or booleans as a new NumPy array of `dtype`,
    NaN (or False) where null, read from its buffers. (Arrow's own `to_numpy`, like `pa.array`
    of a NumPy array, imports pandas when it is installed: 40 MB and a quarter of a second.)"""
    import pyarrow as pa

    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = []
    for chunk in chunks:
        validity, data = chunk.buffers()[:2]
        if pa.types.is_boolean(chunk.type):
            bits = np.frombuffer(data, np.uint8)
            values = np.unpackbits(bits, count=chunk.offset + len(chunk), bitorder="little")[chunk.offset :]
            values = values.astype(bool)
        else:
            kind = "f" if pa.types.is_floating(chunk.type) else "i"
            if pa.types.is_unsigned_integer(chunk.type):
                kind = "u"
            values = np.frombuffer(data, f"<{kind}{chunk.type.bit_width // 8}")
            values = values[chunk.offset : chunk.offset + len(chunk)]
        values = values.astype(dtype)  # a copy: nothing of Arrow's memory stays referenced
        if chunk.null_count:
            bits = np.frombuffer(validity, np.uint8)
            valid = np.unpackbits(bits, count=chunk.offset + len(chunk), bitorder="little")[chunk.offset :]
            values[valid == 0] = np.nan if np.issubdtype(values.dtype, np.floating) else 0
        parts.append(values)
    return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0, dtype)


def to_arrow(values: np.ndarray) -> Any:
    """A one-dimensional NumPy array of numbers as an Arrow array over the same memory, null where
    a float is NaN (the converse of `to_numpy`, and like it without Arrow's pandas-aware
    conversion)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    validity = None
    if np.issubdtype(values.dtype, np.floating) and np.isnan(values).any():
        validity = pa.py_buffer(np.packbits(~np.isnan(values), bitorder="little"))
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)]
    )


def values_to_arrow(values: np.ndarray) -> Any:
    """A column of any kind statelab writes as an Arrow array, without Arrow's pandas-aware
    conversion: numbers as `to_arrow`, datetime64 of days as dates and of finer units as
    timestamps, anything else (text) as strings."""
    import pyarrow as pa

    values = np.asarray(values)
    if values.dtype.kind in "iuf":
        return to_arrow(values)
    if values.dtype.kind == "M":
        unit = np.datetime_data(values.dtype)[0]
        if unit == "D":
            days = np.ascontiguousarray(values.view(np.int64).astype(np.int32))
            return pa.Array.from_buffers(pa.date32(), len(days), [None, pa.py_buffer(days)])
        if unit not in ("s", "ms", "us", "ns"):
            values, unit = values.astype("datetime64[s]"), "s"
        ticks = np.ascontiguousarray(values.view(np.int64))
        return pa.Array.from_buffers(pa.timestamp(unit), len(ticks), [None, pa.py_buffer(ticks)])
    return pa.array([str(v) for v in values.tolist()], pa.string())
