"""The plots of a sweep, each only where its axis has more than one value:

- ``mse_vs_noise_scale.png``: test MSE against the noise scale, one line per backend setting;
- ``mse_vs_shots.png``: test MSE against the shots, one line per backend setting;
- ``mse_per_backend.png``: test MSE per backend setting (devices side by side), bars;
- ``mse_mitigation.png``: test MSE per backend setting evaluated with more than one
  ``mitigate`` value, one bar per value.

Each mark is the mean over the seeds, with the sample standard deviation as error bar (none for
one seed); MSE on the scaled series, log axis. A "setting" is a combination of the other axes
(backend, training backend or run, noise scale, shots, mitigation); labels name the axes that
vary.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .plots import save_drawing

#: the axes that tell points apart besides the seed, in label order
SETTING = ("backend", "train_backend", "run", "noise_scale", "shots", "mitigate")
_NAMES = {"noise_scale": "k", "shots": "shots", "mitigate": "mitigate", "train_backend": "on"}


def plot_sweep(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the plots whose axes vary over ``rows`` (the rows of ``results.json``; see the
    module docstring) into ``folder``."""
    if not rows:
        return []

    def values(axis: str) -> set:
        return {row[axis] for row in rows}

    def varies(axis: str) -> bool:
        return len(values(axis) - {None}) > 1

    written = []
    if varies("noise_scale"):
        written.append(
            _trend(rows, "noise_scale", folder / "mse_vs_noise_scale.png", "noise scale k")
        )
    if varies("shots"):
        written.append(_trend(rows, "shots", folder / "mse_vs_shots.png", "shots per circuit"))
    if len(values("backend")) > 1:
        written.append(_bars(rows, None, folder / "mse_per_backend.png"))
    if len(values("mitigate")) > 1:  # the settings evaluated with more than one mitigation
        compared = [
            row
            for members in _groups(rows, ("mitigate",)).values()
            if len({row["mitigate"] for row in members}) > 1
            for row in members
        ]
        written.append(_bars(compared, "mitigate", folder / "mse_mitigation.png"))
    return written


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _groups(rows, exclude: tuple[str, ...]) -> dict[tuple, list[dict[str, Any]]]:
    """Rows grouped by their setting without the axes ``exclude`` (and the seed)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row[axis] for axis in SETTING if axis not in exclude)
        groups.setdefault(key, []).append(row)
    return groups


def _label(rows, key: tuple, exclude: tuple[str, ...]) -> str:
    """The values of ``key`` on the axes that vary over ``rows`` (the backend always)."""
    axes = [axis for axis in SETTING if axis not in exclude]
    parts = []
    for axis, value in zip(axes, key, strict=True):
        if axis == "backend":
            parts.append(str(value))
        elif value is not None and len({row[axis] for row in rows}) > 1:
            if axis == "run" and value is not None:
                value = Path(value).name
            text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{_NAMES.get(axis, axis)}={text}")
    return ", ".join(parts)


def _stats(rows) -> tuple[float, float]:
    values = [row["test_mse"] for row in rows]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _trend(rows, axis: str, path: Path, xlabel: str) -> Path:
    """Test MSE against ``axis`` (rows that set it), one line per other setting."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    selected = [row for row in rows if row[axis] is not None]
    for index, (key, members) in enumerate(_groups(selected, (axis,)).items()):
        by_x: dict[float, list] = {}
        for row in members:
            by_x.setdefault(row[axis], []).append(row)
        xs = sorted(by_x)
        stats = [_stats(by_x[x]) for x in xs]
        ax.errorbar(
            xs,
            [mean for mean, _ in stats],
            yerr=[std for _, std in stats],
            marker="o",
            capsize=3,
            color=f"C{index % 10}",
            label=_label(selected, key, (axis,)),
        )
    ticks = sorted({row[axis] for row in selected})
    if ticks[0] > 0:
        ax.set_xscale("log", base=2 if axis == "noise_scale" else 10)
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test MSE (scaled series)")
    ax.set_title(f"test MSE vs {xlabel} (mean ± std over seeds)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return save_drawing(fig, path)


def _bars(rows, split: str | None, path: Path) -> Path:
    """Test MSE per setting; with ``split``, one bar per value of that axis in each group."""
    plt = _pyplot()
    exclude = (split,) if split else ()
    groups = _groups(rows, exclude)
    values = list(dict.fromkeys(row[split] for row in rows)) if split else [None]
    width = 0.8 / len(values)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(groups) * len(values) + 2), 4.5))
    for offset, value in enumerate(values):
        means, stds, positions = [], [], []
        for position, members in enumerate(groups.values()):
            chosen = [row for row in members if split is None or row[split] == value]
            if chosen:
                mean, std = _stats(chosen)
                means.append(mean)
                stds.append(std)
                positions.append(position + (offset - (len(values) - 1) / 2) * width)
        label = None if split is None else f"{split}={value or 'none'}"
        ax.bar(positions, means, width, yerr=stds, capsize=3, color=f"C{offset % 10}", label=label)
    labels = [_label(rows, key, exclude) for key in groups]
    ax.set_xticks(range(len(groups)), labels, rotation=45, ha="right", fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("test MSE (scaled series)")
    title = "mitigated vs unmitigated" if split == "mitigate" else "per backend setting"
    ax.set_title(f"test MSE {title} (mean ± std over seeds)")
    if split:
        ax.legend(fontsize="small")
    return save_drawing(fig, path)
