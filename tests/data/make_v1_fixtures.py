"""Model files and a checkpoint written by streamgmm at commit 459204b (format version 1).

Run from the repository root at that commit: python tests/data/make_v1_fixtures.py
The files are kept so that every later streamgmm is tested to load them.
"""

import sys

sys.path.insert(0, "tests")
import numpy as np

import streamgmm

from conftest import make_blobs

X = make_blobs(seed=7, n_per=100, d=3, k=2)
for cov in ("full", "tied", "diag", "spherical"):
    gm = streamgmm.GaussianMixture(2, covariance_type=cov, random_state=0).fit(X)
    gm.save(f"tests/data/model_v1_{cov}.h5")
gm = streamgmm.GaussianMixture(2, random_state=0).fit(X.astype(np.float32))
gm.save("tests/data/model_v1_full_float32.h5")
start = X[:2].copy()
gm = streamgmm.GaussianMixture(
    2, covariance_type="diag", means_init=start, max_iter=3, tol=0.0
).fit(X)
gm.save("tests/data/model_v1_diag_means_init.h5")
gm = streamgmm.GaussianMixture(2, random_state=0, n_init=2, max_iter=4, tol=0.0)
gm.fit(X, checkpoint="tests/data/checkpoint_v1.h5")
