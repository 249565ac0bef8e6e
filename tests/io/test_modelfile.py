"""Model files: exact round trip, and every refused case of RELIABILITY S1-S3."""

from __future__ import annotations

import inspect
import os
import pickle
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import streamgmm
from streamgmm import _load, _mixture
from streamgmm._io import checkpoint, fields, modelfile

from conftest import COVARIANCE_TYPES, FITTED, make_blobs, replace_dataset, tamper

HISTORY = ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")


def _fit(covariance_type="full", dtype=np.float64, **kw):
    X = make_blobs(seed=1, n_per=60, d=3, k=3).astype(dtype)
    gm = streamgmm.GaussianMixture(3, covariance_type=covariance_type, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=2 fits
        return gm.fit(X), X


@pytest.fixture(scope="module")
def fitted():
    return _fit()[0]


@pytest.fixture
def model_path(tmp_path, fitted):
    path = tmp_path / "model.h5"
    fitted.save(path)
    return path


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_exact(tmp_path, covariance_type, dtype):
    gm, X = _fit(covariance_type, dtype, means_init=make_blobs(seed=1, n_per=1, d=3, k=3))
    path = tmp_path / "model.h5"
    gm.save(path)  # os.PathLike
    loaded = streamgmm.load(str(path))  # str
    for name in FITTED:
        want, got = getattr(gm, name), getattr(loaded, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name
    for name in HISTORY:
        want, got = getattr(gm, name), getattr(loaded, name)
        assert type(got) is type(want) and got == want, name
    want, got = gm.get_params(), loaded.get_params()
    assert want.keys() == got.keys()
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and np.array_equal(got[key], value), key
        else:
            assert type(got[key]) is type(value) and got[key] == value, key
    np.testing.assert_array_equal(loaded.predict(X), gm.predict(X))
    np.testing.assert_array_equal(loaded.score_samples(X), gm.score_samples(X))


def test_file_holds_versions_and_history(model_path):
    with h5py.File(model_path, "r") as f:
        assert f.attrs["format"] == "streamgmm.GaussianMixture"
        assert f.attrs["format_version"] == 1
        assert f.attrs["streamgmm_version"] == streamgmm.__version__
        assert f.attrs["numpy_version"] == np.__version__
        assert f.attrs["h5py_version"] == h5py.__version__
        assert f["history/lower_bounds"].dtype == np.float64


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    gm, _ = _fit(max_iter=2)
    path = tmp_path / "model.h5"
    path.write_text("old")
    gm.save(path)
    assert streamgmm.load(path).n_iter_ == gm.n_iter_
    assert sorted(os.listdir(tmp_path)) == ["model.h5"]


def test_settings_that_are_not_plain_are_omitted_with_a_note(tmp_path):
    gm, _ = _fit(max_iter=2)
    gm.set_params(random_state=np.random.RandomState(0))
    gm.save(tmp_path / "m.h5")
    record = _load.read_record(tmp_path / "m.h5")
    assert "random_state (a RandomState" in record.meta["settings_omitted"]
    assert streamgmm.load(tmp_path / "m.h5").random_state is None


def test_unfitted_model_is_not_saved(tmp_path):
    with pytest.raises(NotFittedError):
        streamgmm.GaussianMixture(2).save(tmp_path / "m.h5")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("module", [modelfile, fields, checkpoint, _load, _mixture])
def test_load_never_uses_pickle(module):
    source = inspect.getsource(module)
    assert not re.search(r"import pickle|pickle\.load|allow_pickle\s*=\s*True", source)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda p: None, FileNotFoundError, "no such file"),
        (lambda p: p.mkdir(), IsADirectoryError, "is a directory"),
        (lambda p: p.write_text("not hdf5"), ValueError, "not an HDF5 file"),
    ],
    ids=["missing", "directory", "text"],
)
def test_refuses_what_is_not_a_file_of_ours(tmp_path, make, error, match):
    path = tmp_path / "model.h5"
    make(path)
    with pytest.raises(error, match=match):
        streamgmm.load(path)


def test_refuses_a_data_file(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["points"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match="not a streamgmm model file"):
        streamgmm.load(tmp_path / "data.h5")


def _set_attr(where, name, value):
    return lambda f: f[where].attrs.__setitem__(name, value)


def _scale_weights(factor):
    return lambda f: replace_dataset(f, "params/weights", f["params/weights"][()] * factor)


def _nan_weight(f):
    w = f["params/weights"][()]
    w[0] = np.nan
    replace_dataset(f, "params/weights", w)


def _negative_weight(f):
    w = f["params/weights"][()]
    w[0], w[1] = -w[0], w[1] + 2 * w[0]
    replace_dataset(f, "params/weights", w)


def _negative_cholesky(f):
    u = f["params/precisions_cholesky"][()]
    u[0, 0, 0] = -u[0, 0, 0]
    replace_dataset(f, "params/precisions_cholesky", u)


def _wider_means(f):
    m = f["params/means"][()]
    replace_dataset(f, "params/means", np.hstack([m, m[:, :1]]))


def _object_means(f):
    del f["params/means"]
    f.create_dataset("params/means", data=["a", "b", "c"], dtype=h5py.string_dtype())


def _pickled_means(f):
    blob = np.frombuffer(pickle.dumps(np.zeros((3, 3))), dtype=np.uint8)
    del f["params/means"]
    f["params/means"] = np.void(blob.tobytes())


def _pickled_setting(f):
    f["settings"].attrs["random_state"] = np.void(pickle.dumps(np.random.RandomState(0)))


@pytest.mark.parametrize(
    "change, match",
    [
        (_set_attr("/", "format_version", 2), "'format_version' is 2: newer than"),
        (_set_attr("/", "format_version", 0), "'format_version' is 0: unknown"),
        (_set_attr("/", "format_version", [1, 1]), "'format_version' should be a single int"),
        (_set_attr("/", "format", "something.else"), "not a streamgmm model file"),
        (_set_attr("settings", "n_components", [3, 3]), "'settings/n_components' should be"),
        (
            _set_attr("settings", "n_components", 4),
            r"'params/weights' has shape \(3,\), expected \(4,\)",
        ),
        (_set_attr("settings", "covariance_type", "banded"), "'settings' is invalid"),
        (_set_attr("settings", "flavour", "vanilla"), "'settings/flavour' is not a"),
        (_pickled_setting, "'settings/random_state' should be a single number"),
        (_nan_weight, "'params/weights' contains NaN"),
        (_scale_weights(0.9), "'params/weights' is invalid.*normalized"),
        (_negative_weight, "'params/weights' is invalid.*range"),
        (_negative_cholesky, "'params/precisions_cholesky' is not a Cholesky factor"),
        (_wider_means, "'params/covariances' has shape"),
        (_set_attr("history", "n_features_in", 4), "'history/n_features_in' is 4"),
        (_set_attr("history", "n_iter", 2.5), "'history/n_iter' should be a single int"),
        (_object_means, "'params/means' has unexpected dtype object"),
        (_pickled_means, "'params/means' has unexpected dtype"),
        (lambda f: f.__delitem__("params/precisions"), "'params/precisions' is missing"),
        (lambda f: replace_dataset(f, "params/precisions", f["params/covariances"][()]), "match"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refuses_invalid_fields(model_path, change, match):
    tamper(model_path, change)
    with pytest.raises(ValueError, match=match):
        streamgmm.load(model_path)


def _means_of(path):
    with h5py.File(path, "r") as f:
        return f["params/means"][()]


@pytest.mark.parametrize("target_exists", [True, False])
def test_refuses_external_dataset_without_reading_it(model_path, tmp_path, target_exists):
    means = _means_of(model_path)
    outside = tmp_path / "outside.bin"
    if target_exists:
        means.tofile(outside)
    before = outside.stat().st_atime_ns if target_exists else None

    def change(f):
        del f["params/means"]
        f.create_dataset(
            "params/means",
            shape=means.shape,
            dtype=means.dtype,
            external=[(os.fspath(outside), 0, means.nbytes)],
        )

    tamper(model_path, change)
    with pytest.raises(ValueError, match="'params/means' is external.*nothing was read"):
        streamgmm.load(model_path)
    if target_exists:
        assert outside.stat().st_atime_ns == before


@pytest.mark.parametrize(
    "link, match",
    [
        (lambda other: h5py.SoftLink("/params/weights"), "is a soft link"),
        (lambda other: h5py.ExternalLink(other, "/params/means"), "is an external link"),
    ],
    ids=["soft", "external"],
)
def test_refuses_links(model_path, tmp_path, link, match):
    other = tmp_path / "other.h5"
    streamgmm.load(model_path).save(other)
    tamper(model_path, lambda f: f.__delitem__("params/means"))
    tamper(model_path, lambda f: f["params"].__setitem__("means", link(os.fspath(other))))
    with pytest.raises(ValueError, match=f"'params/means' {match}"):
        streamgmm.load(model_path)


def test_refuses_a_linked_group(model_path, tmp_path):
    other = tmp_path / "other.h5"
    streamgmm.load(model_path).save(other)
    tamper(model_path, lambda f: f.__delitem__("params"))
    tamper(model_path, lambda f: f.__setitem__("params", h5py.ExternalLink(other, "/params")))
    with pytest.raises(ValueError, match="'params' is an external link"):
        streamgmm.load(model_path)


def test_refuses_virtual_dataset(model_path, tmp_path):
    other = tmp_path / "other.h5"
    streamgmm.load(model_path).save(other)
    means = _means_of(model_path)

    def change(f):
        layout = h5py.VirtualLayout(shape=means.shape, dtype=means.dtype)
        layout[:] = h5py.VirtualSource(os.fspath(other), "params/means", shape=means.shape)
        del f["params/means"]
        f["params"].create_virtual_dataset("means", layout)

    tamper(model_path, change)
    with pytest.raises(ValueError, match="'params/means' is a virtual dataset"):
        streamgmm.load(model_path)


def test_save_to_a_missing_folder_fails_clearly(tmp_path):
    gm, _ = _fit(max_iter=2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gm.save(Path(tmp_path, "nope", "m.h5"))


FIXTURES = Path(__file__).resolve().parents[1] / "data"  # written at 459204b: make_v1_fixtures.py
FIXTURE_DATA = dict(seed=7, n_per=100, d=3, k=2)


@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical", "full_float32"])
def test_model_files_of_format_1_still_load(name):
    """A file written by an earlier streamgmm loads, and holds the model that fit gives today."""
    loaded = streamgmm.load(FIXTURES / f"model_v1_{name}.h5")
    X = make_blobs(**FIXTURE_DATA)
    if name.endswith("float32"):
        X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again = streamgmm.GaussianMixture(**loaded.get_params()).fit(X)
    rtol = 1e-5 if name.endswith("float32") else 1e-10
    for attr in FITTED:
        np.testing.assert_allclose(getattr(loaded, attr), getattr(again, attr), rtol=rtol)
        assert getattr(loaded, attr).dtype == getattr(again, attr).dtype
    assert loaded.n_iter_ == again.n_iter_ and loaded.converged_ == again.converged_


def test_a_model_file_of_format_1_with_an_initial_array_loads():
    loaded = streamgmm.load(FIXTURES / "model_v1_diag_means_init.h5")
    X = make_blobs(**FIXTURE_DATA)
    np.testing.assert_array_equal(loaded.means_init, X[:2])
    assert loaded.n_iter_ == 3 and loaded.predict(X).shape == (len(X),)


def test_a_checkpoint_of_format_1_resumes(tmp_path):
    ckpt = tmp_path / "checkpoint.h5"
    ckpt.write_bytes((FIXTURES / "checkpoint_v1.h5").read_bytes())
    X = make_blobs(**FIXTURE_DATA)
    settings = dict(n_components=2, random_state=0, n_init=2, tol=0.0, max_iter=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        resumed = streamgmm.GaussianMixture(**settings).fit(X, checkpoint=ckpt, resume=True)
        straight = streamgmm.GaussianMixture(**settings).fit(X)
    for attr in FITTED:
        np.testing.assert_allclose(getattr(resumed, attr), getattr(straight, attr), rtol=1e-10)


def test_save_creates_files_with_the_umask_and_keeps_a_replaced_files_mode(tmp_path):
    gm, _ = _fit(max_iter=2)
    new, kept = tmp_path / "new.h5", tmp_path / "kept.h5"
    old = os.umask(0o022)
    try:
        gm.save(new)
    finally:
        os.umask(old)
    gm.save(kept)
    os.chmod(kept, 0o640)
    gm.save(kept)
    assert oct(os.stat(new).st_mode & 0o777) == oct(0o644)
    assert oct(os.stat(kept).st_mode & 0o777) == oct(0o640)
