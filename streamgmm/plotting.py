"""Plots of a fitted mixture (optional extra: ``pip install "streamgmm[plot]"``).

matplotlib is imported only when a function here runs, so ``import streamgmm``
never needs it. Every function draws on ``ax`` when given (the figure then
belongs to the caller), otherwise on a new ``matplotlib.pyplot`` figure, and
returns the axes.

>>> from streamgmm import plotting
>>> ax = plotting.plot_ellipses(gm, X[:100_000])      # doctest: +SKIP
>>> ax.figure.savefig("mixture.png")                   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ._model import get_covariance

__all__ = [
    "covariance_matrices",
    "new_axes",
    "plot_bic",
    "plot_ellipses",
    "plot_lower_bounds",
    "projection",
]

INSTALL_HINT = 'install matplotlib for the figures: python -m pip install "streamgmm[plot]"'


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"streamgmm.plotting needs matplotlib; {INSTALL_HINT}") from None
    return matplotlib


def new_axes(figsize=(6.4, 4.8), ncols=1):
    """Axes on a new figure that no GUI owns (safe in scripts and servers); save with
    ``ax.figure.savefig(path)``. Returns one axes, or an array of ``ncols`` axes."""
    _matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return axes


def _axes(ax):
    if ax is not None:
        return ax
    _matplotlib()
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def covariance_matrices(gm) -> np.ndarray:
    """Every covariance as a full matrix, shape (n_components, n_features, n_features)."""
    k, d = gm.means_.shape
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    return get_covariance(gm.covariance_type).full_matrices(cov, k, d)


def projection(gm, X=None, dims=None) -> tuple[np.ndarray, list[str]]:
    """A (2, n_features) matrix onto the plane of the plot, and the axis labels.

    Two features are shown as they are; ``dims=(i, j)`` picks two features;
    otherwise the two principal axes of ``X`` (or of the fitted means, weighted,
    when ``X`` is None).
    """
    d = gm.means_.shape[1]
    if d == 1:
        raise ValueError("a 2-D view needs at least 2 features; this model has 1")
    if dims is None and d == 2:
        dims = (0, 1)
    if dims is not None:
        i, j = dims
        return np.eye(d)[[i, j]], [f"feature {i}", f"feature {j}"]
    if X is not None:
        centred = np.asarray(X, dtype=np.float64)
        centred = centred - centred.mean(axis=0)
    else:
        w = np.sqrt(np.asarray(gm.weights_, dtype=np.float64))[:, None]
        means = np.asarray(gm.means_, dtype=np.float64)
        centred = w * (means - np.average(means, axis=0, weights=gm.weights_))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:2], ["principal axis 1", "principal axis 2"]


def _ellipse_geometry(cov2: np.ndarray):
    """Width, height (one standard deviation, full axes) and angle in degrees of a 2x2 cov."""
    values, vectors = np.linalg.eigh(cov2)
    values = np.clip(values, 0.0, None)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    return 2 * np.sqrt(values[1]), 2 * np.sqrt(values[0]), angle


def plot_ellipses(gm, X=None, ax=None, *, dims=None, n_std=(1.0, 2.0), bins=200, cmap="Greys"):
    """The data's density (a 2-D histogram of ``X``, a sample is enough) with each
    component's ellipses at ``n_std`` standard deviations.

    With more than two features the view is a projection (see :func:`projection`)
    and each ellipse is the projected covariance. Component labels give the
    weights.
    """
    _matplotlib()
    ax = _axes(ax)
    proj, labels = projection(gm, X, dims)
    means = np.asarray(gm.means_, dtype=np.float64) @ proj.T
    covs = np.einsum("ia,kab,jb->kij", proj, covariance_matrices(gm), proj)
    if X is not None:
        _draw_density(ax, np.asarray(X, dtype=np.float64) @ proj.T, bins, cmap)
    colors = _colors(len(means))
    for k, (mean, cov) in enumerate(zip(means, covs, strict=True)):
        _draw_component(ax, f"{k}: {gm.weights_[k]:.2f}", mean, cov, n_std, colors[k])
    if X is None:
        ax.autoscale_view()
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    sds = " and ".join(f"{s:g}" for s in n_std)
    ax.set_title(f"{len(means)} components ({gm.covariance_type}), ellipses at {sds} s.d.")
    return ax


def _draw_density(ax, Y: np.ndarray, bins, cmap) -> None:
    """A log-scaled 2-D histogram of the projected points ``Y``, with a colour bar."""
    from matplotlib.colors import LogNorm

    lo, hi = np.percentile(Y, [0.1, 99.9], axis=0)
    pad = 0.05 * (hi - lo)
    hist, xe, ye = np.histogram2d(
        Y[:, 0],
        Y[:, 1],
        bins=bins,
        range=[[lo[0] - pad[0], hi[0] + pad[0]], [lo[1] - pad[1], hi[1] + pad[1]]],
    )
    hist = np.ma.masked_equal(hist.T, 0)
    mesh = ax.pcolormesh(xe, ye, hist, cmap=cmap, norm=LogNorm(), rasterized=True)
    ax.figure.colorbar(mesh, ax=ax, label=f"points per bin (of {len(Y):,})")


def _draw_component(ax, label: str, mean, cov, n_std, color) -> None:
    """One component: its ellipses (the first of ``n_std`` bold), its mean and ``label``."""
    from matplotlib.patches import Ellipse

    width, height, angle = _ellipse_geometry(cov)
    for s in n_std:
        ax.add_patch(
            Ellipse(
                mean,
                s * width,
                s * height,
                angle=angle,
                fill=False,
                lw=2.0 if s == n_std[0] else 1.2,
                ls="-" if s == n_std[0] else "--",
                color=color,
            )
        )
    ax.plot(*mean, "+", color=color, ms=10, mew=2)
    ax.annotate(
        label,
        mean,
        xytext=(6, 6),
        textcoords="offset points",
        color=color,
        fontsize=9,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
    )


def _colors(n: int):
    _matplotlib()
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_lower_bounds(gm_or_bounds, ax=None, *, tol=None, change_ax=None):
    """The mean log-likelihood per sample at each EM iteration.

    ``gm_or_bounds`` is a fitted model (its ``lower_bounds_``) or a sequence.
    With ``change_ax``, the absolute change per iteration is drawn there on a
    log scale, with the convergence threshold ``tol`` (the model's by default).
    """
    bounds = np.asarray(getattr(gm_or_bounds, "lower_bounds_", gm_or_bounds), dtype=np.float64)
    if tol is None:
        tol = getattr(gm_or_bounds, "tol", None)
    ax = _axes(ax)
    from matplotlib.ticker import MaxNLocator

    iters = np.arange(1, len(bounds) + 1)
    ax.plot(iters, bounds, "o-", ms=3)
    ax.set_xlabel("EM iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mean log-likelihood per sample")
    ax.set_title("log-likelihood")
    ax.grid(alpha=0.3)
    if change_ax is not None and len(bounds) > 1:
        change_ax.semilogy(iters[1:], np.abs(np.diff(bounds)), "o-", ms=3)
        if tol is not None:
            change_ax.axhline(tol, color="C3", ls="--", label=f"tol = {tol:g}")
            change_ax.legend()
        change_ax.set_xlabel("EM iteration")
        change_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        change_ax.set_ylabel("|change|")
        change_ax.set_title("change of the log-likelihood")
        change_ax.grid(alpha=0.3, which="both")
    return ax


def plot_bic(n_components, bic, aic=None, ax=None, *, best=None, aic_ax=None):
    """Information criteria against the number of components (lower is better).

    BIC is drawn on ``ax``; AIC on ``aic_ax`` when given, on its own scale, else on ``ax``
    too. The two criteria differ by far less than they vary with K, so on one scale their
    curves nearly coincide: there AIC is dashed with large hollow squares drawn under
    BIC's line and dots, so that both stay visible. The lowest point of each curve is
    starred, and ``best`` (the chosen K) is marked by a vertical line.
    """
    ax = _axes(ax)
    ks = np.asarray(n_components)
    ax.plot(ks, bic, "o-", color="C0", ms=5, lw=2.0, zorder=2.2, label="BIC")
    _star_lowest(ax, ks, bic, "C0")
    if aic is not None:
        on = ax if aic_ax is None else aic_ax
        on.plot(ks, aic, "s--", color="C1", ms=9, mfc="none", mew=1.5, zorder=2.1, label="AIC")
        _star_lowest(on, ks, aic, "C1")
    for axes in [ax] if aic is None or aic_ax is None else [ax, aic_ax]:
        if best is not None:
            axes.axvline(best, color="C3", ls=":", label=f"best: {best}")
        axes.set_xlabel("number of components")
        axes.set_xticks(ks)
        axes.legend()
        axes.grid(alpha=0.3)
    if aic_ax is None:
        ax.set_ylabel("criterion (lower is better)")
    else:
        ax.set_ylabel("BIC (lower is better)")
        aic_ax.set_ylabel("AIC (lower is better)")
    return ax


def _star_lowest(ax, ks, values, color) -> None:
    i = int(np.argmin(values))
    ax.scatter([ks[i]], [values[i]], marker="*", s=160, color=color, edgecolor="k", zorder=3)
