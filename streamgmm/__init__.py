"""streamgmm: exact, full-batch Gaussian mixtures for data that does not fit in memory."""

from ._em import IterationInfo
from ._estimator import GaussianMixture
from ._hdf5 import read_hdf5, write_hdf5
from ._modelfile_read import load
from ._selection import ModelSelection, select_model
from ._validation import InvalidParameterError

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "InvalidParameterError",
    "IterationInfo",
    "__version__",
    "ModelSelection",
    "load",
    "read_hdf5",
    "select_model",
    "write_hdf5",
]
