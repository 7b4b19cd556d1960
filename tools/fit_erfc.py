#!/usr/bin/env python3
"""Fits the erfc polynomial of codegen/math.c (erfc_pos).

For a in [0.5, 10.1] (erfc underflows to 0 past 10.06):
    erfc(a) = exp(-a^2) * t * P(t),   t = 1 / (1 + 0.4 a),
P of degree 10, fitted for least relative error by Lawson's iteration
(weighted least squares that converges to the minimax fit) on Chebyshev
nodes, with math.erfc (double precision) as the reference.  Prints the
coefficients, highest power first, and the fit's relative
error.  codegen/math.c evaluates t P(t) in double: t's rounding in float
would be amplified about 2.4 times near a = 0.7.  Run with any numpy:
    python3 tools/fit_erfc.py
"""
import math

import numpy as np

P_SCALE, LO, HI, DEG, NODES = 0.4, 0.5, 10.1, 10, 4000


def main():
    k = np.arange(NODES)
    a = (LO + HI) / 2 + (HI - LO) / 2 * np.cos(np.pi * (k + 0.5) / NODES)
    t = 1 / (1 + P_SCALE * a)
    g = np.array([math.erfc(v) * math.exp(v * v) for v in a]) / t
    V = np.vander(t, DEG + 1)
    w = np.ones_like(t)
    for _ in range(60):
        W = w / np.abs(g)
        c, *_ = np.linalg.lstsq(V * W[:, None], g * W, rcond=None)
        err = np.abs(V @ c - g) / np.abs(g)
        w = w * err
        w /= w.sum()
    print("relative error: %.3g" % err.max())
    print(", ".join("%.17g" % v for v in c))


if __name__ == "__main__":
    main()
