"""qlstm-qiskit: a quantum LSTM layer for PyTorch whose gate circuits are Qiskit circuits."""

from .backends import get_backend, list_backends
from .cell import QLSTMCell
from .circuits import CircuitSpec, GateCircuit
from .qlstm import QLSTM

__all__ = ["QLSTM", "QLSTMCell", "CircuitSpec", "GateCircuit", "get_backend", "list_backends"]
__version__ = "0.1.0"
