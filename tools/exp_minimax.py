"""Coefficients of the exp polynomial in ``streamgmm/_kernels/tile.py`` (needs mpmath).

    python tools/exp_minimax.py [degree]

A Remez exchange for the polynomial p of the given degree (11 by default) with the
smallest maximum relative error |p(r) / e^r - 1| on |r| <= 1.0001 * ln(2) / 2, the range
of the reduced argument (with a margin for the rounding of the reduction), in 60-digit
arithmetic. Prints the coefficients as Python floats and the error of the exact
polynomial: rounding the coefficients to float64 adds far less than Horner's own
rounding, which test_kernels.py::test_exp_nonpositive_against_libm bounds.
"""

from __future__ import annotations

import sys

import mpmath as mp

mp.mp.dps = 60
HALF_WIDTH = mp.log(2) / 2 * mp.mpf("1.0001")
GRID = 4000


def _rel_error(c, x):
    return mp.polyval(c[::-1], x) / mp.exp(x) - 1


def _solve(nodes, degree):
    """p(x_i) - e^{x_i} = (-1)^i E e^{x_i} at the degree + 2 nodes: (coefficients, E)."""
    m = degree + 2
    a, y = mp.matrix(m, m), mp.matrix(m, 1)
    for i, x in enumerate(nodes):
        for j in range(degree + 1):
            a[i, j] = x**j
        a[i, degree + 1] = (-1) ** i * mp.exp(x)
        y[i] = mp.exp(x)
    sol = mp.lu_solve(a, y)
    return [sol[j] for j in range(degree + 1)], sol[degree + 1]


def _extrema(c):
    """Endpoints and local extrema of the relative error on a fine grid."""
    xs = [-HALF_WIDTH + 2 * HALF_WIDTH * i / GRID for i in range(GRID + 1)]
    e = [_rel_error(c, x) for x in xs]
    inner = [xs[i] for i in range(1, GRID) if (e[i] - e[i - 1]) * (e[i + 1] - e[i]) <= 0]
    return [xs[0], *inner, xs[-1]], max(abs(v) for v in e)


def minimax(degree: int, rounds: int = 10):
    """(coefficients c_0..c_degree, max relative error on the grid)."""
    nodes = [-HALF_WIDTH * mp.cos(mp.pi * i / (degree + 1)) for i in range(degree + 2)]
    for _ in range(rounds):
        c, _ = _solve(nodes, degree)
        ext, worst = _extrema(c)
        if len(ext) != degree + 2:
            break
        nodes = ext
    return c, worst


def main(argv=None) -> None:
    degree = int((argv or sys.argv[1:] or ["11"])[0])
    c, worst = minimax(degree)
    print(f"degree {degree}: max relative error {mp.nstr(worst, 3)}")
    print("_C = (")
    for v in c:
        print(f"    {float(v)!r},")
    print(")")


if __name__ == "__main__":
    main()
