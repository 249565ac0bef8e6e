"""scikit-learn's ``verbose`` messages, printed on stdout as scikit-learn prints them."""

from __future__ import annotations

import time


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
