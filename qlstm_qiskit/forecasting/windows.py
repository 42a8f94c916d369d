"""The forecasting protocol of Chen et al. 2020, for one or several columns: MinMax scaling to
``[-1, 1]`` per column, sliding windows, a chronological split.

A window of ``window`` rows of the ``F`` feature columns, ``x (N, window, F)``, predicts the next
``H`` values of the target column (``horizon``), ``y (N, H)``: for the window of rows
``i .. i+window-1``, ``y[i, k] = target[i + window + k]``. A series of ``T`` rows gives
``N = T - window - H + 1`` windows; the first ``int(train_fraction · N)`` (67 % by default)
train, the rest test. With one column and ``H = 1`` this is the univariate next-value protocol.

Every column (each feature, and the target) has its own :class:`MinMaxScaler`. As in the authors'
code, they are fitted on the whole series before the split (``fit_on="series"``);
``fit_on="train"`` fits them on the rows the training windows see (their inputs and targets:
rows ``0 .. split + window + H - 2``), so that nothing of the test part leaks into the scaling.
Values outside the fitted range are not clipped: they map outside ``[-1, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..checks import check_choice, check_int

TRAIN_FRACTION = 0.67
WINDOW = 4
FIT_ON = ("series", "train")


@dataclass(frozen=True)
class MinMaxScaler:
    """Affine map of ``[low, high]`` onto ``[-1, 1]`` (values outside map outside)."""

    low: float
    high: float

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMaxScaler:
        low, high = float(np.min(values)), float(np.max(values))
        if not high > low:
            raise ValueError(f"MinMaxScaler: the series is constant ({low}); nothing to forecast")
        return cls(low, high)

    def transform(self, values):
        return 2.0 * (values - self.low) / (self.high - self.low) - 1.0

    def inverse_transform(self, values):
        return (values + 1.0) * (self.high - self.low) / 2.0 + self.low


@dataclass(frozen=True)
class WindowedData:
    """Windows ``(N, window, F)`` and targets ``(N, H)``, split chronologically.

    ``scaler`` scales the target; ``feature_scalers`` the ``F`` feature columns, in order (with
    one column that is also the target, ``(scaler,)``)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    scaler: MinMaxScaler
    window: int
    feature_scalers: tuple[MinMaxScaler, ...] = ()

    @property
    def split(self) -> int:
        """Index of the first test window (= number of training windows)."""
        return len(self.x_train)

    @property
    def horizon(self) -> int:
        """``H``: the target values each window predicts."""
        return self.y_train.shape[1]

    @property
    def n_features(self) -> int:
        """``F``: the feature columns of a window."""
        return self.x_train.shape[2]


def sliding_windows(
    scaled: np.ndarray,
    window: int,
    dtype: torch.dtype = torch.float64,
    *,
    target: np.ndarray | None = None,
    horizon: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(N, window, F)`` and targets ``(N, H)`` of scaled features ``(T,)`` or
    ``(T, F)``: ``x[i] = scaled[i:i+window]``, ``y[i, k] = target[i+window+k]``; ``target``
    ``(T,)`` defaults to the one feature column. ``N = T - window - H + 1``."""
    features = np.asarray(scaled, dtype=np.float64)
    features = features[:, None] if features.ndim == 1 else features
    if target is None:
        if features.shape[1] != 1:
            raise ValueError(
                f"sliding_windows: {features.shape[1]} feature columns need a target, got none"
            )
        target = features[:, 0]
    target = np.asarray(target, dtype=np.float64)
    rows = len(features)
    if rows < window + horizon:
        raise ValueError(
            f"sliding_windows: the series has {rows} values; a window of {window} and a "
            f"horizon of {horizon} need at least {window + horizon}"
        )
    count = rows - window - horizon + 1
    x = np.lib.stride_tricks.sliding_window_view(features[: count + window - 1], window, axis=0)
    y = np.lib.stride_tricks.sliding_window_view(target[window:], horizon)
    return (  # copies: the views are read-only
        torch.as_tensor(np.array(x.transpose(0, 2, 1)), dtype=dtype),
        torch.as_tensor(np.array(y), dtype=dtype),
    )


def make_windows(
    series: np.ndarray,
    window: int = WINDOW,
    train_fraction: float = TRAIN_FRACTION,
    fit_on: str = "series",
    dtype: torch.dtype = torch.float64,
    *,
    target: np.ndarray | None = None,
    horizon: int = 1,
) -> WindowedData:
    """Scale the feature columns of ``series`` (``(T,)`` or ``(T, F)``) and the ``target``
    ``(T,)`` (default: the one column of ``series``) to ``[-1, 1]``, each column by its own
    scaler, and cut them into training and test windows predicting ``horizon`` values (see the
    module docstring)."""
    owner = "make_windows"
    window = check_int(owner, "window", window, 1)
    horizon = check_int(owner, "horizon", horizon, 1)
    check_choice(owner, "fit_on", fit_on, FIT_ON)
    if isinstance(train_fraction, bool) or not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(
            f"{owner}: train_fraction must be in the open range (0, 1), got {train_fraction}"
        )
    series = np.asarray(series, dtype=np.float64)
    if series.ndim not in (1, 2) or series.size == 0 or not np.all(np.isfinite(series)):
        raise ValueError(
            f"{owner}: series must be a 1-D (T,) or 2-D (T, F) array of finite numbers, got "
            f"shape {series.shape}"
        )
    features = series[:, None] if series.ndim == 1 else series
    if target is None and features.shape[1] != 1:
        raise ValueError(
            f"{owner}: series has {features.shape[1]} feature columns; give the target (T,)"
        )
    target = features[:, 0] if target is None else np.asarray(target, dtype=np.float64)
    if target.shape != (len(features),) or not np.all(np.isfinite(target)):
        raise ValueError(
            f"{owner}: target must be a 1-D array of {len(features)} finite numbers (one per "
            f"row of series), got shape {target.shape}"
        )
    n_windows = len(features) - window - horizon + 1
    split = int(train_fraction * n_windows)
    if split < 1 or split >= n_windows:
        raise ValueError(
            f"{owner}: a series of {len(features)} values gives {max(n_windows, 0)} "
            f"windows of {window} values predicting {horizon}, too few to split "
            f"{train_fraction:g} / {1 - train_fraction:g} into non-empty training and test parts"
        )
    # The training windows see rows 0 .. split + window + horizon - 2 (their targets included).
    fitted = slice(None) if fit_on == "series" else slice(0, split + window + horizon - 1)
    scalers = []
    for column in range(features.shape[1]):
        try:
            scalers.append(MinMaxScaler.fit(features[fitted, column]))
        except ValueError as exc:
            raise ValueError(f"{owner}: feature column {column}: {exc}") from exc
    scaler = scalers[0] if series.ndim == 1 else MinMaxScaler.fit(target[fitted])
    scaled = np.stack([s.transform(features[:, j]) for j, s in enumerate(scalers)], axis=1)
    x, y = sliding_windows(scaled, window, dtype, target=scaler.transform(target), horizon=horizon)
    return WindowedData(x[:split], y[:split], x[split:], y[split:], scaler, window, tuple(scalers))


def data_columns(
    series: np.ndarray, data_config: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The features ``(T,)``/``(T, F)`` and target ``(T,)`` of a run's stored ``series``: a
    one-column run's series ``(T,)`` is both (target ``None``); a multivariate run's ``(T, C)``
    holds its ``data_config["features"]`` in order, then the target if it is not one of them."""
    series = np.asarray(series, dtype=np.float64)
    names = data_config.get("features")
    if names is None:
        return series, None
    target = data_config["target"]
    expected = len(names) + (target not in names)
    if series.ndim != 2 or series.shape[1] != expected:
        raise ValueError(
            f"data_columns: features {names} and target {target!r} need a series of shape "
            f"(T, {expected}), got {series.shape}"
        )
    column = names.index(target) if target in names else len(names)
    return series[:, : len(names)], series[:, column]


def windows_for(
    series: np.ndarray, data_config: dict[str, Any], dtype: torch.dtype = torch.float64
) -> WindowedData:
    """:func:`make_windows` of a run's stored ``series`` with its ``data_config`` (``window``,
    ``train_fraction``, ``fit_on``; ``features``, ``target`` and ``horizon`` where set)."""
    features, target = data_columns(series, data_config)
    return make_windows(
        features,
        data_config["window"],
        data_config["train_fraction"],
        data_config["fit_on"],
        dtype,
        target=target,
        horizon=data_config.get("horizon", 1),
    )


def new_windows(
    series: np.ndarray,
    data_config: dict[str, Any],
    data: WindowedData,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, np.ndarray]:
    """The windows ``(N, window, F)`` of another ``series`` laid out as a run's (see
    :func:`data_columns`), scaled with the scalers ``data`` fitted (not refitted; values outside
    their range are not clipped), and its target ``(T,)`` in its own units; window ``i``
    forecasts ``target[i + window .. i + window + H - 1]``."""
    features, target = data_columns(series, data_config)
    features = features[:, None] if features.ndim == 1 else features
    target = features[:, 0] if target is None else target
    scalers = data.feature_scalers or (data.scaler,)
    scaled = np.stack([s.transform(features[:, j]) for j, s in enumerate(scalers)], axis=1)
    x, _y = sliding_windows(
        scaled, data.window, dtype, target=data.scaler.transform(target), horizon=data.horizon
    )
    return x, target
