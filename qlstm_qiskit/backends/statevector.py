"""The ``statevector`` backend: the exact torch simulator of :mod:`qlstm_qiskit.sim`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..checks import check_choice
from ..sim import METHODS, CompiledCircuit
from .base import CircuitTemplate, QuantumBackend


class StatevectorBackend(QuantumBackend):
    """Exact, differentiable statevector simulation in torch, on the model's device and dtype.

    Args:
        method: ``"auto"`` (per use, the method of least estimated cost that fits in memory:
            :func:`qlstm_qiskit.sim.choose_method`), ``"dense"``, ``"gates"``, ``"adjoint"`` or
            ``"fused"`` (the NumPy block program, CPU only); all give the same results to
            rounding.
    """

    name = "statevector"
    computes = "exact"

    def __init__(self, method: str = "auto") -> None:
        self.method = check_choice("StatevectorBackend", "method", method, METHODS)

    def compile(self, template: CircuitTemplate) -> CompiledCircuit:
        return _compiled(template, self.method)

    def options(self) -> dict[str, Any]:
        return {"method": self.method}


@lru_cache(maxsize=64)
def _compiled(template: CircuitTemplate, method: str) -> CompiledCircuit:
    return CompiledCircuit(
        template.circuit, template.inputs, template.weights, template.observables, method=method
    )
