"""Missing values, ``missing="em"`` (issue 18): exact EM on the observed-data likelihood
against a dense reference (``tests/missing_oracle.py``), a closed-form maximum-likelihood
estimate, and the estimator's promises (bitwise identity without NaN, chunking, containers,
weights, float32, inference, imputation, restarts, selection, checkpoints, model files)."""

from __future__ import annotations

import warnings

import dask.array as da
import h5py
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm

from conftest import COVARIANCE_TYPES, FITTED, CountingReader, assert_same_model, make_blobs
from missing_oracle import covariances_of_precisions, reference_fit, reference_inference

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore:.*no observed entry:UserWarning"
)


def holes(X, rate, seed, empty_rows=()):
    """X with entries missing completely at random, the third column also missing at random
    where the first is large, and some rows with no observed entry."""
    rng = np.random.RandomState(seed)
    Xm = np.array(X, dtype=np.float64)
    Xm[rng.random_sample(X.shape) < rate] = np.nan
    Xm[(X[:, 0] > np.median(X[:, 0])) & (rng.random_sample(len(X)) < 0.4), 2] = np.nan
    Xm[list(empty_rows)] = np.nan
    return Xm


def start_of(X, k, covariance_type, seed=0):
    """weights_init, means_init, precisions_init from the complete rows."""
    complete = X[~np.isnan(X).any(axis=1)]
    rng = np.random.RandomState(seed)
    means = complete[rng.choice(len(complete), k, replace=False)]
    var = complete.var(axis=0)
    prec = {
        "full": np.stack([np.diag(1.0 / var)] * k),
        "tied": np.diag(1.0 / var),
        "diag": np.tile(1.0 / var, (k, 1)),
        "spherical": np.full(k, 1.0 / var.mean()),
    }[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=prec)


def fit(X, k=3, covariance_type="full", **kw):
    kw.setdefault("missing", "em")
    return streamgmm.GaussianMixture(k, covariance_type=covariance_type, **kw).fit(X)


@pytest.fixture(scope="module")
def data():
    X = make_blobs(seed=7, n_per=200, d=4)
    return X, holes(X, 0.15, seed=1, empty_rows=(3, 100, 377))


# -- against the dense reference ----------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_matches_the_dense_reference(data, covariance_type):
    _, Xm = data
    start = start_of(Xm, 3, covariance_type)
    ref = reference_fit(Xm, start, covariance_type, n_iter=12)
    n_empty = int(np.isnan(Xm).all(axis=1).sum())
    with pytest.warns(UserWarning, match=rf"^{n_empty} of the 600 rows .* no observed entry"):
        ours = fit(Xm, 3, covariance_type, max_iter=12, tol=0.0, chunk_size=97, **start)
    assert_same_model(ours, _as_model(ref), rtol=1e-8, attrs=FITTED[:3])
    np.testing.assert_allclose(ours.lower_bounds_, ref["lower_bounds_"], rtol=1e-10)
    assert ours.n_iter_ == 12


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_em_matches_the_dense_reference(data, covariance_type):
    _, Xm = data
    w = np.random.RandomState(2).uniform(0, 3, len(Xm))
    w[::17] = 0.0
    start = start_of(Xm, 3, covariance_type, seed=1)
    ref = reference_fit(Xm, start, covariance_type, n_iter=8, sample_weight=w)
    ours = streamgmm.GaussianMixture(
        3, covariance_type=covariance_type, missing="em", max_iter=8, tol=0.0, chunk_size=64,
        **start,
    ).fit(Xm, sample_weight=w)  # fmt: skip
    assert_same_model(ours, _as_model(ref), rtol=1e-8, attrs=FITTED[:3])
    np.testing.assert_allclose(ours.lower_bounds_, ref["lower_bounds_"], rtol=1e-10)


def test_integer_weights_are_row_repetition(data):
    _, Xm = data
    w = np.random.RandomState(3).randint(0, 4, len(Xm))
    start = start_of(Xm, 3, "full")
    kw = dict(max_iter=10, tol=0.0, **start)
    weighted = streamgmm.GaussianMixture(3, missing="em", **kw).fit(Xm, sample_weight=w)
    repeated = fit(np.repeat(Xm, w, axis=0), **kw)
    assert_same_model(weighted, repeated, rtol=1e-10)


def test_wide_rows_two_words_of_pattern_bits():
    """70 features: a row's pattern takes two 64-bit words (the lexsort grouping)."""
    rng = np.random.RandomState(4)
    X = rng.randn(300, 70) + np.repeat([[0.0], [4.0]], 150, axis=0)
    Xm = X.copy()
    Xm[rng.random_sample(X.shape) < 0.05] = np.nan
    start = start_of(X, 2, "full")
    ref = reference_fit(Xm, start, "full", n_iter=3)
    ours = fit(Xm, 2, max_iter=3, tol=0.0, chunk_size=120, **start)
    assert_same_model(ours, _as_model(ref), rtol=1e-8, attrs=FITTED[:3])


def _as_model(ref):
    return type("Reference", (), ref)


# -- a closed form ------------------------------------------------------------------------


def test_monotone_bivariate_normal_reaches_the_closed_form_mle():
    """x1 always observed, x2 missing where x1 is large (missing at random): the MLE is the
    marginal of x1 from every row and the regression of x2 on x1 from the complete ones
    (Anderson 1957; Little and Rubin, section 7.2)."""
    rng = np.random.RandomState(5)
    n = 500
    x1 = 1.0 + 2.0 * rng.randn(n)
    x2 = 0.5 + 0.8 * x1 + 0.7 * rng.randn(n)
    X = np.column_stack([x1, x2])
    X[x1 > np.quantile(x1, 0.6), 1] = np.nan
    c = ~np.isnan(X[:, 1])
    mu1, s11 = x1.mean(), x1.var()
    beta = np.cov(x1[c], x2[c], bias=True)[0, 1] / x1[c].var()
    alpha = x2[c].mean() - beta * x1[c].mean()
    s22_1 = np.mean((x2[c] - alpha - beta * x1[c]) ** 2)
    mean = np.array([mu1, alpha + beta * mu1])
    cov = np.array([[s11, beta * s11], [beta * s11, s22_1 + beta**2 * s11]])
    gm = fit(X, 1, reg_covar=0.0, tol=0.0, max_iter=400, chunk_size=77)
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_[0], cov, rtol=1e-8)


# -- the same model without NaN -----------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_nan_gives_the_same_model_bit_for_bit(data, covariance_type, dtype):
    X = data[0].astype(dtype)
    kw = dict(random_state=0, n_init=2, chunk_size=150)
    em = fit(X, 3, covariance_type, **kw)
    plain = fit(X, 3, covariance_type, missing="error", **kw)
    for name in (*FITTED, "lower_bounds_", "n_iter_"):
        np.testing.assert_array_equal(getattr(em, name), getattr(plain, name), err_msg=name)
    np.testing.assert_array_equal(em.score_samples(X), plain.score_samples(X))
    np.testing.assert_array_equal(em.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(em.impute(X), X)


# -- chunking, containers, float32 ----------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunking_and_containers_agree(data, tmp_path, covariance_type):
    _, Xm = data
    path = tmp_path / "holes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=Xm, chunks=(50, 4))
    kw = dict(random_state=1, max_iter=15, tol=0.0)
    whole = fit(Xm, 3, covariance_type, chunk_size=600, **kw)
    for X, chunk_size in (
        (Xm, 1),
        (Xm, 37),
        (da.from_array(Xm, chunks=((250, 3, 200, 147), (2, 2))), "auto"),
        (streamgmm.read_hdf5(path, "x", chunk_rows=100), "auto"),
    ):
        other = fit(X, 3, covariance_type, chunk_size=chunk_size, **kw)
        assert_same_model(other, whole, rtol=1e-10)
        np.testing.assert_allclose(other.lower_bounds_, whole.lower_bounds_, rtol=1e-10)


def test_float32_data(data):
    _, Xm = data
    start = start_of(Xm, 3, "full")
    kw = dict(max_iter=10, tol=0.0, **start)
    ours32 = fit(Xm.astype(np.float32), **kw)
    ours64 = fit(Xm.astype(np.float32).astype(np.float64), **kw)
    assert ours32.means_.dtype == ours32.covariances_.dtype == np.float32
    assert_same_model(ours32, ours64, rtol=1e-5)
    imputed = ours32.impute(Xm.astype(np.float32))
    assert imputed.dtype == np.float32 and not np.isnan(imputed).any()


# -- rows used ----------------------------------------------------------------------------


def test_rows_without_an_observed_entry_are_left_out(data):
    _, Xm = data
    empty = np.isnan(Xm).all(axis=1)
    start = start_of(Xm, 3, "diag")
    kw = dict(max_iter=6, tol=0.0, chunk_size=100, **start)
    with pytest.warns(UserWarning, match=f"{empty.sum()} of the 600 rows of the input array"):
        gm = fit(Xm, 3, "diag", **kw)
    without = fit(Xm[~empty], 3, "diag", **kw)
    assert_same_model(gm, without, rtol=1e-10)
    np.testing.assert_allclose(gm.lower_bounds_, without.lower_bounds_, rtol=1e-10)
    # score, bic and aic count the rows used; an empty row's density is 1 (log sum pi = 0)
    assert gm.score(Xm) == pytest.approx(without.score(Xm[~empty]), rel=1e-12)
    assert gm.bic(Xm) == pytest.approx(without.bic(Xm[~empty]), rel=1e-12)
    assert gm.aic(Xm) == pytest.approx(without.aic(Xm[~empty]), rel=1e-12)
    np.testing.assert_allclose(gm.score_samples(Xm)[empty], 0.0, atol=1e-15)
    np.testing.assert_allclose(gm.predict_proba(Xm)[empty], np.tile(gm.weights_, (empty.sum(), 1)))
    assert (gm.predict(Xm)[empty] == np.argmax(gm.weights_)).all()
    mixture_mean = np.tile(gm.weights_ @ gm.means_, (empty.sum(), 1))
    np.testing.assert_allclose(gm.impute(Xm)[empty], mixture_mean)


def test_a_column_never_observed_is_refused():
    X = make_blobs(seed=8, n_per=50)
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"column 1 of the input array has no observed value"):
        fit(X, 2)


def test_infinity_is_still_an_error(data):
    _, Xm = data
    X = Xm.copy()
    X[250, 1] = -np.inf
    with pytest.raises(ValueError, match=r"infinity at row 250 .*column 1\. With missing='em'"):
        fit(X, 3, chunk_size=100)
    gm = fit(Xm, 3, max_iter=2)
    for method in ("score_samples", "predict", "predict_proba", "impute"):
        with pytest.raises(ValueError, match=r"infinity at row 250 of the input array, column 1"):
            getattr(gm, method)(X)


def test_missing_error_keeps_refusing_nan(data):
    _, Xm = data
    with pytest.raises(ValueError, match=r"NaN or infinity at row \d+ .*column \d"):
        fit(Xm, 3, missing="error")
    with pytest.raises(streamgmm.InvalidParameterError, match="'missing' parameter"):
        fit(Xm, 3, missing="drop")


# -- inference and imputation ---------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_inference_and_imputation_use_the_observed_coordinates(data, covariance_type):
    X, Xm = data
    gm = fit(Xm, 3, covariance_type, random_state=0, max_iter=5)
    weights, means = gm.weights_, gm.means_
    covs = covariances_of_precisions(covariance_type, gm.precisions_)
    log_prob, resp, imputed = reference_inference(Xm, weights, means, covs, covariance_type)
    np.testing.assert_allclose(gm.score_samples(Xm), log_prob, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gm.predict_proba(Xm), resp, rtol=1e-8, atol=1e-14)
    np.testing.assert_array_equal(gm.predict(Xm), resp.argmax(axis=1))
    ours = gm.impute(Xm)
    np.testing.assert_allclose(ours, imputed, rtol=1e-10)
    observed = ~np.isnan(Xm)
    assert np.array_equal(ours[observed], Xm[observed])  # bit for bit
    assert Xm is not ours and np.isnan(Xm).sum() == observed.size - observed.sum()
    assert gm.score(Xm) == pytest.approx(log_prob[observed.any(axis=1)].mean(), rel=1e-12)


def test_lazy_inference_and_imputation_for_dask_and_hdf5(data, tmp_path):
    _, Xm = data
    gm = fit(Xm, 3, random_state=0, max_iter=5)
    path = tmp_path / "holes.h5"
    with h5py.File(path, "w") as f:
        f["x"] = Xm
    for X in (da.from_array(Xm, chunks=(128, 4)), streamgmm.read_hdf5(path, "x")):
        for method in ("score_samples", "predict", "predict_proba", "impute"):
            lazy = getattr(gm, method)(X)
            assert isinstance(lazy, da.Array), method
            np.testing.assert_allclose(lazy.compute(), getattr(gm, method)(Xm), rtol=1e-13)


def test_a_model_fitted_without_missing_imputes(data):
    X, Xm = data
    gm = fit(X, 3, missing="error", random_state=0)
    assert np.isfinite(gm.impute(Xm)).all()
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.predict(Xm)


# -- the start ----------------------------------------------------------------------------


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_the_default_start_is_as_good_as_the_truth(init_params):
    """Well-separated clusters with 20% of the entries missing: the start from the
    mean-filled data reaches the lower bound of a start from the true parameters."""
    rng = np.random.RandomState(9)
    k, d, n = 4, 5, 4000
    centres = rng.uniform(-10, 10, (k, d))
    factors = rng.uniform(0.5, 1.5, (k, d, d)) * np.eye(d) + 0.2 * rng.randn(k, d, d)
    covs = factors @ factors.transpose(0, 2, 1)
    labels = rng.randint(k, size=n)
    X = centres[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[labels], rng.randn(n, d))
    X[rng.random_sample(X.shape) < 0.2] = np.nan
    truth = dict(
        weights_init=np.bincount(labels) / n,
        means_init=centres,
        precisions_init=np.linalg.inv(covs),
    )
    best = fit(X, k, tol=1e-6, max_iter=300, **truth).lower_bound_
    ours = fit(X, k, tol=1e-6, max_iter=300, init_params=init_params, random_state=0)
    assert ours.lower_bound_ >= best - 1e-5


def test_restarts_share_every_pass():
    """n_init restarts read each block once per iteration; missing values cost one more
    pass (the observed column means) before the initialisation."""
    X = holes(make_blobs(seed=10, n_per=300), 0.2, seed=2)
    reader = CountingReader(X)
    arr = da.from_array(reader, chunks=(100, 3), asarray=True)
    longest = [0]

    def track(info):
        longest[0] = max(longest[0], info.n_iter)

    gm = streamgmm.GaussianMixture(
        3, n_init=4, init_params="random", random_state=0, tol=1e-6, max_iter=30, cache=False,
        missing="em",
    )  # fmt: skip
    gm.fit(arr, callback=track)
    assert reader.reads == 9 * (2 + longest[0])  # means, random start, iterations


def test_select_model_equals_separate_fits(data):
    _, Xm = data
    params = dict(random_state=0, max_iter=20, missing="em")
    sel = streamgmm.select_model(Xm, [2, 3], ("full", "diag"), **params)
    for row, model in zip(sel.rows, sel.models, strict=True):
        alone = fit(Xm, row["n_components"], row["covariance_type"], **params)
        assert_same_model(model, alone, rtol=1e-12)
        assert row["bic"] == pytest.approx(alone.bic(Xm), rel=1e-10)


# -- checkpoints and model files -------------------------------------------------------------


def test_interrupted_fit_resumes_to_the_same_model(data, tmp_path):
    _, Xm = data
    ckpt = tmp_path / "fit.ckpt"
    kw = dict(n_init=2, random_state=0, max_iter=25, tol=1e-9, chunk_size=128, missing="em")

    def interrupt(info):
        if info.n_iter == 4 and info.init == 1:
            raise KeyboardInterrupt

    straight = streamgmm.GaussianMixture(3, **kw).fit(Xm)
    with pytest.raises(KeyboardInterrupt):
        streamgmm.GaussianMixture(3, **kw).fit(Xm, checkpoint=ckpt, callback=interrupt)
    resumed = streamgmm.GaussianMixture(3, **kw).fit(Xm, checkpoint=ckpt, resume=True)
    for name in (*FITTED, "lower_bounds_", "n_iter_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name))
    with pytest.raises(ValueError, match="other settings"):
        streamgmm.GaussianMixture(3, **dict(kw, missing="error")).fit(
            Xm, checkpoint=ckpt, resume=True
        )


def test_model_file_keeps_the_setting(data, tmp_path):
    _, Xm = data
    gm = fit(Xm, 3, random_state=0, max_iter=5)
    gm.save(tmp_path / "m.h5")
    back = streamgmm.load(tmp_path / "m.h5")
    assert back.missing == "em"
    np.testing.assert_array_equal(back.predict_proba(Xm), gm.predict_proba(Xm))
    np.testing.assert_array_equal(back.impute(Xm), gm.impute(Xm))


def test_warm_start_continues(data):
    _, Xm = data
    gm = fit(Xm, 3, random_state=0, max_iter=3, tol=0.0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(Xm)
    straight = fit(Xm, 3, random_state=0, max_iter=6, tol=0.0)
    assert_same_model(gm, straight, rtol=1e-12)
