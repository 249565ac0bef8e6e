"""Shared fixtures and the scikit-learn oracle helpers (no module-level random data).

Markers (pyproject.toml): ``subprocess`` (starts a Python interpreter: the CLI, a killed
fit), ``distributed`` (starts a dask.distributed LocalCluster) and ``slow``. Tests that
start processes are slow by nature (an interpreter and its imports, or worker processes),
so both kinds are also marked ``slow`` here: ``pytest -m "not slow"`` is the fast loop,
plain ``pytest`` the full suite that CI runs.
"""

from __future__ import annotations

import os
import threading
import warnings

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SKGaussianMixture

import streamgmm

# The compiled kernels, whatever the Numba cache holds: with "auto" a test's passes would
# run NumPy or the kernels depending on what earlier tests compiled (the engine's own
# tests set it themselves, and the ``engine`` fixture runs a test under each).
os.environ.setdefault("STREAMGMM_ENGINE", "numba")

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def make_blobs(seed=0, n_per=200, d=3, k=3, spread=5.0):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-spread, spread, size=(k, d))
    X = np.vstack([rng.randn(n_per, d) * rng.uniform(0.5, 1.5, d) + c for c in centres])
    return X[rng.permutation(len(X))]


def random_covariance(rng, covariance_type, k, d):
    """A well-conditioned covariance of ``covariance_type`` for K=k, d=d; the draws from
    ``rng`` are the same whatever the type, so the data drawn after it are too."""
    a = rng.randn(k, d, d)
    full = a @ a.transpose(0, 2, 1) + d * np.eye(d)
    diag, spherical = rng.uniform(0.5, 2.0, (k, d)), rng.uniform(0.5, 2.0, k)
    return {"full": full, "tied": full[0], "diag": diag, "spherical": spherical}[covariance_type]


def pinned_start(X, k, covariance_type, seed=0):
    """weights_init, means_init, precisions_init from the data, shaped per covariance type."""
    rng = np.random.RandomState(seed)
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    var = X.var(axis=0).astype(np.float64)
    var[var == 0.0] = 1.0  # a constant column: unit precision, not 1 / 0
    prec = {
        "full": np.stack([np.diag(1.0 / var)] * k),
        "tied": np.diag(1.0 / var),
        "diag": np.tile(1.0 / var, (k, 1)),
        "spherical": np.full(k, 1.0 / var.mean()),
    }[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=prec)


def fit_pair(
    X, k, covariance_type, start, *, X_ours=None, chunk_size="auto", shift_means=0.0, **kw
):
    """Fit scikit-learn and streamgmm from the same start; returns (sk, ours).

    ``X_ours`` (default X) is what streamgmm fits; ``shift_means`` is added to our
    ``means_init`` (for data shifted by a constant).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKGaussianMixture(k, covariance_type=covariance_type, **start, **kw).fit(X)
        ours_start = dict(start, means_init=start["means_init"] + shift_means)
        ours = streamgmm.GaussianMixture(
            k, covariance_type=covariance_type, chunk_size=chunk_size, **ours_start, **kw
        )
        ours.fit(X if X_ours is None else X_ours)
    return sk, ours


def rel_err(a, b):
    """Relative error in the norm, with an absolute floor near eps times the scale."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.linalg.norm(b), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b) / scale)


def assert_same_model(ours, ref, rtol=1e-8, attrs=FITTED, mean_shift=0.0, mean_atol=0.0, atol=0.0):
    """Each attribute equal in the norm to ``rtol``, above absolute floors.

    ``atol`` is a floor near eps times the data scale (scikit-learn's raw second
    moments cancel to about that); ``mean_atol`` a floor per mean coordinate.
    """
    for name in attrs:
        got = np.asarray(getattr(ours, name), float)
        want = np.asarray(getattr(ref, name), float)
        floor = atol
        if name == "means_":
            got = got - mean_shift
            floor = max(atol, mean_atol * np.sqrt(want.size))
        assert got.shape == want.shape, name
        diff = np.linalg.norm(got - want)
        bound = rtol * np.linalg.norm(want) + floor
        assert diff <= bound, f"{name}: |diff| {diff:.3g} > {bound:.3g} (rtol {rtol:.1g})"


def write_points(path, n, d=8, chunks=(8192, 8), seed=0):
    """An HDF5 file with n rows x d columns of 4 clusters in /points, written in slabs."""
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("points", shape=(n, d), dtype="f8", chunks=chunks)
        for i in range(0, n, 1 << 18):
            m = min(1 << 18, n - i)
            ds[i : i + m] = rng.randn(m, d) + rng.randint(0, 4, (m, 1)) * 3.0


def colour_pixels(png, colour, tol=0.08):
    """How many pixels of a PNG file are within ``tol`` of a matplotlib colour ("C0"), in
    the left and the right half of the image (needs matplotlib)."""
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread

    near = np.abs(imread(png)[..., :3] - np.array(to_rgb(colour))).max(axis=2) < tol
    half = near.shape[1] // 2
    return int(near[:, :half].sum()), int(near[:, half:].sum())


def tamper(path, change):
    """Open an HDF5 file for writing and let ``change(f)`` alter it (a tampered model file)."""
    with h5py.File(path, "a") as f:
        change(f)


def replace_dataset(f, name, data):
    """Replace dataset ``name`` of an open HDF5 file by ``data``."""
    del f[name]
    f[name] = data


@pytest.fixture(params=["numba", "numpy"])
def engine(request, monkeypatch):
    """Run the test under each engine of the passes (``_data/engine.py``)."""
    monkeypatch.setenv("STREAMGMM_ENGINE", request.param)
    return request.param


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("subprocess") or item.get_closest_marker("distributed"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 single-thread worker processes on 127.0.0.1 and its Client, one
    per test module that asks for it."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


@pytest.fixture
def blobs():
    return make_blobs()


class CountingReader:
    """An array-like that counts the row blocks read from it (not dask's empty probes)."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads = 0
        self._lock = threading.Lock()

    def __getitem__(self, index):
        out = self.data[index]
        if out.size:
            with self._lock:
                self.reads += 1
        return out
