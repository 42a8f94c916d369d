"""Transpiling for a device, once: the device objects and their seeded, caching pass managers,
shared by the device backends and the density-matrix backend's ``noise_from=fake_<device>``."""

from __future__ import annotations

from functools import cache
from typing import Any

from qiskit.transpiler import generate_preset_pass_manager

from .ibm_runtime import fake_device, ibm_device

#: seed of the preset pass manager's stochastic layout and routing passes.
TRANSPILER_SEED = 1234


class CachedPassManager:
    """A preset pass manager for one device and optimization level that transpiles each circuit
    once: ``run`` returns the cached ISA circuit for a circuit it has seen. ``transpiled`` counts
    the real transpilations."""

    def __init__(self, device, optimization_level: int) -> None:
        # a fixed transpiler seed: the same layout and routing in every process, so the ISA
        # circuit (part of each job's ledger key) is the same on a rerun and resuming works
        self.pass_manager = generate_preset_pass_manager(
            optimization_level=optimization_level, backend=device, seed_transpiler=TRANSPILER_SEED
        )
        self.transpiled = 0
        self._isa: dict[int, tuple[Any, Any]] = {}  # id(circuit) -> (circuit, ISA circuit)

    def run(self, circuit):
        if id(circuit) not in self._isa:
            self._isa[id(circuit)] = (circuit, self.pass_manager.run(circuit))
            self.transpiled += 1
        return self._isa[id(circuit)][1]


_PASS_MANAGERS: dict[tuple[str, int, int], CachedPassManager] = {}


def cached_pass_manager(device, optimization_level: int) -> CachedPassManager:
    """The :class:`CachedPassManager` of a device (by name and object) and optimization level."""
    key = (device.name, id(device), optimization_level)
    if key not in _PASS_MANAGERS:
        _PASS_MANAGERS[key] = CachedPassManager(device, optimization_level)
    return _PASS_MANAGERS[key]


@cache
def cached_device(family: str, name: str, service=None):
    """One device object per name, service and process (``family`` ``"fake"`` or ``"ibm"``;
    ``service``: the ``QiskitRuntimeService`` of an ibm device, ``None`` for the saved account),
    so that its transpilations are cached and every backend on it sees the same ISA circuits."""
    return fake_device(name) if family == "fake" else ibm_device(name, service)
