"""Closed-form window statistics used by the rules (pure Python, no numpy)."""

from __future__ import annotations

import math
from operator import mul


def residual_stats(
    n: int, sy: float, sty: float, syy: float, syp: float, first: float, last: float
) -> tuple[float, float]:
    """Std of the residuals of a least-squares line through y_0..y_{n-1}, and their lag-1
    autocorrelation, from running sums.

    Args:
        n: number of points (t = 0..n-1).
        sy, sty, syy: sums of y, t*y and y*y.
        syp: sum of y_t * y_{t-1} for t = 1..n-1.
        first, last: y_0 and y_{n-1}.

    Example:
        >>> ys = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0]
        >>> sums = (sum(ys), sum(t * y for t, y in enumerate(ys)), sum(y * y for y in ys),
        ...         sum(a * b for a, b in zip(ys[1:], ys)), ys[0], ys[-1])
        >>> sigma, rho = residual_stats(len(ys), *sums)
        >>> round(sigma, 4), round(rho, 4)
        (0.8783, -0.8333)
    """
    st = n * (n - 1) / 2.0
    stt = (n - 1) * n * (2 * n - 1) / 6.0
    sxx = stt - st * st / n
    sxy = sty - st * sy / n
    b = sxy / sxx
    a = (sy - b * st) / n
    ssr = max(syy - sy * sy / n - b * sxy, 0.0)
    sigma = math.sqrt(ssr / (n - 2))
    if ssr <= 0.0:
        return sigma, 0.0
    cross_a = a * (sy - first) + b * (sty - (sy - first))  # sum_{t>=1} y_t f_{t-1}
    tail = sty - (n - 1) * last + sy - last  # sum_{u<=n-2} (u+1) y_u
    cross_b = a * (sy - last) + b * tail  # sum_{t>=1} y_{t-1} f_t
    sum_t = (n - 1) * n / 2.0
    sum_tt = (n - 1) * n * (2 * n - 1) / 6.0
    ff = (n - 1) * a * a + a * b * (n - 1) ** 2 + b * b * (sum_tt - sum_t)
    return sigma, (syp - cross_a - cross_b + ff) / ssr


def window_sums(ys: list[float]) -> tuple[float, float, float, float, float, float]:
    """The running sums `residual_stats` takes, computed at C speed over a full window.

    Example:
        >>> window_sums([1.0, 2.0, 4.0])
        (7.0, 10.0, 21.0, 10.0, 1.0, 4.0)
    """
    return (
        math.fsum(ys),
        math.fsum(map(mul, range(len(ys)), ys)),
        math.fsum(map(mul, ys, ys)),
        math.fsum(map(mul, ys[1:], ys)),
        ys[0],
        ys[-1],
    )
