"""The argument parser of ``streamgmm`` and its commands."""

from __future__ import annotations

import argparse

from .output import UsageError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
MISSING_MODES = ("error", "em")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
#: the prior options of 'fit --bayesian' (each needs --bayesian)
PRIOR_OPTIONS = (
    "weight_concentration_prior_type",
    "weight_concentration_prior",
    "mean_precision_prior",
    "mean_prior",
    "degrees_of_freedom_prior",
    "covariance_prior",
)
DEMO_SIZE = "1GB"
DEMO_FOLDER = "streamgmm-demo"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, and no exit from inside argparse
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _numbers(text: str) -> list[float]:
    """Comma-separated numbers, e.g. "0.5" or "1,2,3"."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# -- the parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamgmm",
        description="Exact Gaussian mixture models for data that do not fit in memory.",
        epilog="Run 'streamgmm COMMAND --help' for the options of a command.",
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"streamgmm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_fit(sub)
    _add_predict(sub)
    _add_impute(sub)
    _add_info(sub)
    _add_select(sub)
    _add_demo(sub)
    return parser


# -- one function per command, in the order of 'streamgmm --help' ----------------------


def _add_fit(sub) -> None:
    p = _command(
        sub,
        "fit",
        "commands:cmd_fit",
        summary="fit a mixture to an HDF5 dataset and save the model",
        description="Fit a Gaussian mixture to a 2-D HDF5 dataset, reading it block by block "
        "(one pass per EM iteration), and save the model to an HDF5 model file.",
    )
    _data_arguments(p)
    p.add_argument(
        "-k",
        "--n-components",
        type=_positive_int,
        required=True,
        metavar="K",
        help="number of mixture components",
    )
    _fit_arguments(p)
    _bayesian_arguments(p)
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="write the state of the fit to PATH after each iteration (atomically); "
        "a killed or interrupted fit continues from it with --resume (default: none)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the fit saved in --checkpoint (same data and settings; --max-iter "
        "and --tol may change); the result equals an uninterrupted fit",
    )
    _output_arguments(p, "the model file to write", required=True)


def _add_predict(sub) -> None:
    p = _command(
        sub,
        "predict",
        "commands:cmd_predict",
        summary="write the labels (and probabilities) of an HDF5 dataset under a model",
        description="Label each row of a 2-D HDF5 dataset with its most likely component; "
        "the labels and, with --proba, the responsibilities are computed and written block "
        "by block, in the format that the extension of --out names.",
    )
    p.add_argument("model", help="a model file written by 'streamgmm fit'")
    _data_arguments(p)
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write the responsibilities, one column per component (from the same "
        "read of each block)",
    )
    _cluster_arguments(p)
    _output_arguments(
        p,
        "the file to write; its extension names the format: .h5 or .hdf5 (datasets /labels "
        "and /proba, provenance in the attributes of the file), .npy (the labels; with "
        "--proba one structured array of fields label and proba, so that one file holds "
        "both), .csv (a header line, then label,proba_0,...), .parquet (needs pyarrow; "
        "provenance in its metadata), or - for CSV on stdout",
        required=True,
    )


def _add_impute(sub) -> None:
    p = _command(
        sub,
        "impute",
        "commands:cmd_impute",
        summary="write an HDF5 dataset with its missing values (NaN) filled in under a model",
        description="Replace each NaN of a 2-D HDF5 dataset by its conditional expectation "
        "under the model given the row's observed values (the mixture's mean for a row with "
        "none); observed values are copied unchanged. The completed dataset is computed and "
        "written block by block, under the input's dataset name.",
    )
    p.add_argument("model", help="a model file written by 'streamgmm fit'")
    _data_arguments(p)
    _cluster_arguments(p)
    _output_arguments(p, "the HDF5 file to write", required=True)


def _add_info(sub) -> None:
    p = _command(
        sub,
        "info",
        "commands:cmd_info",
        summary="describe a model file, or the datasets of a data file",
        description="Check a model file and print its parameters, fit history and settings; "
        "for another HDF5 file, list its datasets with the share of chunks written.",
    )
    p.add_argument(
        "model",
        metavar="FILE",
        help="a model file written by 'streamgmm fit' or GaussianMixture.save, or a data file",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="print every feature of each mean, wrapped (default: the first 6, and a line "
        "that says how many were left out)",
    )


def _add_select(sub) -> None:
    p = _command(
        sub,
        "select",
        "commands:cmd_select",
        summary="fit several numbers of components and compare BIC/AIC",
        description="Fit one mixture per number of components and print BIC, AIC and the "
        "log-likelihood of each (each fit is followed by one pass to score the data).",
    )
    _data_arguments(p)
    p.add_argument(
        "-k",
        "--n-components",
        required=True,
        metavar="RANGE",
        help="numbers of components: 1..10, 2,4,8 or a mix",
    )
    p.add_argument(
        "--criterion",
        choices=("bic", "aic"),
        default="bic",
        help="the criterion that picks the best model (default: bic)",
    )
    _fit_arguments(p)
    _output_arguments(p, "save the best model to this file (default: not saved)", required=False)
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the BIC and AIC curves, each on its own axes (needs matplotlib; "
        "default: no figure)",
    )


def _add_demo(sub) -> None:
    p = _command(
        sub,
        "demo",
        "demo:cmd_demo",
        summary="generate a mixture on disk, fit it out of core, and draw it",
        description="Generate a synthetic 2-D mixture as an HDF5 file, fit it out of core on "
        "this machine with a progress display, print a summary and save PNG figures "
        "(with matplotlib) and the model in the folder --out. The data file is removed at "
        "the end unless --keep-data.",
    )
    p.add_argument(
        "--size",
        default=DEMO_SIZE,
        help=f"size of the generated data, e.g. 64MB, 1GB (default: {DEMO_SIZE})",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the data, model and figures, created if missing; an existing one "
        f"must be empty unless --force (default: a new folder ./{DEMO_FOLDER}, or "
        f"./{DEMO_FOLDER}-2, ... if that exists)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="use --out even if it holds files, replacing the demo's own files there",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--keep-data", action="store_true", help="keep the generated HDF5 file")


# -- shared pieces ---------------------------------------------------------------------


def _command(sub, name, run, summary, description):
    """A command whose function ``run`` ("module:function" in this package) is imported only
    when the command runs, so that ``--help`` loads none of the heavy libraries."""
    p = sub.add_parser(name, parents=[_common()], help=summary, description=description)
    p.set_defaults(run=run)
    return p


def _common() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return common


def _data_arguments(p) -> None:
    p.add_argument("data", help="the HDF5 file (opened read-only)")
    p.add_argument(
        "--dataset", required=True, help="the 2-D dataset in it (n_samples, n_features), e.g. /x"
    )
    p.add_argument(
        "--chunk-rows",
        type=_positive_int,
        metavar="N",
        help="rows per block (default: about 32 MB of whole HDF5 chunks)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a dataset whose chunks are not all written (a file still being written "
        "or cut short) instead of warning",
    )


def _fit_arguments(p) -> None:
    p.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        help="the shape of each component's covariance: full (any ellipsoid), tied (one "
        "shared by all), diag (axis-aligned), spherical (a ball) (default: full)",
    )
    p.add_argument(
        "--max-iter",
        type=int,
        default=100,
        metavar="N",
        help="the most EM iterations of each run (default: 100)",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="convergence threshold on the change of the mean log-likelihood (default: 1e-3)",
    )
    p.add_argument(
        "--reg-covar",
        type=float,
        default=1e-6,
        metavar="VALUE",
        help="added to the diagonal of each covariance, to keep it positive (default: 1e-6)",
    )
    p.add_argument(
        "--init",
        choices=INIT_METHODS,
        default="kmeans",
        help="how the starting parameters are chosen (default: kmeans)",
    )
    p.add_argument(
        "--missing",
        choices=MISSING_MODES,
        default="error",
        help="em: a NaN marks a missing value and EM maximises the likelihood of the observed "
        "values; error: a NaN is refused (default: error)",
    )
    p.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="runs from different starts, in the same passes; the best is kept (default: 1)",
    )
    p.add_argument(
        "--random-state",
        type=int,
        default=None,
        metavar="SEED",
        help="seed of the initialisation, for a repeatable fit (default: none, a new start "
        "each time)",
    )
    p.add_argument(
        "--memory-limit", metavar="SIZE", help="memory budget, e.g. 4GB (default: half the memory)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress")
    _cluster_arguments(p)


def _bayesian_arguments(p) -> None:
    group = p.add_argument_group(
        "variational Bayesian mixture (scikit-learn's BayesianGaussianMixture)",
        "With --bayesian, -k is the most components the model may use: the prior on the "
        "weights switches off those the data do not need. Unset priors take scikit-learn's "
        "defaults (the mean and covariance of the data, 1/K, 1, the number of features).",
    )
    group.add_argument(
        "--bayesian", action="store_true", help="fit a BayesianGaussianMixture (variational)"
    )
    group.add_argument(
        "--weight-concentration-prior-type",
        choices=PRIOR_TYPES,
        default=None,
        help="(default: dirichlet_process)",
    )
    for name, what in (
        ("weight-concentration-prior", "concentration of the weights' prior (default: 1/K)"),
        ("mean-precision-prior", "precision of the means' prior (default: 1)"),
        ("degrees-of-freedom-prior", "degrees of freedom of the Wishart prior (default: d)"),
    ):
        group.add_argument(f"--{name}", type=float, metavar="X", help=what)
    group.add_argument(
        "--mean-prior",
        type=_numbers,
        metavar="X1,...,Xd",
        help="the means' prior, one number per feature (default: the mean of the data)",
    )
    group.add_argument(
        "--covariance-prior",
        type=_numbers,
        metavar="VALUES",
        help="the covariances' prior: one number for spherical; d numbers for diag (or the "
        "diagonal of a diagonal matrix for full and tied); d*d numbers, row by row, for full "
        "and tied (default: the covariance of the data)",
    )


def _cluster_arguments(p) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use a running Dask scheduler, e.g. tcp://host:8786 (default: threads in this "
        "process)",
    )
    group.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="start N local worker processes (listening on 127.0.0.1 only), closed at the end "
        "(default: threads in this process)",
    )


def _output_arguments(p, what: str, required: bool) -> None:
    p.add_argument("--out", required=required, metavar="PATH", help=what)
    p.add_argument("--force", action="store_true", help="replace an existing output file")
