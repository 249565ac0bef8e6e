"""streamgmm: exact, full-batch Gaussian mixtures for data that does not fit in memory.

Names are imported when first used, so ``import streamgmm`` (and ``streamgmm --help``)
stays fast: Numba, Dask, h5py and scikit-learn load with the first estimator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "GaussianMixture": "._estimator",
    "BayesianGaussianMixture": "._bayesian",
    "load": "._load",
    "ModelSelection": "._selection",
    "select_model": "._selection",
    "IterationInfo": "._fit.em",
    "Progress": "._data.progress",
    "read_hdf5": "._io.hdf5",
    "write_hdf5": "._io.writing",
    "PartialFileWarning": "._io.hdf5",
    "CheckpointInUseError": "._io.checkpoint",
    "InvalidParameterError": "._model.validation",
    "InputChangedError": "._data.source",
    "BlockFailedError": "._data.passes",
    "ModelTooLargeError": "._data.budget",
    "WorkerMemoryError": "._data.budget",
}

__all__ = [
    "BayesianGaussianMixture",
    "BlockFailedError",
    "CheckpointInUseError",
    "GaussianMixture",
    "InputChangedError",
    "InvalidParameterError",
    "IterationInfo",
    "ModelSelection",
    "ModelTooLargeError",
    "PartialFileWarning",
    "Progress",
    "WorkerMemoryError",
    "__version__",
    "load",
    "read_hdf5",
    "select_model",
    "write_hdf5",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._bayesian import BayesianGaussianMixture
    from ._data.budget import ModelTooLargeError, WorkerMemoryError
    from ._data.passes import BlockFailedError
    from ._data.progress import Progress
    from ._data.source import InputChangedError
    from ._estimator import GaussianMixture
    from ._fit.em import IterationInfo
    from ._io.checkpoint import CheckpointInUseError
    from ._io.hdf5 import PartialFileWarning, read_hdf5
    from ._io.writing import write_hdf5
    from ._load import load
    from ._model.validation import InvalidParameterError
    from ._selection import ModelSelection, select_model


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'streamgmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
