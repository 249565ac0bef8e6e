"""``streamgmm.load``: a model file back into the estimator that wrote it.

The file's format attribute says which estimator; the record is read and checked by
``_io.modelfile`` (every field, before any estimator exists).
"""

from __future__ import annotations

from ._bayesian import BayesianGaussianMixture
from ._estimator import GaussianMixture
from ._io import modelfile

#: the estimator of each model file format
ESTIMATORS = {
    modelfile.FORMAT_NAME: GaussianMixture,
    modelfile.BAYESIAN_FORMAT: BayesianGaussianMixture,
}


def load(path) -> GaussianMixture | BayesianGaussianMixture:
    """Read a model written by :meth:`GaussianMixture.save` or
    :meth:`BayesianGaussianMixture.save` (the file's format says which).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    GaussianMixture or BayesianGaussianMixture
        Fitted, with the saved parameters (same dtypes, bit for bit), settings
        and fit history.

    Raises
    ------
    ValueError
        If the file is not a streamgmm model, has an unknown format version, or any
        field is missing, of the wrong dtype or shape, not finite, invalid, or
        stored outside the file (external, virtual or linked datasets, which are
        refused without being read). The message names the field.
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    """
    return from_record(read_record(path))


def read_record(path) -> modelfile.ModelRecord:
    """The checked record of a model file (what :func:`load` builds the estimator from)."""
    # a file of no known format is read as a GaussianMixture's, whose checks say what is off
    file_format = modelfile.read_format(path) or modelfile.FORMAT_NAME
    defaults = ESTIMATORS[file_format]._defaults()
    return modelfile.read_model(path, defaults, file_format=file_format)


def from_record(record: modelfile.ModelRecord) -> GaussianMixture | BayesianGaussianMixture:
    """A fitted estimator of the record's format from a checked model record."""
    return ESTIMATORS[record.file_format]._from_record(record)
