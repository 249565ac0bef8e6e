"""The one progress display (streamgmm.Progress): phases named, blocks counted, plain lines
off a terminal at most every few seconds, a live line on a terminal; the same for the
estimator's progress=True and the command line."""

from __future__ import annotations

import io
import re
import warnings

import dask.array as da
import pytest
from sklearn.exceptions import ConvergenceWarning

import streamgmm
from streamgmm._data import progress

from conftest import make_blobs

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def fit_with(display, X, **kw):
    kw = dict(dict(n_components=3, random_state=0, max_iter=4, tol=0.0), **kw)
    with display:
        return streamgmm.GaussianMixture(**kw).fit(X)


def test_plain_lines_name_every_phase_and_the_iterations():
    X = da.from_array(make_blobs(seed=1, n_per=3000), chunks=1000)
    out = io.StringIO()
    fit_with(progress.Progress(out, live=False, interval=0.0), X, init_params="random")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("initialisation: random responsibilities, blocks 1..")
    iterations = [line for line in lines if line.startswith("EM iteration")]
    assert [int(re.match(r"EM iteration (\d+)", line)[1]) for line in iterations] == [1, 2, 3, 4]
    assert re.search(r"lower bound -?\d+\.\d+, change .*; \d+\.\d+ s, \d+\.\d+ [MG]B/s", lines[-2])
    assert lines[-1] == "EM did not converge after 4 iterations"
    assert "\r" not in out.getvalue()


def test_plain_lines_are_rate_limited_but_phases_and_the_end_always_show():
    X = make_blobs(seed=1, n_per=3000)
    out = io.StringIO()
    fit_with(progress.Progress(out, live=False, interval=3600.0), X, max_iter=20)
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("EM iteration") for line in lines) <= 1
    assert lines[-1].startswith("EM did not converge after 20 iterations")


def test_kmeans_parallel_rounds_and_lloyd_passes_are_named():
    X = make_blobs(seed=2, n_per=20_000)  # 60,000 rows: more than k-means++ seeds in memory
    out = io.StringIO()
    fit_with(progress.Progress(out, live=False, interval=0.0), X, memory_limit="1MB")
    text = out.getvalue()
    for expected in ("k-means|| round 1 of 3", "Lloyd pass 1", "EM iteration 1:"):
        assert expected in text, text


def test_a_live_display_redraws_one_line_with_the_blocks():
    X = da.from_array(make_blobs(seed=1, n_per=20_000), chunks=2000)
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        progress.REDRAW, saved = 0.0, progress.REDRAW
        try:
            fit_with(progress.Progress(out, live=True), X)
        finally:
            progress.REDRAW = saved
    text = out.getvalue()
    assert re.search(r"\r\x1b\[KEM iteration \d \[[#.]{20}\] \d+/30 blocks, \d", text)
    # tasks reduce groups of blocks; each block is counted as it is reduced, to the last
    assert re.search(r"\r\x1b\[KEM iteration 1 \[[#.]{20}\] 1/30 blocks, \d", text)
    assert re.search(r"\r\x1b\[KEM iteration 1 \[#{20}\] 30/30 blocks, \d", text)
    assert "EM iteration 1: lower bound" in text  # an iteration's outcome, on a line of its own


def test_progress_true_shows_the_display_on_stderr(capsys):
    streamgmm.GaussianMixture(3, random_state=0, progress=True, max_iter=3).fit(make_blobs())
    err = capsys.readouterr().err
    assert "EM iteration 1: lower bound" in err and "after 3 iterations" in err


def test_without_a_display_nothing_is_written(capsys):
    streamgmm.GaussianMixture(3, random_state=0, max_iter=3).fit(make_blobs())
    assert capsys.readouterr() == ("", "")
