"""``streamgmm fit --bayesian`` with the prior options, then ``info`` and ``predict`` of the
Bayesian model file: in-process ``main([...])`` runs, and one subprocess run as people
run it."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

import streamgmm
from streamgmm import cli

from conftest import make_blobs

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("points", data=make_blobs(seed=3, n_per=200, d=3, k=3), chunks=(128, 3))
    return path


def points(path):
    with h5py.File(path, "r") as f:
        return f["points"][()]


def fit_args(data, out, *extra):
    return ["fit", str(data), "--dataset", "/points", "-k", "6", "--random-state", "0",
            "--out", str(out), "--no-progress", "--bayesian", *extra]  # fmt: skip


def test_fit_bayesian_is_the_python_fit(data_file, tmp_path, capsys):
    out = tmp_path / "m.h5"
    extra = ["--weight-concentration-prior-type", "dirichlet_distribution",
             "--weight-concentration-prior", "0.01", "--mean-precision-prior", "2",
             "--degrees-of-freedom-prior", "4.5", "--mean-prior", "0,1,2",
             "--covariance-prior", "1,2,3", "--max-iter", "30"]  # fmt: skip
    assert cli.main(fit_args(data_file, out, *extra)) == 0
    printed = capsys.readouterr().out
    assert "Bayesian (dirichlet_distribution)" in printed and "variational" in printed
    model = streamgmm.load(out)
    assert type(model) is streamgmm.BayesianGaussianMixture
    want = streamgmm.BayesianGaussianMixture(
        n_components=6,
        random_state=0,
        max_iter=30,
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=0.01,
        mean_precision_prior=2.0,
        degrees_of_freedom_prior=4.5,
        mean_prior=np.array([0.0, 1.0, 2.0]),
        covariance_prior=np.diag([1.0, 2.0, 3.0]),  # d numbers: the diagonal, for full
    ).fit(streamgmm.read_hdf5(data_file, "/points"))
    np.testing.assert_array_equal(model.means_, want.means_)
    np.testing.assert_array_equal(model.covariance_prior_, want.covariance_prior_)

    assert cli.main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "streamgmm model file" in info and "Bayesian (dirichlet_distribution)" in info
    assert "priors used: weight_concentration=0.01" in info

    labels = tmp_path / "labels.h5"
    argv = ["predict", str(out), str(data_file), "--dataset", "/points", "--out", str(labels)]
    assert cli.main([*argv, "--proba"]) == 0
    with h5py.File(labels, "r") as f:
        np.testing.assert_array_equal(f["labels"][()], model.predict(points(data_file)))
        assert f["proba"].shape == (600, 6)


@pytest.mark.parametrize(
    "covariance_type, values, shape",
    [("full", "1,0,0,0,2,0,0,0,3", (3, 3)), ("tied", "2,2,2", (3, 3)), ("diag", "1,2,3", (3,)),
     ("spherical", "1.5", ())],
)  # fmt: skip
def test_covariance_prior_forms(data_file, tmp_path, covariance_type, values, shape):
    out = tmp_path / "m.h5"
    extra = ["--covariance-type", covariance_type, "--covariance-prior", values, "--max-iter", "3"]
    assert cli.main(fit_args(data_file, out, *extra)) == 0
    assert np.shape(streamgmm.load(out).covariance_prior_) == shape


def test_a_prior_without_bayesian_is_a_usage_error(data_file, tmp_path, capsys):
    argv = fit_args(data_file, tmp_path / "m.h5", "--mean-prior", "0,0,0")
    argv.remove("--bayesian")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["streamgmm fit: error: --mean-prior is a prior of the Bayesian mixture: "
                   "add --bayesian"]  # fmt: skip
    assert not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize(
    "extra, needle",
    [(["--mean-prior", "1,2"], "The parameter 'means' should have the shape of (3,)"),
     (["--degrees-of-freedom-prior", "1"], "should be greater than 2"),
     (["--weight-concentration-prior", "-1"], "must be None or a float in the range (0.0, inf)"),
     (["--mean-prior", "a,b"], "expected numbers separated by commas")],
    ids=["mean-shape", "dof", "concentration", "not-numbers"],
)  # fmt: skip
def test_bad_priors_are_one_line(data_file, tmp_path, capsys, extra, needle):
    assert cli.main(fit_args(data_file, tmp_path / "m.h5", *extra)) in (1, 2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


def test_checkpoint_and_resume_with_bayesian(data_file, tmp_path):
    ckpt, out = tmp_path / "fit.ckpt", tmp_path / "m.h5"
    first = fit_args(data_file, out, "--checkpoint", str(ckpt), "--max-iter", "4", "--tol", "0")
    assert cli.main(first) == 0
    again = [*fit_args(data_file, out, "--checkpoint", str(ckpt), "--max-iter", "9"), "--force"]
    assert cli.main([*again, "--tol", "0", "--resume"]) == 0
    whole = tmp_path / "whole.h5"
    assert cli.main(fit_args(data_file, whole, "--max-iter", "9", "--tol", "0")) == 0
    np.testing.assert_array_equal(streamgmm.load(out).means_, streamgmm.load(whole).means_)


@pytest.mark.subprocess
def test_fit_info_predict_as_people_run_them(data_file, tmp_path):
    model, labels = tmp_path / "m.h5", tmp_path / "l.h5"

    def run(*args):
        done = subprocess.run(
            [sys.executable, "-m", "streamgmm", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "Bayesian (dirichlet_process)" in run(*fit_args(data_file, model))
    assert "variational" in run("info", model)
    run("predict", model, data_file, "--dataset", "/points", "--out", labels)
    with h5py.File(labels, "r") as f:
        want = streamgmm.load(model).predict(points(data_file))
        np.testing.assert_array_equal(f["labels"][()], want)
