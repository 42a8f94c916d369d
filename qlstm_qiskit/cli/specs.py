"""Backend specs on the command line: ``NAME`` or ``NAME:key=value,...`` checked (parsing and
formatting are :mod:`qlstm_qiskit.forecasting.backend_specs`, re-exported here), and the backend a
checkpoint was trained on."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..backends import get_backend
from ..backends.ibm_account import LEAST_BUSY
from ..forecasting.backend_specs import format_backend, parse_backend_spec, parse_value
from ..forecasting.training import CHECKPOINT, read_checkpoint
from .device_flags import check_flags_agree, device_options, is_device

__all__ = [
    "checked_backend",
    "format_backend",
    "parse_backend_spec",
    "parse_value",
    "saved_backend",
]


def checked_backend(
    spec: str | tuple[str, dict[str, Any]],
    args: argparse.Namespace | None = None,
    *,
    run_name: str = "",
    ledger: Path | None = None,
) -> tuple[str, dict[str, Any]]:
    """Parse ``spec`` (or take a ``(name, options)`` pair), add the device flags of ``args`` (see
    :mod:`qlstm_qiskit.cli.device_flags`) and build the backend once, so that a bad name or
    option fails early (more shots than a simulator holds included:
    :data:`qlstm_qiskit.backends.profiles.MAX_SIMULATOR_SHOTS`). A device flag that disagrees with
    the same option in a typed ``spec`` is an error.

    ``ibm_least_busy`` is resolved here, once, and printed: the pair returned names the chosen
    device (without ``min_qubits``), so that the whole command, its checkpoint and a resumed run
    use that device (and key its ledger's jobs by it)."""
    name, options = parse_backend_spec(spec) if isinstance(spec, str) else spec
    if args is not None:
        if isinstance(spec, str) and is_device(name):  # a saved spec may be overridden by flags
            check_flags_agree(args, spec, options)
        options = device_options(args, name, options, run_name=run_name, ledger=ledger)
    backend = get_backend(name, **options)
    if name == LEAST_BUSY:
        options = {k: v for k, v in options.items() if k != "min_qubits"}
        name = backend.name
        print(f"{LEAST_BUSY}: the least busy operational device is {name}; this run uses it")
    return name, options


def saved_backend(checkpoint: Path) -> tuple[str, dict[str, Any]]:
    """The backend ``(name, options)`` the quantum model of ``checkpoint`` (a file or a run
    directory) was trained on; ``("classical", {})`` for a checkpoint without one."""
    path = checkpoint / CHECKPOINT if checkpoint.is_dir() else checkpoint
    for config in read_checkpoint(path)["models"].values():
        if config.get("kind") == "qlstm":
            return config["backend"], dict(config.get("backend_options", {}))
    return "classical", {}
