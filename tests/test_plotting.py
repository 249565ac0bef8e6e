"""Plot helpers (optional matplotlib extra): ellipses, log-likelihood history, BIC curve."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm import plotting

from conftest import COVARIANCE_TYPES, colour_pixels, make_blobs

pytest.importorskip("matplotlib", reason="plots need the plot extra")


def _fit(covariance_type="full", d=2, k=3):
    X = make_blobs(seed=2, n_per=100, d=d, k=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = streamgmm.GaussianMixture(k, covariance_type=covariance_type, random_state=0)
        return gm.fit(X), X


def _ellipses(ax):
    from matplotlib.patches import Ellipse

    return [p for p in ax.patches if isinstance(p, Ellipse)]


def test_matplotlib_is_imported_only_inside_functions():
    tree = ast.parse(Path(plotting.__file__).read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top_level for a in n.names] + [
        n.module for n in top_level if isinstance(n, ast.ImportFrom) and n.module
    ]
    assert not [name for name in names if name.startswith("matplotlib")]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_covariance_matrices_are_full(covariance_type):
    gm, _ = _fit(covariance_type)
    full = plotting.covariance_matrices(gm)
    assert full.shape == (3, 2, 2)
    # the density of each component, from the full matrices, is the model's own
    prec = np.linalg.inv(full)
    x = gm.means_[0] + 0.3
    log_dens = [
        -0.5 * (x - m) @ p @ (x - m) - 0.5 * np.log(np.linalg.det(2 * np.pi * c))
        for m, p, c in zip(gm.means_, prec, full, strict=True)
    ]
    want = np.logaddexp.reduce(np.log(gm.weights_) + np.array(log_dens))
    np.testing.assert_allclose(gm.score_samples(x[None])[0], want, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ellipses_match_the_components(covariance_type):
    gm, X = _fit(covariance_type)
    ax = plotting.new_axes()
    plotting.plot_ellipses(gm, X, ax=ax, n_std=(1.0, 2.0))
    ellipses = _ellipses(ax)
    assert len(ellipses) == 2 * 3
    full = plotting.covariance_matrices(gm)
    for k in range(3):
        inner = ellipses[2 * k]
        np.testing.assert_allclose(inner.center, gm.means_[k])
        # the 1-s.d. ellipse's axes are twice the square roots of the eigenvalues
        axes = sorted([inner.width, inner.height])
        np.testing.assert_allclose(axes, 2 * np.sqrt(np.linalg.eigvalsh(full[k])), rtol=1e-10)
        assert ellipses[2 * k + 1].width == pytest.approx(2 * inner.width)


def test_ellipse_orientation():
    gm, _ = _fit("full")
    gm.covariances_ = np.stack([np.diag([4.0, 1.0]), np.diag([1.0, 4.0]), np.eye(2)])
    ax = plotting.new_axes()
    plotting.plot_ellipses(gm, ax=ax, n_std=(1.0,))
    first, second, _ = _ellipses(ax)
    assert (first.width, first.height) == pytest.approx((4.0, 2.0))
    assert first.angle % 180 == pytest.approx(0.0, abs=1e-9)
    assert (second.width, second.height) == pytest.approx((4.0, 2.0))
    assert second.angle % 180 == pytest.approx(90.0)


def test_projection_of_more_than_two_features(tmp_path):
    gm, X = _fit("diag", d=4)
    proj, labels = plotting.projection(gm, X)
    np.testing.assert_allclose(proj @ proj.T, np.eye(2), atol=1e-12)
    assert labels[0] == "principal axis 1"
    proj, labels = plotting.projection(gm, X, dims=(1, 3))
    np.testing.assert_array_equal(proj, np.eye(4)[[1, 3]])
    ax = plotting.new_axes()
    plotting.plot_ellipses(gm, X, ax=ax)
    assert len(_ellipses(ax)) == 2 * 3
    ax.figure.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_lower_bounds_and_changes():
    gm, _ = _fit()
    left, right = plotting.new_axes(ncols=2)
    plotting.plot_lower_bounds(gm, ax=left, change_ax=right)
    np.testing.assert_array_equal(left.lines[0].get_ydata(), gm.lower_bounds_)
    np.testing.assert_allclose(right.lines[0].get_ydata(), np.abs(np.diff(gm.lower_bounds_)))
    assert right.lines[1].get_ydata()[0] == gm.tol  # the threshold line


def test_bic_curve_marks_the_best():
    ax = plotting.new_axes()
    plotting.plot_bic([1, 2, 3], [30.0, 10.0, 20.0], [25.0, 9.0, 12.0], ax=ax, best=2)
    bic, aic, best = ax.lines
    np.testing.assert_array_equal(bic.get_ydata(), [30.0, 10.0, 20.0])
    np.testing.assert_array_equal(aic.get_ydata(), [25.0, 9.0, 12.0])
    assert best.get_xdata()[0] == 2


def test_pyplot_axes_when_none_given():
    import matplotlib.pyplot as plt

    gm, X = _fit()
    try:
        ax = plotting.plot_ellipses(gm, X[:50])
        assert ax.figure is plt.gcf()
    finally:
        plt.close("all")


def test_one_feature_has_no_2d_view():
    X = make_blobs(seed=2, n_per=50, d=1, k=2)
    gm = streamgmm.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="at least 2 features"):
        plotting.projection(gm)


def test_bic_and_aic_that_nearly_coincide_both_show(tmp_path):
    """AIC is BIC less a little here, as on large data: on one axes AIC's hollow squares sit
    under BIC's dots (before, AIC's line covered BIC's but for its legend); with ``aic_ax``
    each has its own axes. The lowest point of each is starred."""
    ks, bic = [1, 2, 3, 4, 5, 6], [5000.0, 3000.0, 2000.0, 1990.0, 1995.0, 2005.0]
    aic = [b - 5.0 for b in bic]
    ax = plotting.new_axes()
    plotting.plot_bic(ks, bic, aic, ax=ax, best=4)
    ax.figure.savefig(tmp_path / "one.png", dpi=100)
    assert sum(colour_pixels(tmp_path / "one.png", "C0")) > 1000  # was 326: the legend
    assert sum(colour_pixels(tmp_path / "one.png", "C1")) > 400
    stars = [c.get_offsets()[0].tolist() for c in ax.collections]
    assert stars == [[4.0, 1990.0], [4.0, 1985.0]]

    left, right = plotting.new_axes(figsize=(10.0, 4.0), ncols=2)
    plotting.plot_bic(ks, bic, aic, ax=left, best=4, aic_ax=right)
    left.figure.savefig(tmp_path / "two.png", dpi=100)
    blue, orange = (
        colour_pixels(tmp_path / "two.png", "C0"),
        colour_pixels(tmp_path / "two.png", "C1"),
    )
    assert blue[0] > 1000 and blue[1] < 100  # BIC on the left
    assert orange[1] > 800 and orange[0] < 100  # AIC on the right
    np.testing.assert_array_equal(right.lines[0].get_ydata(), aic)
    assert right.get_ylabel() == "AIC (lower is better)"
