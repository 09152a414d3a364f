"""Small frame helpers shared by the candle and order-book checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Naive datetime64 of any unit; an aware dtype (datetime64[us, UTC]) is a schema failure.
TIMESTAMP_TYPES: list[str] = ["datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]"]


def join_reasons(
    n: int, masks: dict[str, pd.Series], reasons: np.ndarray | None = None
) -> np.ndarray:
    """Per-row reason strings: the names of the masks a row hits, joined by ';' ('' = clean).
    ``reasons`` extends an earlier result."""
    out = np.full(n, "", dtype=object) if reasons is None else reasons.copy()
    for name, mask in masks.items():
        hit = mask.to_numpy(dtype=bool)
        out[hit] = np.where(out[hit] == "", name, out[hit] + ";" + name)
    return out
