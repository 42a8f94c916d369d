"""The experiment file of ``qlstm-qiskit sweep``: a TOML file read and checked, every key and
value, before anything runs. Errors name the file and the key (``sweep.toml: [train] epochs:
...``, ``sweep.toml: [[grid]] 2: shots[1]: ...``).

The file holds what to train or which runs to evaluate, and the axes::

    description = "optional text"

    [train]                 # what to train: the settings of `qlstm-qiskit train` (its flags, with
    dataset = "sine"        #   underscores: n_points, hidden_size, n_qubits, epochs, lr, ...)
    epochs = 20             #   `seed` is the seeds axis; `backend` the one training backend
    # or
    [evaluate]
    runs = ["runs/a"]       # run directories (relative to this file) to evaluate instead

    [sweep]                 # the axes, for every [[grid]] that does not set its own
    seeds = [0, 1]          # training seeds (also the sampling seeds of sampled backends)
    train_backends = ["statevector", "density_matrix:noise_from=fake_manila"]

    [[grid]]                # a product of its axes; the sweep is the union of its grids
    backends = ["aer_noisy_exact", "density_matrix"]
    noise_scale = [0.5, 1, 2]
    shots = [1000]          # (not for exact backends)
    mitigate = ["none", "readout"]

Without ``[[grid]]`` tables the sweep is the one grid of ``[sweep]``. Every axis is a list;
``mitigate`` values are strings, ``"none"`` (or ``false``) meaning the option is not passed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..checks import MAX_SEED, check_table
from ..circuits import ENCODINGS, ENTANGLERS, MEASUREMENTS, ROTATIONS
from ..variants import CELLS
from .backend_specs import parse_backend_spec
from .datasets import DATASETS, FIT_ON, MISSING
from .models import DTYPES
from .run_settings import TRAIN_DEFAULTS, model_configs, train_config, training_series
from .training import Run, read_checkpoint

TOP_KEYS = ("description", "train", "evaluate", "sweep", "grid")
#: the axes, as keys of ``[sweep]`` and ``[[grid]]``
AXES = ("backends", "noise_scale", "shots", "mitigate", "seeds", "train_backends")
EVALUATE_KEYS = ("runs",)
#: what ``[train]`` takes: train's settings but the seed (the ``seeds`` axis)
TRAIN_KEYS = tuple(key for key in TRAIN_DEFAULTS if key != "seed")
#: the ``mitigate`` value that passes no ``mitigate`` option (as does ``false``)
NOT_MITIGATED = "none"
_CHOICES = {
    "dataset": tuple(DATASETS),
    "missing": MISSING,
    "scale_fit": FIT_ON,
    "model": ("qlstm",),  # a sweep evaluates the QLSTM on backends
    "dtype": tuple(DTYPES),
    "encoding": tuple(ENCODINGS),
    "rotation": tuple(ROTATIONS),
    "entangling": ENTANGLERS,
    "measure": MEASUREMENTS,
    "cell": CELLS,
}
#: settings whose default is None: the types they take
_OPTIONAL_TYPES = {"csv": (str,), "column": (str, int), "n_points": (int,)}


@dataclass(frozen=True)
class Grid:
    """One product of axes (``where``: ``[sweep]`` or ``[[grid]] N``, for messages). ``None`` in
    ``noise_scale``, ``shots`` and ``mitigate``: the axis is not set (the backend's own value);
    ``train_backends`` is ``()`` when the experiment evaluates runs."""

    where: str
    backends: tuple[str, ...]
    noise_scale: tuple[float | None, ...]
    shots: tuple[int | None, ...]
    mitigate: tuple[str | None, ...]
    seeds: tuple[int, ...]
    train_backends: tuple[str, ...]


@dataclass(frozen=True)
class Experiment:
    """A checked experiment file: ``train`` (every setting, defaults filled; ``given``: those the
    file set) or ``runs`` (absolute run directories), and its grids."""

    source: Path
    description: str
    train: dict[str, Any] | None
    given: tuple[str, ...]
    runs: tuple[str, ...]
    grids: tuple[Grid, ...]


def read_experiment(path: str | Path) -> Experiment:
    """Read and check the experiment file ``path`` (see the module docstring).

    Raises:
        ValueError: the file cannot be read, is not TOML, or has an unknown key, a missing key or
            a bad value (the message names the file and the key).
        TypeError: a value of the wrong type (likewise).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the experiment file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the experiment file is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: cannot read the experiment file as TOML: {exc}") from exc
    check_table(f"{path}: the top level", data, TOP_KEYS)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise TypeError(f"{path}: description must be a string, got {description!r}")
    if ("train" in data) == ("evaluate" in data):
        raise ValueError(
            f"{path}: give either a [train] table (what to train) or an [evaluate] table (runs "
            f"to evaluate), got {'both' if 'train' in data else 'neither'}"
        )
    train, given, runs = None, (), ()
    if "train" in data:
        train, given = _train_settings(path, data["train"])
    else:
        runs = _runs(path, data["evaluate"])
    defaults = _axes(path, "[sweep]", data.get("sweep", {}), train is not None)
    tables = data.get("grid", [])
    if not isinstance(tables, list) or (not tables and "grid" in data):
        raise ValueError(f"{path}: grid must be [[grid]] tables, got {tables!r}")
    if tables:
        training = train is not None
        grids = []
        for number, table in enumerate(tables, start=1):
            where = f"[[grid]] {number}"
            grids.append(_grid(path, where, {**defaults, **_axes(path, where, table, training)}))
    else:
        grids = [_grid(path, "[sweep]", defaults)]
    if train is not None:
        grids = [_with_train_backend(path, grid, train, given) for grid in grids]
    return Experiment(path, description, train, given, runs, tuple(grids))


def with_context(owner: str, exc: Exception) -> Exception:
    """A ``ValueError``, ``TypeError`` or ``ImportError`` (as ``exc`` is one) whose message is
    ``owner: <exc's message>``, to raise ``from exc``."""
    kind = next(k for k in (TypeError, ImportError, ValueError) if isinstance(exc, k))
    return kind(f"{owner}: {exc}")


def _train_settings(path: Path, table: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``[train]``: every setting of train (defaults filled, ``csv`` relative to the file)."""
    if isinstance(table, dict) and "seed" in table:
        raise ValueError(
            f"{path}: [train] seed: the training seeds are the seeds axis: set seeds = "
            f"[{table['seed']!r}] in [sweep]"
        )
    check_table(f"{path}: [train]", table, TRAIN_KEYS)
    for key, value in table.items():
        default = TRAIN_DEFAULTS[key]
        types = _OPTIONAL_TYPES.get(key) or (
            (int, float) if isinstance(default, float) else (type(default),)
        )
        if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            raise TypeError(
                f"{path}: [train] {key} must be {expected}, got {type(value).__name__} {value!r}"
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            why = " (a sweep evaluates the QLSTM on its backends)" if key == "model" else ""
            raise ValueError(
                f"{path}: [train] {key} must be one of {', '.join(map(repr, _CHOICES[key]))}"
                f"{why}, got {value!r}"
            )
        if key == "backend":
            _spec(path, "[train] backend", value)
    settings = {**TRAIN_DEFAULTS, **table}
    del settings["seed"]
    if settings["csv"] is not None:
        settings["csv"] = str((path.parent / settings["csv"]).resolve())
    given = tuple(sorted(table))
    try:  # the data, windows and models these settings build (on statevector, untrained)
        series, data_config = training_series(settings, given, key=lambda name: f"[train] {name}")
        Run(
            data_config,
            series,
            model_configs(settings, "statevector", {}, 0),
            train_config(settings, 0),
        )
    except (ValueError, TypeError) as exc:  # the message names [train] keys, or the checker
        owner = str(path) if str(exc).startswith("[train]") else f"{path}: [train]"
        raise with_context(owner, exc) from exc
    return settings, given


def _runs(path: Path, table: Any) -> tuple[str, ...]:
    """``[evaluate] runs``: run directories holding a QLSTM checkpoint (relative to the file)."""
    check_table(f"{path}: [evaluate]", table, EVALUATE_KEYS)
    runs = table.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) for r in runs):
        raise TypeError(
            f"{path}: [evaluate] runs must be a non-empty list of run directories, got {runs!r}"
        )
    found = []
    for index, run in enumerate(runs):
        folder = (path.parent / run).resolve()
        try:
            models = read_checkpoint(folder / "checkpoint.pt")["models"]
        except ValueError as exc:
            raise ValueError(f"{path}: [evaluate] runs[{index}] {run!r}: {exc}") from exc
        if not any(config.get("kind") == "qlstm" for config in models.values()):
            raise ValueError(
                f"{path}: [evaluate] runs[{index}] {run!r} holds no QLSTM (only the classical "
                "LSTM), nothing to evaluate on backends"
            )
        if str(folder) in found:
            raise ValueError(f"{path}: [evaluate] runs[{index}] {run!r} is listed twice")
        found.append(str(folder))
    return tuple(found)


def _axes(path: Path, where: str, table: Any, training: bool) -> dict[str, tuple]:
    """The axes a ``[sweep]`` or ``[[grid]]`` table sets, checked and normalised."""
    check_table(f"{path}: {where}", table, AXES)
    axes = {}
    for key, values in table.items():
        if not isinstance(values, list) or not values:
            raise TypeError(
                f"{path}: {where} {key} must be a non-empty list (e.g. {key} = "
                f"[{values!r}]), got {values!r}"
            )
        if key == "train_backends" and not training:
            raise ValueError(
                f"{path}: {where} train_backends: this experiment evaluates the runs of "
                "[evaluate]; it trains nothing"
            )
        checked = tuple(
            _axis_value(path, f"{where} {key}[{i}]", key, v) for i, v in enumerate(values)
        )
        repeated = sorted({str(v) for v in checked if checked.count(v) > 1})
        if repeated:
            raise ValueError(f"{path}: {where} {key}: repeated value(s) {', '.join(repeated)}")
        axes[key] = checked
    return axes


def _axis_value(path: Path, where: str, axis: str, value: Any) -> Any:
    if axis in ("backends", "train_backends"):
        return _spec(path, where, value)
    if axis == "mitigate":
        if value is False or value == NOT_MITIGATED:
            return None
        if not isinstance(value, str) or not value:
            raise TypeError(
                f"{path}: {where} must be a mitigation name (a string) or {NOT_MITIGATED!r}, "
                f"got {value!r}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{path}: {where} must be a number, got {type(value).__name__} {value!r}")
    if axis == "noise_scale":
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{path}: {where} must be a finite number >= 0, got {value}")
        return float(value)
    if not isinstance(value, int):
        raise TypeError(f"{path}: {where} must be an int, got {value!r}")
    low, high = (1, None) if axis == "shots" else (0, MAX_SEED)
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in the range {low}..{high} (2**63 - 1)"
        raise ValueError(f"{path}: {where} must be {allowed}, got {value}")
    return value


def _spec(path: Path, where: str, spec: Any) -> str:
    """A backend spec string that parses (its name and options are checked when planned)."""
    try:
        parse_backend_spec(spec)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{path}: {where}: {exc}") from exc
    return spec


def _grid(path: Path, where: str, axes: dict[str, tuple]) -> Grid:
    if "backends" not in axes:
        raise ValueError(
            f"{path}: {where}: backends is missing (the backends to evaluate on; set it in "
            "[sweep] or in each [[grid]])"
        )
    return Grid(
        where,
        axes["backends"],
        axes.get("noise_scale", (None,)),
        axes.get("shots", (None,)),
        axes.get("mitigate", (None,)),
        axes.get("seeds", (0,)),
        axes.get("train_backends", ()),
    )


def _with_train_backend(path: Path, grid: Grid, train: dict[str, Any], given) -> Grid:
    """The grid's training backends: ``train_backends``, else ``[train] backend``."""
    if grid.train_backends and "backend" in given:
        raise ValueError(
            f"{path}: {grid.where} train_backends and [train] backend both name the training "
            "backend; give one"
        )
    if grid.train_backends:
        return grid
    return replace(grid, train_backends=(train["backend"],))
