"""What every command shares: exit codes, output, the model summary.

Only the ``streamgmm.cli`` modules print or choose the exit status (see ``app.py``).
"""

from __future__ import annotations

import sys
import threading

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: what the shell reports for a process ended by SIGPIPE (128 + 13); ``main([...])`` called
#: in a process that goes on returns it instead of ending the process by the signal
EXIT_PIPE = 141


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


class StdoutClosed(Exception):
    """The reader of stdout has gone (``streamgmm info m.h5 | head -1``): end quietly."""


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


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 iteration"``, ``"3 iterations"``, ``"1,000 rows"``."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def _is_bayesian(gm) -> bool:
    return hasattr(gm, "weight_concentration_prior_type")


def describe_model(gm) -> str:
    import numpy as np

    k, d = gm.means_.shape
    text = (
        f"{plural(k, 'component')}, {plural(d, 'feature')}, {gm.covariance_type} covariances, "
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
        f"{state} after {plural(gm.n_iter_, 'iteration')} (tol {gm.tol:g}); "
        f"lower bound {gm.lower_bound_:.6f} ({meaning})"
    )
    if iterations:
        per = sorted(i.seconds for i in iterations)[len(iterations) // 2]
        line += f"; {per:.2f} s per iteration"
    return line


#: mean values per line of the components table; a wider mean wraps under its "["
VALUES_PER_LINE = 6


def components_table(gm, max_features: int | None = 6, hint: str = "--all for every one") -> str:
    """Each component's weight and mean, heaviest first: the first ``max_features`` features
    (all of them when None, wrapped), and a last line that says what was left out."""
    import numpy as np

    k, d = gm.means_.shape
    shown = d if max_features is None else min(d, max_features)
    lines = [f"  {'component':>9} {'weight':>7}   mean"]
    indent = "\n" + " " * (2 + 9 + 1 + 7 + 3 + 1)  # under the first value, after "["
    for j in np.argsort(-np.asarray(gm.weights_), kind="stable"):
        parts = [f"{v:9.4g}" for v in gm.means_[j][:shown]]
        rows = [" ".join(parts[i : i + VALUES_PER_LINE]) for i in range(0, shown, VALUES_PER_LINE)]
        lines.append(f"  {j:>9} {gm.weights_[j]:>7.4f}   [{indent.join(rows)}]")
    if shown < d:
        lines.append(f"  (showing {shown} of {d} features of each mean; {hint})")
    return "\n".join(lines)


def vector(values, fmt="9.4g") -> str:
    return "[" + " ".join(f"{v:{fmt}}" for v in values) + "]"


def out(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise StdoutClosed from None


class Stdout:
    """``sys.stdout`` for the writers below the command line (CSV to ``-``): a write to a
    reader that has gone raises :class:`StdoutClosed`.

    Bytes go to ``sys.stdout.buffer`` in a loop until all are written: with an unbuffered
    stdout (``python -u``, ``PYTHONUNBUFFERED``) that buffer is the raw file, whose write
    can take part of a large block when the reader goes away, and a text stream would drop
    the rest without an error.
    """

    def write(self, text: str) -> None:
        try:
            sys.stdout.flush()  # what print() left
            buffer = getattr(sys.stdout, "buffer", None)
            if buffer is None:
                sys.stdout.write(text)
                return
            view = memoryview(text.encode(sys.stdout.encoding or "utf-8"))
            while view:
                view = view[buffer.write(view) or 0 :]
        except BrokenPipeError:
            raise StdoutClosed from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
            getattr(sys.stdout, "buffer", sys.stdout).flush()
        except BrokenPipeError:
            raise StdoutClosed from None


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


interrupt_requested = threading.Event()


def on_sigint(signum, frame):
    interrupt_requested.set()  # kept: Python swallows a KeyboardInterrupt raised in a finaliser
    raise KeyboardInterrupt


class InterruptibleStream:
    """stderr for the progress display. Once Ctrl-C was asked for, nothing more is shown,
    and the main thread's next line raises KeyboardInterrupt again: Python may have
    swallowed the first one (in a finaliser, a ctypes callback, a library's import), and
    the initialisation's passes would otherwise print their lines until the fit's first
    callback (``after_sigint``)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if interrupt_requested.is_set():
            if threading.current_thread() is threading.main_thread():
                raise KeyboardInterrupt
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def after_sigint(callback):
    """The fit's callback, which re-raises a Ctrl-C that Python swallowed (at most a pass late)."""

    def checked(info):
        if interrupt_requested.is_set():
            raise KeyboardInterrupt
        return callback(info) if callback is not None else None

    return checked
