"""The experiment file of ``qlstm-qiskit train --config EXPERIMENT.toml``: the data, the model as
a layer list and the training settings, read and checked (every key and value, errors naming the
file and the key), and the resolved settings of a run written back in the same layout (the run
directory's ``config.toml``, which ``--config`` reads again)::

    [data]                  # the data settings (train's flags, with underscores)
    dataset = "damped_shm"
    window = 4

    [[layers]]              # the recurrent layers: one stack of identical layers (num_layers is
    type = "qlstm"          #   their count); "qlstm" or "lstm" (the classical baseline)
    hidden_size = 5
    n_qubits = 4            # the gate circuit (qlstm only): n_qubits, n_qlayers, depth,
    bidirectional = false   #   encoding, rotation, entangling, measure
    inversward = false

    [[layers]]              # the head, last: a linear layer
    type = "linear"

    [train]                 # every other setting: model ("both" adds the classical LSTM beside
    epochs = 100            #   the QLSTM), backend, dtype, epochs, batch_size, lr, seed, ...
    lr = 0.01

Which table holds a setting of :data:`~.run_settings.TRAIN_DEFAULTS`: the declared
:data:`DATA_KEYS` go in ``[data]``, the declared layer keys in ``[[layers]]``, and every other
setting in ``[train]`` (a setting added to ``TRAIN_DEFAULTS`` lands there with no edit here).
Each table may be left out (those settings keep their defaults); without ``[[layers]]`` the model
is the default one. A value of ``None`` has no TOML form: such a setting is left out (unset).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import check_table
from ..files import atomic_write
from .run_settings import CIRCUIT_FIELDS, TRAIN_DEFAULTS, flag
from .settings_toml import check_setting, read_toml, toml_document

#: the tables of an experiment file
TABLES = ("data", "layers", "train")
#: the recurrent layer types (``model`` of the settings) and the head's type
RECURRENT_TYPES = ("qlstm", "lstm")
HEAD_TYPE = "linear"
#: the keys of a recurrent ``[[layers]]`` entry of either type
RECURRENT_KEYS = ("hidden_size", "bidirectional", "inversward")
#: the keys of a ``qlstm`` entry only: its gate circuit
QUANTUM_LAYER_KEYS = (*CIRCUIT_FIELDS, "cell", "input_scaling")
#: the head's keys: its output size, the forecast horizon
HEAD_KEYS = ("horizon",)
#: settings only a CSV source takes, and settings only a built-in series takes
CSV_KEYS = ("csv", "column", "features", "target", "missing")
GENERATED_KEYS = ("dataset", "n_points")
#: the settings of ``[data]``
DATA_KEYS = (*GENERATED_KEYS, *CSV_KEYS, "window", "train_fraction", "scale_fit")
#: the settings the layer list sets (``num_layers``: how many recurrent entries it has)
LAYER_SETTINGS = ("num_layers", *RECURRENT_KEYS, *QUANTUM_LAYER_KEYS, *HEAD_KEYS)
#: the settings of ``[train]``: every other one
TRAIN_TABLE_KEYS = tuple(
    key for key in TRAIN_DEFAULTS if key not in DATA_KEYS and key not in LAYER_SETTINGS
)
#: the settings a classical LSTM does not use
QUANTUM_SETTINGS = ("backend", *QUANTUM_LAYER_KEYS)
#: the run directory's file of resolved settings
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class ExperimentConfig:
    """A checked experiment file: ``settings``, the settings it sets (names of
    :data:`~.run_settings.TRAIN_DEFAULTS`; ``csv`` made absolute from the file's folder), and
    ``places``, where each was set (``"[data] window"``, ``"[[layers]] n_qubits"``)."""

    source: Path
    settings: dict[str, Any]
    places: dict[str, str]

    def place(self, name: str) -> str:
        """Setting ``name`` as the file holds it, for messages: ``exp.toml: [data] window``."""
        return f"{self.source}: {self.places[name]}"


@contextmanager
def naming_the_file(config: ExperimentConfig | None) -> Iterator[None]:
    """Let a ``ValueError`` or ``TypeError`` raised inside (a setting out of range, found where
    the settings build the run) begin with the experiment file ``config`` comes from, if any."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        if config is None or str(exc).startswith(str(config.source)):
            raise
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(f"{config.source} (or the flags typed): {exc}") from exc


def read_experiment_config(path: str | Path) -> ExperimentConfig:
    """Read and check the experiment file ``path`` (see the module docstring).

    Raises:
        ValueError: the file cannot be read or is not TOML; an unknown table or key; a layer list
            without a head, with a head that is not last, with two heads, or with recurrent
            entries that differ; a ``[train] model`` or ``backend`` the layers contradict (the
            message names the file and the key, and what was expected).
        TypeError: a value of the wrong type (likewise).
    """
    path = Path(path)
    content = read_toml(path, "experiment file")
    check_table(f"{path}: the top level", content, TABLES, what="table")
    settings: dict[str, Any] = {}
    places: dict[str, str] = {}
    for table, keys in (("data", DATA_KEYS), ("train", TRAIN_TABLE_KEYS)):
        values = check_table(f"{path}: [{table}]", content.get(table, {}), keys)
        for key, value in values.items():
            settings[key] = check_setting(f"{path}: [{table}] {key}", key, value)
            places[key] = f"[{table}] {key}"
    if "layers" in content:
        _layer_settings(path, content["layers"], settings, places)
    if settings.get("csv") is not None:
        settings["csv"] = str((path.parent / settings["csv"]).resolve())
    return ExperimentConfig(path, settings, places)


def read_settings(path: str | Path) -> dict[str, Any]:
    """Every setting (defaults filled) of the experiment file ``path``, as ``train --config``
    reads it with no flags."""
    return resolve_settings({}, read_experiment_config(path)).settings


def _layer_settings(
    path: Path, entries: Any, settings: dict[str, Any], places: dict[str, str]
) -> None:
    """Add the settings of the ``[[layers]]`` list ``entries`` to ``settings`` (and their
    places), checked against those of ``[train]`` already there."""
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise TypeError(
            f"{path}: layers must be [[layers]] tables (recurrent layers, then a type = "
            f"{HEAD_TYPE!r} head), got {entries!r}"
        )
    types = [_entry_type(path, number, entry) for number, entry in enumerate(entries, start=1)]
    heads = [number for number, kind in enumerate(types, start=1) if kind == HEAD_TYPE]
    if not heads:
        raise ValueError(
            f"{path}: [[layers]] has no head: the last entry must be type = {HEAD_TYPE!r} (the "
            "linear layer that maps the last states to the forecast)"
        )
    if len(heads) > 1:
        raise ValueError(
            f"{path}: [[layers]] {heads[0]} and {heads[1]} are both type = {HEAD_TYPE!r}; the "
            "forecaster has one head, the last entry"
        )
    if heads[0] != len(entries):
        raise ValueError(
            f"{path}: [[layers]] {heads[0]} (type = {HEAD_TYPE!r}, the head) must be the last "
            f"entry, got [[layers]] {heads[0] + 1} (type = {types[heads[0]]!r}) after it"
        )
    if len(entries) == 1:
        raise ValueError(
            f"{path}: [[layers]] has a head but no recurrent layer before it (type = "
            f"{' or '.join(map(repr, RECURRENT_TYPES))})"
        )
    for number, entry in enumerate(entries, start=1):
        kind = types[number - 1]
        allowed = ("type", *_entry_keys(kind))
        check_table(f"{path}: [[layers]] {number} (type = {kind!r})", entry, allowed)
        for key, value in entry.items():
            if key != "type":
                check_setting(f"{path}: [[layers]] {number} {key}", key, value)
    recurrent = entries[:-1]
    first = recurrent[0]
    for number, entry in enumerate(recurrent[1:], start=2):
        for key in ("type", *_entry_keys(types[0])):
            ours, theirs = (e.get(key, TRAIN_DEFAULTS.get(key)) for e in (first, entry))
            if ours != theirs or type(ours) is not type(theirs):
                raise ValueError(
                    f"{path}: [[layers]] 1 and {number} differ in {key}: {ours!r} and "
                    f"{theirs!r}; the forecaster is one stack of identical recurrent layers "
                    "(as torch.nn.LSTM's num_layers): give every recurrent entry the same values"
                )
    kind = types[0]
    model = settings.get("model")
    if model is not None and kind not in _models_of(model):
        raise ValueError(
            f"{path}: [train] model = {model!r} disagrees with the [[layers]] of type = "
            f"{kind!r}; give model = {kind!r}"
            + (" or 'both' (the classical LSTM beside the QLSTM)" if kind == "qlstm" else "")
        )
    if kind == "lstm" and "backend" in settings:
        raise ValueError(
            f"{path}: [train] backend: the [[layers]] are type = 'lstm', the classical LSTM, "
            "which has no backend; remove it or use type = 'qlstm'"
        )
    if model is None:
        settings["model"], places["model"] = kind, "[[layers]] type"
    settings["num_layers"], places["num_layers"] = len(recurrent), "[[layers]] (their number)"
    for key, value in (*first.items(), *entries[-1].items()):
        if key != "type":
            settings[key], places[key] = value, f"[[layers]] {key}"


def _entry_type(path: Path, number: int, entry: dict[str, Any]) -> str:
    kind = entry.get("type")
    valid = (*RECURRENT_TYPES, HEAD_TYPE)
    if kind not in valid:
        got = "no type" if "type" not in entry else f"type = {kind!r}"
        raise ValueError(
            f"{path}: [[layers]] {number}: type must be one of {', '.join(map(repr, valid))}, "
            f"got {got}"
        )
    return kind


def _entry_keys(kind: str) -> tuple[str, ...]:
    """The keys (besides ``type``) a ``[[layers]]`` entry of type ``kind`` takes."""
    if kind == HEAD_TYPE:
        return HEAD_KEYS
    return RECURRENT_KEYS + (QUANTUM_LAYER_KEYS if kind == "qlstm" else ())


def _models_of(model: str) -> tuple[str, ...]:
    """The layer types a ``model`` setting trains."""
    return ("qlstm", "lstm") if model == "both" else (model,)


def experiment_document(settings: dict[str, Any], comment: str = "") -> str:
    """The experiment file (TOML text) of the complete ``settings`` (every key of
    :data:`~.run_settings.TRAIN_DEFAULTS`), which :func:`read_experiment_config` reads back as
    the same settings. Left out: settings that are ``None`` (unset), the other data source's
    settings (a CSV's with a built-in series and the reverse) and, for the classical LSTM, the
    quantum settings."""
    source_keys = GENERATED_KEYS if settings["csv"] is not None else CSV_KEYS
    data = {k: settings[k] for k in DATA_KEYS if k not in source_keys and settings[k] is not None}
    kind = "lstm" if settings["model"] == "lstm" else "qlstm"
    layer = {"type": kind, **{k: settings[k] for k in _entry_keys(kind)}}
    head = {"type": HEAD_TYPE, **{k: settings[k] for k in HEAD_KEYS}}
    unused = QUANTUM_SETTINGS if kind == "lstm" else ()
    train = {
        k: settings[k] for k in TRAIN_TABLE_KEYS if k not in unused and settings[k] is not None
    }
    layers = [("[[layers]]", layer)] * settings["num_layers"] + [("[[layers]]", head)]
    return toml_document([("[data]", data), *layers, ("[train]", train)], comment)


def write_experiment_config(path: str | Path, settings: dict[str, Any], comment: str = "") -> None:
    """Write :func:`experiment_document` of ``settings`` to ``path`` atomically."""
    atomic_write(path, experiment_document(settings, comment).encode())


@dataclass(frozen=True)
class ResolvedSettings:
    """A run's settings from the defaults, an experiment file and the flags typed: ``settings``
    (every key of :data:`~.run_settings.TRAIN_DEFAULTS`), ``given`` (the names the file or a flag
    set) and ``typed`` (those a flag set)."""

    settings: dict[str, Any]
    given: frozenset[str]
    typed: frozenset[str]
    config: ExperimentConfig | None

    def name(self, setting: str) -> str:
        """How the user gave ``setting``, for messages: its flag if typed or not in the file
        (``--n-qubits``), else its place in the file (``exp.toml: [[layers]] n_qubits``)."""
        if setting in self.typed or self.config is None or setting not in self.config.settings:
            return flag(setting)
        return self.config.place(setting)


def resolve_settings(typed: dict[str, Any], config: ExperimentConfig | None) -> ResolvedSettings:
    """The flags ``typed`` (only those the user typed) over the experiment file ``config`` over
    :data:`~.run_settings.TRAIN_DEFAULTS`. A data source typed replaces the file's: a typed
    ``--csv`` drops the file's built-in series settings, a typed ``--dataset`` or ``--n-points``
    its CSV settings."""
    from_file = dict(config.settings) if config is not None else {}
    if set(typed) & set(GENERATED_KEYS):
        from_file = {k: v for k, v in from_file.items() if k not in CSV_KEYS}
    if "csv" in typed:
        from_file = {k: v for k, v in from_file.items() if k not in GENERATED_KEYS}
    return ResolvedSettings(
        {**TRAIN_DEFAULTS, **from_file, **typed},
        frozenset(from_file) | frozenset(typed),
        frozenset(typed),
        config,
    )
