"""The fields of a BayesianGaussianMixture model file beyond those of a GaussianMixture.

Layout (format "streamgmm.BayesianGaussianMixture", version 1), besides the groups of
``modelfile.py``::

    /params/weight_concentration   (K,) Dirichlet parameters, or (2, K) for the Dirichlet
                                   process (scikit-learn's tuple of the Beta parameters)
    /params/mean_precision         (K,)
    /params/degrees_of_freedom     (K,), or () for tied covariances
    /priors                        attrs: weight_concentration_prior, mean_precision_prior,
                                   degrees_of_freedom_prior (int or float, as fitted)
    /priors/mean_prior             (d,), in its own dtype
    /priors/covariance_prior       (d, d), (d,) or (), in its own dtype

Every field is checked as a model file's (``fields.py``), then its values: the posterior
finite and in range (concentrations and mean precisions positive, degrees of freedom
above d - 1), ``weights`` the posterior's mean weights, the priors as ``fit`` checks them.
Checkpoints keep each run's posterior in ``/checkpoint/runs/<i>`` under the names of
``VariationalParams`` (:func:`read_variational_run`).
"""

from __future__ import annotations

from numbers import Integral

import h5py
import numpy as np

from .._model import (
    WEIGHT_PRIORS,
    FieldError,
    VariationalParams,
    check_fitted_parameters,
    check_prior_attributes,
    get_covariance,
    mixture_weights,
)
from .fields import FieldReader

#: prior attribute -> attribute of /priors
PRIOR_SCALARS = {
    "weight_concentration_prior_": "weight_concentration_prior",
    "mean_precision_prior_": "mean_precision_prior",
    "degrees_of_freedom_prior_": "degrees_of_freedom_prior",
}
#: agreement asked of the stored weights and those of the stored posterior (both float64)
WEIGHTS_RTOL = 1e-10


def write_bayesian_fields(f: h5py.Group, fitted: dict) -> None:
    """The posterior into /params and the priors into /priors of an open model file."""
    params = f["params"]
    conc = fitted["weight_concentration_"]
    params.create_dataset(
        "weight_concentration",
        data=np.asarray(np.vstack(conc) if isinstance(conc, tuple) else conc),
    )
    params.create_dataset("mean_precision", data=np.asarray(fitted["mean_precision_"]))
    params.create_dataset("degrees_of_freedom", data=np.asarray(fitted["degrees_of_freedom_"]))
    priors = f.create_group("priors")
    for attr, name in PRIOR_SCALARS.items():
        value = fitted[attr]
        priors.attrs[name] = np.int64(value) if isinstance(value, Integral) else np.float64(value)
    priors.create_dataset("mean_prior", data=np.asarray(fitted["mean_prior_"]))
    priors.create_dataset("covariance_prior", data=np.asarray(fitted["covariance_prior_"]))


def _shapes(settings: dict, k: int, d: int) -> dict:
    prior_type = settings["weight_concentration_prior_type"]
    cov = get_covariance(settings["covariance_type"])
    return {
        "weight_concentration": WEIGHT_PRIORS[prior_type].concentration_shape(k),
        "mean_precision": (k,),
        "degrees_of_freedom": () if cov.name == "tied" else (k,),
        "means": (k, d),
        "covariances": cov.prec_shape(k, d),
        "precisions_cholesky": cov.prec_shape(k, d),
    }


def _check_posterior(fields: FieldReader, post: dict, settings: dict, where: str) -> None:
    """Concentrations and mean precisions positive, degrees of freedom above d - 1."""
    d = post["means"].shape[1]
    for name, low in (("weight_concentration", 0.0), ("mean_precision", 0.0)):
        if not np.all(post[name] > low) or not np.all(np.isfinite(post[name])):
            raise fields.bad(f"{where}/{name}", "should hold finite values above 0")
    dof = post["degrees_of_freedom"]
    if not np.all(dof > d - 1.0) or not np.all(np.isfinite(dof)):
        raise fields.bad(
            f"{where}/degrees_of_freedom",
            f"should hold finite values above n_features - 1 = {d - 1}",
        )


def read_bayesian_fields(fields: FieldReader, fitted: dict, settings: dict) -> dict:
    """The posterior and priors of a model file (scikit-learn's attributes), checked against
    the GaussianMixture fields already read (``fitted``)."""
    k, d = fitted["means_"].shape
    shapes = _shapes(settings, k, d)
    params = fields.group(fields.f, "params")
    post = {"means": fitted["means_"]}
    for name in ("weight_concentration", "mean_precision", "degrees_of_freedom"):
        post[name] = fields.array(params, name, f"params/{name}", shape=shapes[name])
    _check_posterior(fields, post, settings, "params")
    conc = post["weight_concentration"].astype(np.float64)
    expected = mixture_weights(
        VariationalParams(conc, None, None, None, None, None),
        settings["weight_concentration_prior_type"],
    )
    weights = fitted["weights_"].astype(np.float64)
    if not np.linalg.norm(weights - expected) <= WEIGHTS_RTOL * np.linalg.norm(expected):
        raise fields.bad(
            "params/weights", "does not match the mean weights of weight_concentration"
        )
    out = {
        "weight_concentration_": tuple(post["weight_concentration"])
        if len(shapes["weight_concentration"]) == 2
        else post["weight_concentration"],
        "mean_precision_": post["mean_precision"],
        "degrees_of_freedom_": post["degrees_of_freedom"][()],
    }
    out.update(_read_priors(fields, settings, d))
    return out


def _read_priors(fields: FieldReader, settings: dict, d: int) -> dict:
    group = fields.group(fields.f, "priors")
    out = {}
    for attr, name in PRIOR_SCALARS.items():
        value = fields.scalar(group.attrs, name, float, f"priors/{name}")
        out[attr] = int(group.attrs[name]) if isinstance(group.attrs[name], np.integer) else value
    out["mean_prior_"] = fields.array(group, "mean_prior", "priors/mean_prior", shape=(d,))
    cp = fields.array(group, "covariance_prior", "priors/covariance_prior", kinds="iuf")
    if cp.ndim == 0:  # spherical: a float as given (an int stays an int), or np.var's scalar
        out["covariance_prior_"] = int(cp) if cp.dtype.kind in "iu" else cp[()]
    else:
        out["covariance_prior_"] = cp
    try:
        check_prior_attributes(out, settings["covariance_type"], d)
    except ValueError as exc:
        raise fields.bad("priors", f"is invalid: {exc}") from None
    return out


def read_variational_run(fields: FieldReader, group: h5py.Group, where: str, record) -> dict:
    """One run's posterior in a checkpoint (float64, the names of ``VariationalParams``),
    checked as the model file's."""
    k, d = record.fitted["means_"].shape
    settings = record.settings
    shapes = _shapes(settings, k, d)
    post = {
        name: fields.array(group, name, f"{where}/{name}", shape=shapes[name]).astype(np.float64)
        for name in VariationalParams._fields
    }
    _check_posterior(fields, post, settings, where)
    cov = get_covariance(settings["covariance_type"])
    prior_type = settings["weight_concentration_prior_type"]
    gaussian = {
        "weights_": mixture_weights(VariationalParams(**post), prior_type),
        "means_": post["means"],
        "covariances_": post["covariances"],
        "precisions_cholesky_": post["precisions_cholesky"],
        "precisions_": cov.precisions(post["precisions_cholesky"]),
    }
    try:
        check_fitted_parameters(gaussian, cov.name)
    except FieldError as exc:
        raise fields.bad(f"{where}/{exc.field}", exc.problem) from None
    return post
