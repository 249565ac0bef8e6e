"""How a fit reports on itself: scikit-learn's ``verbose`` messages (:class:`Reporter`) and
a progress display on a text stream (:class:`FitProgress`): one line per EM iteration,
and a live bar per pass.

:class:`FitProgress` is a ``fit`` callback (it receives :class:`~streamgmm.IterationInfo`)
and, as a context manager on the local scheduler, a Dask callback that redraws a bar
while the blocks of each pass complete, initialisation passes included. It writes to the
stream it is given (the command line gives stderr, so stdout stays for results); the bar
is drawn only on a terminal, the iteration lines always.
"""

from __future__ import annotations

import math
import time

from dask.callbacks import Callback

BAR_WIDTH = 24
#: seconds between redraws of the bar
REDRAW = 0.2


class FitProgress(Callback):
    """Report a fit's progress to ``stream``; use as ``fit(X, callback=progress)`` inside ``with``.

    Parameters
    ----------
    stream : text stream, e.g. ``sys.stderr``
    nbytes : int, optional
        Bytes read per pass, for the GB/s figure.
    label : str
        Printed before every line (e.g. ``"K=3"`` during model selection).
    bar : bool, optional
        Draw the live bar; by default only when ``stream`` is a terminal.
    """

    def __init__(self, stream, nbytes=None, label="", bar=None):
        super().__init__()
        self.stream = stream
        self.nbytes = nbytes
        self.label = f"{label} " if label else ""
        self.bar = stream.isatty() if bar is None else bar
        self.iterations = []
        self.passes = 0
        self._state = None
        self._drawn = 0.0
        self._t_pass = time.perf_counter()

    # -- fit callback --------------------------------------------------------------------

    def __call__(self, info) -> bool:
        self.iterations.append(info)
        rate = ""
        if self.nbytes and info.seconds > 0:
            rate = f"  {self.nbytes / info.seconds / 1e9:5.2f} GB/s"
        change = f"{info.change:9.2e}" if math.isfinite(info.change) else f"{'-':>9}"
        self._line(
            f"{self.label}iteration {info.n_iter:3d}  lower bound {info.lower_bound: .6f}  "
            f"change {change}  {info.seconds:6.2f} s{rate}"
        )
        return False

    # -- Dask local-scheduler callbacks ----------------------------------------------------

    def _start_state(self, dsk, state):
        self.passes += 1
        self._state = state
        self._t_pass = time.perf_counter()

    def _posttask(self, key, result, dsk, state, worker_id):
        now = time.perf_counter()
        if self.bar and now - self._drawn >= REDRAW:
            self._drawn = now
            self._draw(state)

    def _finish(self, dsk, state, errored):
        self._state = None
        self._clear()

    def _draw(self, state) -> None:
        done = len(state["finished"])
        total = done + sum(len(state[k]) for k in ("ready", "waiting", "running"))
        frac = done / total if total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        what = f"iteration {len(self.iterations) + 1}" if self.iterations else "initialising"
        self.stream.write(
            f"\r{self.label}{what} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{100 * frac:3.0f}%  {time.perf_counter() - self._t_pass:5.1f} s"
        )
        self.stream.flush()

    def _clear(self) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _line(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (e.g. a phase starting), keeping the bar's line clean."""
        self._line(f"{self.label}{text}")


class Reporter:
    """scikit-learn's ``verbose`` messages (its contract: printed on stdout).

    Restarts advance together, but their messages come out in scikit-learn's
    order: the first unfinished run prints live, the others are held until the
    runs before them have ended (test_estimator.py::test_verbose_output_matches_sklearn).
    """

    def __init__(self, verbose: int, verbose_interval: int):
        self.verbose, self.interval = verbose, verbose_interval
        self.t0: dict[int, float] = {}
        self.t_iter: dict[int, float] = {}
        self.held: dict[int, list[str]] = {}
        self.ended: set[int] = set()
        self.head = None

    def _emit(self, run: int, line: str) -> None:
        if self.head is None:
            self.head = run
        if run == self.head:
            print(line)
        else:
            self.held.setdefault(run, []).append(line)

    def init_begin(self, run: int) -> None:
        if self.verbose >= 1:
            self.t0[run] = self.t_iter[run] = time.time()
            self._emit(run, f"Initialization {run}")

    def iteration(self, run: int, n_iter: int, change: float) -> None:
        if self.verbose >= 1 and n_iter % self.interval == 0:
            if self.verbose == 1:
                self._emit(run, f"  Iteration {n_iter}")
            else:
                now = time.time()
                self._emit(
                    run,
                    f"  Iteration {n_iter}\t time lapse {now - self.t_iter[run]:.5f}s\t "
                    f"ll change {change:.5f}",
                )
                self.t_iter[run] = now

    def init_end(self, run: int, lower_bound: float, converged: bool) -> None:
        if self.verbose < 1:
            return
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            self._emit(run, f"Initialization {status}.")
        else:
            self._emit(
                run,
                f"Initialization {status}. time lapse {time.time() - self.t0[run]:.5f}s\t "
                f"lower bound {lower_bound:.5f}.",
            )
        self.ended.add(run)
        self._advance()

    def _advance(self) -> None:
        while self.head in self.ended:
            self.ended.discard(self.head)
            pending = sorted(self.held)
            self.head = pending[0] if pending else None
            for line in self.held.pop(self.head, []) if self.head is not None else []:
                print(line)

    def close(self) -> None:
        """Print whatever is still held (runs that never ended: max_iter=0, a stop)."""
        for run in sorted(self.held):
            for line in self.held.pop(run):
                print(line)
