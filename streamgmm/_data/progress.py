"""The one progress display, for the command line and the Python API alike.

A :class:`Progress` is made current with ``with progress:``; while it is, every pass over
the data reports to it (``passes.reduce_pass``): the blocks done, the bytes read, the
seconds taken, and the fit names the phase each pass belongs to (:func:`phase`:
"k-means|| round 2 of 3", "Lloyd pass 4", "EM iteration 12", and how many models are
still running during a model selection). Code that reports calls the module functions,
which do nothing when no display is current: a fit without progress pays nothing.

Two ways to show it, chosen from the stream:

- *live* (a terminal, or a Jupyter notebook): one line redrawn at most every
  ``REDRAW`` seconds, naming the phase, with a bar of the pass's blocks, GB/s and the
  time left in the pass, and a line of its own for each finished EM iteration;
- *plain* (a batch job's log, a pipe): one line per pass, at most every ``interval``
  seconds (always for a new phase), so that a log shows life without flooding.

Blocks are counted as Dask's local scheduler finishes them (a Dask callback); on a
distributed cluster the display has one line per pass.
"""

from __future__ import annotations

import contextvars
import math
import sys
import threading
import time
from contextlib import contextmanager

BAR_WIDTH = 20
#: seconds between redraws of a live line
REDRAW = 0.2
#: seconds between plain lines (a new phase always gets one)
PLAIN_INTERVAL = 5.0

_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "streamgmm_progress", default=None
)


def current() -> Progress | None:
    """The display passes report to now, or None."""
    return _current.get()


def phase(text: str) -> None:
    """Name what the next passes do (no-op without a current display)."""
    p = _current.get()
    if p is not None:
        p.set_phase(text)


def note(text: str, final: bool = False) -> None:
    """An outcome, e.g. an EM iteration's: a line of its own on a live display, and off a
    terminal one line at most every ``interval`` seconds (always when ``final``)."""
    p = _current.get()
    if p is not None:
        p.outcome(text, final)


def size(nbytes: float) -> str:
    """Bytes in GB (MB below 0.1 GB)."""
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


def rate(nbytes: float, seconds: float) -> str:
    """Bytes per second, in GB/s (MB/s below 0.1 GB/s)."""
    per = nbytes / seconds if seconds > 0 else math.inf
    return f"{per / 1e9:.2f} GB/s" if per >= 1e8 else f"{per / 1e6:.1f} MB/s"


def _live_by_default(stream) -> bool:
    if "ipykernel" in sys.modules and stream in (sys.stdout, sys.stderr):
        return True  # Jupyter renders a carriage return as a redraw
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """A progress display on a text stream; use as ``with Progress(): gm.fit(X)``.

    Parameters
    ----------
    stream : text stream, default sys.stderr
    live : bool, optional
        Redraw one line in place; by default on a terminal or in a notebook.
    interval : float
        Seconds between plain lines (off a terminal).
    label : str
        Printed before every line.
    """

    def __init__(self, stream=None, live=None, interval=PLAIN_INTERVAL, label=""):
        self.stream = sys.stderr if stream is None else stream
        self.live = _live_by_default(self.stream) if live is None else bool(live)
        self.interval = interval
        self.label = f"{label} " if label else ""
        self.phase_text = "starting"
        self.passes = 0
        self._lock = threading.Lock()
        self._token = None
        self._last_line = -math.inf
        self._phase_shown = None
        self._drawn = 0.0
        self._pass = None  # (start, n_blocks, nbytes, done)

    # -- context --------------------------------------------------------------------------

    def __enter__(self) -> Progress:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc) -> None:
        self._clear()
        _current.reset(self._token)

    # -- what the fit reports -------------------------------------------------------------

    def set_phase(self, text: str) -> None:
        self.phase_text = text

    @contextmanager
    def reading(self, n_blocks: int, nbytes: int):
        """One pass over ``n_blocks`` blocks of ``nbytes`` in all."""
        with self._lock:
            self._pass = [time.perf_counter(), n_blocks, nbytes, 0]
        self.passes += 1
        try:
            yield self
        finally:
            start, n, nbytes, _ = self._pass
            self._pass = None
            self._pass_ended(time.perf_counter() - start, n, nbytes)

    def block_done(self) -> None:
        """One block of the current pass finished (thread-safe)."""
        with self._lock:
            if self._pass is None:
                return
            self._pass[3] += 1
        now = time.perf_counter()
        if self.live and now - self._drawn >= REDRAW:
            self._drawn = now
            self._draw()

    def outcome(self, text: str, final: bool = False) -> None:
        new_phase = self._phase_shown != self._phase_key()
        if (
            self.live
            or final
            or new_phase
            or time.perf_counter() - self._last_line >= self.interval
        ):
            self._phase_shown = self._phase_key()
            self.line(text)

    def _phase_key(self) -> str:
        """What a phase is, without its counts: "initialisation", "EM"."""
        return self.phase_text.split()[0] if self.phase_text else ""

    def line(self, text: str) -> None:
        """A line of its own (live: above the redrawn one)."""
        self._clear()
        self._write(f"{self.label}{text}\n")
        self._last_line = time.perf_counter()

    # -- output ---------------------------------------------------------------------------

    def _pass_ended(self, seconds: float, n_blocks: int, nbytes: int) -> None:
        now = time.perf_counter()
        if self.live:
            self._clear()
            return
        if self.phase_text.startswith("EM"):
            return  # an EM pass is told by its iteration's outcome (note)
        new_phase = self._phase_shown != self.phase_text.split(":")[0]
        if new_phase or now - self._last_line >= self.interval:
            self._phase_shown = self.phase_text.split(":")[0]
            blocks = f"{n_blocks:,} block" + "s" * (n_blocks != 1)
            self.line(
                f"{self.phase_text}: {blocks}, {size(nbytes)} in {seconds:.1f} s "
                f"({rate(nbytes, seconds)})"
            )

    def _draw(self) -> None:
        with self._lock:
            if self._pass is None:
                return
            start, n, nbytes, done = self._pass
        elapsed = time.perf_counter() - start
        frac = done / n if n else 1.0
        filled = int(round(frac * BAR_WIDTH))
        left = elapsed * (1 - frac) / frac if frac > 0 else math.inf
        left_text = f"{left:4.0f} s left" if math.isfinite(left) else "     "
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self._write(
            f"\r\x1b[K{self.label}{self.phase_text} [{bar}] {done}/{n} blocks, "
            f"{rate(frac * nbytes, elapsed)}, {left_text}"
        )

    def _clear(self) -> None:
        if self.live:
            self._write("\r\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: progress is optional
            pass


#: the displays of the passes running now, by pass name: a group task that runs in this
#: process (local threads, or a LocalCluster of threads) reports each block it reduces;
#: in a worker process the map is empty and reporting is a dict lookup
_passes: dict[str, Progress] = {}


@contextmanager
def counting(name: str, display: Progress | None):
    """Blocks that tasks of the pass ``name`` report go to ``display`` meanwhile."""
    if display is None:
        yield
        return
    _passes[name] = display
    try:
        yield
    finally:
        _passes.pop(name, None)


def block_done(name: str) -> None:
    """One block of the pass ``name`` reduced (a no-op where nobody displays it)."""
    display = _passes.get(name)
    if display is not None:
        display.block_done()
