"""Robust, zero-phase smoothing of noisy curves (the LR range test's loss against LR)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def lowess(x: FloatArray, y: FloatArray, k: int, iterations: int = 2) -> tuple[FloatArray, FloatArray]:
    """Robust local-linear LOWESS: fitted values and local slopes ``dy/dx`` at every ``x``.

    Tricube weights over the ``k`` nearest points, then ``iterations`` bisquare passes whose
    residual scale is ``6 * median(|residual|)`` (Cleveland 1979).

    Example:
        >>> x = np.linspace(0.0, 1.0, 30); y = 2 * x + 1; y[10] = 50.0
        >>> fit, slope = lowess(x, y, 7)
        >>> round(float(fit[10]), 6), round(float(slope[20]), 6)
        (1.689655, 2.0)
    """
    n = len(x)
    k = min(k, n)
    distance = np.abs(x[:, None] - x[None, :])
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
    near = np.take_along_axis(distance, nearest, axis=1)
    width = np.maximum(near[:, -1:], 1e-12)
    tricube = np.clip(1 - (near / width) ** 3, 0.0, None) ** 3
    robust = np.ones(n)
    fit, slope = _local_linear(x, y, nearest, tricube)
    for _ in range(iterations):
        residual = y - fit
        # The floor keeps an exact fit's rounding noise from posing as residuals.
        scale = max(6 * float(np.median(np.abs(residual))), 1e-7 * float(np.mean(np.abs(y))), 1e-300)
        robust = np.clip(1 - (residual / scale) ** 2, 0.0, None) ** 2
        fit, slope = _local_linear(x, y, nearest, tricube * robust[nearest])
    return fit, slope


def _local_linear(
    x: FloatArray, y: FloatArray, nearest: npt.NDArray[np.intp], weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    xs, ys = x[nearest] - x[:, None], y[nearest]
    total = weights.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    mean_x = (weights * xs).sum(axis=1) / safe
    mean_y = (weights * ys).sum(axis=1) / safe
    spread = (weights * (xs - mean_x[:, None]) ** 2).sum(axis=1)
    cross = (weights * (xs - mean_x[:, None]) * (ys - mean_y[:, None])).sum(axis=1)
    flat = spread <= 1e-12 * np.maximum(safe, 1.0)
    slope = np.where(flat, 0.0, cross / np.where(flat, 1.0, spread))
    fit = mean_y - slope * mean_x
    # With every weight zero (a point surrounded by outliers), fall back to the plain local mean.
    fallback = total <= 0
    fit = np.where(fallback, ys.mean(axis=1), fit)
    slope = np.where(fallback, 0.0, slope)
    return fit.astype(np.float64), slope.astype(np.float64)


def running_median(y: FloatArray, half_width: int) -> FloatArray:
    """Centred running median ``m_i = median(y[i - h .. i + h])``, the window cut at the ends.

    Example:
        >>> running_median(np.array([1.0, 9.0, 2.0, 3.0, 4.0]), 1).tolist()
        [5.0, 2.0, 3.0, 3.0, 3.5]
    """
    n = len(y)
    return np.array(
        [float(np.median(y[max(0, i - half_width) : i + half_width + 1])) for i in range(n)],
        dtype=np.float64,
    )
