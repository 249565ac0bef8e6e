"""What every command shares: exit codes, output, the model summary.

Only the ``streamgmm.cli`` modules print or choose the exit status (see ``main.py``).
"""

from __future__ import annotations

import sys
import threading

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


def parse_components(text: str) -> list[int]:
    """``"1..10"``, ``"2,4,8"``, ``"3"`` or a mix (``"1..4,8"``) to a sorted list of K."""
    ks = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("..")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise UsageError(
                f"-k {text!r}: expected numbers of components like 1..10, 2,4,8 or 3"
            ) from None
        if a < 1 or b < a:
            raise UsageError(f"-k {text!r}: ranges go up from 1, like 1..10")
        ks.update(range(a, b + 1))
    return sorted(ks)


def _is_bayesian(gm) -> bool:
    return hasattr(gm, "weight_concentration_prior_type")


def describe_model(gm) -> str:
    import numpy as np

    k, d = gm.means_.shape
    text = (
        f"{k} components, {d} features, {gm.covariance_type} covariances, "
        f"{np.asarray(gm.means_).dtype}"
    )
    if _is_bayesian(gm):  # how many the prior left on
        used = int(np.sum(np.asarray(gm.weights_) >= 0.01))
        text += f"; Bayesian ({gm.weight_concentration_prior_type}), {used} with weight >= 0.01"
    return text


def fit_line(gm, iterations=None) -> str:
    state = "converged" if gm.converged_ else "did not converge"
    meaning = "variational, a total" if _is_bayesian(gm) else "mean log-likelihood per sample"
    line = (
        f"{state} after {gm.n_iter_} iterations (tol {gm.tol:g}); "
        f"lower bound {gm.lower_bound_:.6f} ({meaning})"
    )
    if iterations:
        per = sorted(i.seconds for i in iterations)[len(iterations) // 2]
        line += f"; {per:.2f} s per iteration"
    return line


def components_table(gm, max_features=6) -> str:
    k, d = gm.means_.shape
    shown = min(d, max_features)
    more = f" ... ({d} features)" if d > shown else ""
    lines = [f"  {'component':>9} {'weight':>7}   mean"]
    import numpy as np

    for j in np.argsort(-np.asarray(gm.weights_), kind="stable"):
        lines.append(f"  {j:>9} {gm.weights_[j]:>7.4f}   {vector(gm.means_[j][:shown])}{more}")
    return "\n".join(lines)


def vector(values, fmt="9.4g") -> str:
    return "[" + " ".join(f"{v:{fmt}}" for v in values) + "]"


def out(text: str) -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


interrupt_requested = threading.Event()


def on_sigint(signum, frame):
    interrupt_requested.set()  # kept: Python swallows a KeyboardInterrupt raised in a finaliser
    raise KeyboardInterrupt


def after_sigint(callback):
    """The fit's callback, which re-raises a Ctrl-C that Python swallowed (at most a pass late)."""

    def checked(info):
        if interrupt_requested.is_set():
            raise KeyboardInterrupt
        return callback(info) if callback is not None else None

    return checked
