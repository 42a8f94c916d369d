"""Time series of the QLSTM literature and the forecasting protocol of Chen et al. 2020.

Generators (each returns a 1-D float64 NumPy array; ``n_points`` resamples the same domain):

========================  ===================================================================
``damped_shm``            damped pendulum ``θ'' = -0.15 θ' - 9.81 sin θ``, ``θ(0)=0``,
                          ``θ'(0)=3``, 240 points on ``t ∈ [0, 20]``; the series is ``θ'``
``bessel_j2``             ``J_2(x)`` on 256 points of ``x ∈ [2, 100]``
``delayed_control``       ``Σ_{n=0..10} exp(-10 (x-2n)²) exp(-x/16)``, ``x`` from -2 to 20 in
                          steps of 0.01 (2201 points)
``population_inversion``  Jaynes-Cummings collapse and revival ``W(t) = Σ_n P_n cos(2 g t √(n+1))``,
                          Poisson ``P_n`` with mean photon number 40, ``g = 1``, 2500 points on
                          ``t ∈ [0, 200]``
``narma5``, ``narma10``   ``y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i<n} y(t-i) + 1.5 u(t-n+1) u(t) + 0.1``
                          with ``u`` uniform in ``[0, 0.5]`` (seeded), 300 points
``narma5_smooth``         NARMA-5 driven by the smooth input of S. Y.-C. Chen's NARMA generator,
                          ``u(t) = 0.1 (sin(2π·2.11 t/T) sin(2π·3.73 t/T) sin(2π·4.11 t/T) + 1)``,
                          ``T = 300`` points
``sine``                  ``sin t`` on 240 points of ``t ∈ [0, 8π]`` (four periods)
========================  ===================================================================

Protocol (:func:`make_windows`, from :mod:`.windows`): a sliding window of ``window`` (4) values
predicts the next value (or the next ``horizon`` values, from one or several feature columns);
each column is MinMax-scaled to ``[-1, 1]``; the first 67 % of the windows (chronologically)
train, the rest test. As in the authors' code, the scaler is fitted on the whole series before
the split (``fit_on="series"``); ``fit_on="train"`` fits it on the values the training windows
see instead, so that nothing of the test part leaks into the scaling.

A series from a CSV column: :func:`load_csv_column`, several columns: :func:`load_csv_columns`
(from :mod:`.series_csv`: a size limit, strict numbers and a policy for missing values).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..checks import check_choice, check_int
from .series_csv import MAX_INPUT_BYTES, MISSING, load_csv_column, load_csv_columns
from .windows import (
    FIT_ON,
    TRAIN_FRACTION,
    WINDOW,
    MinMaxScaler,
    WindowedData,
    make_windows,
    sliding_windows,
)

__all__ = [
    "DATASETS",
    "FIT_ON",
    "MAX_INPUT_BYTES",
    "MISSING",
    "NARMA_DRIVES",
    "TRAIN_FRACTION",
    "WINDOW",
    "MinMaxScaler",
    "WindowedData",
    "bessel_j2",
    "damped_shm",
    "delayed_control",
    "generate",
    "load_csv_column",
    "load_csv_columns",
    "make_windows",
    "narma",
    "narma5",
    "narma5_smooth",
    "narma10",
    "narma_drive",
    "population_inversion",
    "sine",
    "sliding_windows",
]


def damped_shm(n_points: int = 240) -> np.ndarray:
    """Angular velocity of a damped pendulum (b = 0.15, g = 9.81, θ(0) = 0, θ'(0) = 3) on
    ``t ∈ [0, 20]``."""
    from scipy.integrate import solve_ivp

    def pendulum(_t, y):
        theta, omega = y
        return [omega, -0.15 * omega - 9.81 * np.sin(theta)]

    t = np.linspace(0.0, 20.0, n_points)
    solution = solve_ivp(pendulum, (0.0, 20.0), [0.0, 3.0], t_eval=t, rtol=1e-8, atol=1e-8)
    return solution.y[1]


def bessel_j2(n_points: int = 256) -> np.ndarray:
    """The Bessel function of the first kind of order 2 on ``x ∈ [2, 100]``."""
    from scipy.special import jv

    return jv(2, np.linspace(2.0, 100.0, n_points))


def delayed_control(n_points: int = 2201) -> np.ndarray:
    """Delayed quantum control: ``Σ_{n=0..10} exp(-10 (x - 2n)²) exp(-x/16)`` on
    ``x ∈ [-2, 20]``."""
    x = np.linspace(-2.0, 20.0, n_points)
    pulses = sum(np.exp(-10.0 * (x - 2.0 * n) ** 2) for n in range(11))
    return pulses * np.exp(-x / 16.0)


def population_inversion(
    n_points: int = 2500, mean_photons: float = 40.0, coupling: float = 1.0, t_max: float = 200.0
) -> np.ndarray:
    """Jaynes-Cummings atomic inversion of a coherent field: collapse and revival."""
    from scipy.special import gammaln

    n_max = int(mean_photons + 12.0 * math.sqrt(mean_photons) + 20)  # Poisson tail < 1e-16
    n = np.arange(n_max + 1)
    weights = np.exp(n * math.log(mean_photons) - mean_photons - gammaln(n + 1))
    t = np.linspace(0.0, t_max, n_points)
    return np.cos(2.0 * coupling * np.outer(t, np.sqrt(n + 1.0))) @ weights


NARMA_DRIVES = ("uniform", "smooth")


def narma_drive(drive: str, n_points: int, seed: int = 0) -> np.ndarray:
    """The input ``u`` of a NARMA series, ``(n_points,)``: ``"uniform"`` noise in ``[0, 0.5]``
    (seeded), or the deterministic ``"smooth"`` input of S. Y.-C. Chen's NARMA generator,
    ``u(t) = 0.1 (sin(2π·2.11 t/T) sin(2π·3.73 t/T) sin(2π·4.11 t/T) + 1)`` with ``T = n_points``
    (``seed`` unused)."""
    check_choice("narma_drive", "drive", drive, NARMA_DRIVES)
    if drive == "uniform":
        return np.random.default_rng(seed).uniform(0.0, 0.5, n_points)
    phase = 2.0 * np.pi * np.arange(n_points) / n_points
    return 0.1 * (np.sin(2.11 * phase) * np.sin(3.73 * phase) * np.sin(4.11 * phase) + 1.0)


def narma(order: int, n_points: int = 300, seed: int = 0, drive: str = "uniform") -> np.ndarray:
    """The NARMA-``order`` benchmark driven by :func:`narma_drive` ``(drive, n_points, seed)``;
    ``y`` starts at 0."""
    u = narma_drive(drive, n_points, seed)
    y = np.zeros(n_points)
    for t in range(order - 1, n_points - 1):
        y[t + 1] = (
            0.3 * y[t]
            + 0.05 * y[t] * y[t - order + 1 : t + 1].sum()
            + 1.5 * u[t - order + 1] * u[t]
            + 0.1
        )
    return y


def narma5(n_points: int = 300, seed: int = 0) -> np.ndarray:
    """NARMA-5 (see :func:`narma`)."""
    return narma(5, n_points, seed)


def narma5_smooth(n_points: int = 300) -> np.ndarray:
    """NARMA-5 with the smooth drive (see :func:`narma_drive`)."""
    return narma(5, n_points, drive="smooth")


def narma10(n_points: int = 300, seed: int = 0) -> np.ndarray:
    """NARMA-10 (see :func:`narma`)."""
    return narma(10, n_points, seed)


def sine(n_points: int = 240) -> np.ndarray:
    """Four periods of a sine wave."""
    return np.sin(np.linspace(0.0, 8.0 * np.pi, n_points))


#: name -> (generator, one-line description).
DATASETS: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "damped_shm": (damped_shm, "damped pendulum angular velocity, 240 points"),
    "bessel_j2": (bessel_j2, "Bessel J2 on [2, 100], 256 points"),
    "delayed_control": (delayed_control, "delayed quantum control pulses, 2201 points"),
    "population_inversion": (
        population_inversion,
        "Jaynes-Cummings collapse and revival, 2500 points",
    ),
    "narma5": (narma5, "NARMA-5 driven by uniform noise, 300 points"),
    "narma5_smooth": (
        narma5_smooth,
        "NARMA-5 driven by the smooth input of Chen's generator, 300 points",
    ),
    "narma10": (narma10, "NARMA-10 driven by uniform noise, 300 points"),
    "sine": (sine, "four periods of a sine wave, 240 points"),
}


def generate(name: str, n_points: int | None = None) -> np.ndarray:
    """The built-in series ``name`` (its default length unless ``n_points`` is given)."""
    check_choice("generate", "name", name, DATASETS)
    generator, _description = DATASETS[name]
    if n_points is None:
        return generator()
    return generator(check_int("generate", "n_points", n_points, WINDOW + 2))
