"""The command line with missing values (issue 18): ``fit --missing em`` and ``impute``,
in process (``main([...])``, the code the installed command runs)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm import cli

from conftest import make_blobs

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore:.*no observed entry:UserWarning"
)


@pytest.fixture(scope="module")
def holes_file(tmp_path_factory):
    """600 rows x 3 features in /points with 15% of the entries NaN (two rows all NaN)."""
    rng = np.random.RandomState(0)
    X = make_blobs(seed=3, n_per=200, d=3, k=3)
    X[rng.random_sample(X.shape) < 0.15] = np.nan
    X[[10, 20]] = np.nan
    path = tmp_path_factory.mktemp("data") / "holes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=X, chunks=(128, 3))
    return path, X


def _fit(path, out, *extra):
    return cli.main(
        ["fit", str(path), "--dataset", "/points", "-k", "3", "--random-state", "0",
         "--out", str(out), "--no-progress", *extra]
    )  # fmt: skip


def test_fit_with_missing_em_then_impute(holes_file, tmp_path, capsys):
    path, X = holes_file
    model = tmp_path / "model.h5"
    assert _fit(path, model, "--missing", "em") == 0
    gm = streamgmm.load(model)
    assert gm.missing == "em"
    expected = streamgmm.GaussianMixture(3, random_state=0, missing="em").fit(X)
    np.testing.assert_allclose(gm.means_, expected.means_, rtol=1e-10)
    capsys.readouterr()
    out = tmp_path / "completed.h5"
    argv = ["impute", str(model), str(path), "--dataset", "/points", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "with its NaN imputed" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        completed = f["points"][()]
    np.testing.assert_allclose(completed, gm.impute(X), rtol=1e-13)
    observed = ~np.isnan(X)
    assert np.array_equal(completed[observed], X[observed]) and np.isfinite(completed).all()


def test_fit_without_missing_em_names_the_nan(holes_file, tmp_path, capsys):
    path, _ = holes_file
    assert _fit(path, tmp_path / "m.h5") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamgmm fit: error: Input contains NaN or infinity at row")
    assert len(err.splitlines()) == 1


def test_impute_refuses_its_input_as_output(holes_file, tmp_path, capsys):
    path, X = holes_file
    model = tmp_path / "model.h5"
    streamgmm.GaussianMixture(2, missing="em", random_state=0).fit(X).save(model)
    argv = ["impute", str(model), str(path), "--dataset", "/points", "--out", str(path)]
    assert cli.main([*argv, "--force"]) == 1
    assert "is the input" in capsys.readouterr().err


def test_impute_and_missing_in_help(capsys):
    assert cli.main(["impute", "--help"]) == 0
    assert "usage: streamgmm impute" in capsys.readouterr().out
    assert cli.main(["fit", "--help"]) == 0
    assert "--missing {error,em}" in capsys.readouterr().out
