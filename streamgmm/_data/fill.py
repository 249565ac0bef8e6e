"""The data as the initialisation sees them with ``missing="em"``: each NaN filled with the
observed mean of its column.

The initialisations (k-means, k-means++, rows drawn at random, random responsibilities)
work on whole rows. With missing values they run, unchanged, on a lazy view of the data in
which every NaN is replaced by the weighted mean of the observed entries of its column
(one pass computes the means); EM on the observed-data likelihood then starts from the
parameters they give. The view is a Dask array over the same blocks (cached blocks
included), so no copy of the data is made and each pass of the initialisation reads the
data once, as without missing values.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import _kernels as kernels
from .blocks import as_kernel_array, as_weight_array
from .passes import reduce_pass
from .source import DataSource


def _observed_block(X, sample_weight, row_offset, payload):
    """(per column: sum of w x over the observed entries, sum of their w, their number;
    the first infinity (row, col))."""
    X = as_kernel_array(X)
    n, d = X.shape
    sums, weights, counts = np.zeros(d), np.zeros(d), np.zeros(d, np.int64)
    w = as_weight_array(sample_weight, n)
    row, col = kernels.observed_sums(X, w, sums, weights, counts)
    return sums, weights, counts, (row_offset + row, col) if row >= 0 else (-1, -1)


def _add(parts):
    infinite = [p[3] for p in parts if p[3][0] >= 0]
    return (
        *(sum(p[i] for p in parts) for i in range(3)),
        min(infinite) if infinite else (-1, -1),
    )


def observed_column_sums(source: DataSource):
    """One pass: per column the weighted sum, the weight and the number of its observed
    entries, and the first infinity as a global (row, col), or (-1, -1)."""
    return reduce_pass(source, _observed_block, None, _add, "observed")


def _fill_block(X, values):
    return kernels.fill_missing(as_kernel_array(X), values)


def filled_source(source: DataSource, values: np.ndarray) -> DataSource:
    """``source`` with each NaN of column j read as ``values[j]`` (lazily, block by block)."""
    dtype = np.dtype(np.float32 if source.dtype == np.float32 else np.float64)
    values = np.asarray(values, dtype=np.float64)
    array = source.array.map_blocks(_fill_block, values, dtype=dtype, meta=np.empty((0, 0), dtype))
    local = None if source.local is None else _fill_block(source.local, values)
    return replace(source, array=array, missing="error", local=local)
