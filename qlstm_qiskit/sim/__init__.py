"""The torch simulators: Qiskit circuits as batched, differentiable torch (and NumPy) programs.

The bottom layer of the package; it imports nothing of the layers above. One module, one job:
:mod:`.program` (the parsed circuit), :mod:`.gates` (gate maths), :mod:`.layers` and
:mod:`.steps` (the pieces of the statevector engine), :mod:`.statevector` and :mod:`.adjoint`
(the engines; neither imports the other), :mod:`.product_kernel` (a product-state circuit in
NumPy with hand-written derivatives) and :mod:`.compiled` (:class:`CompiledCircuit`, which picks
the engine).
"""

from .compiled import DENSE_MAX_QUBITS, GATES_MAX_QUBITS, METHODS, CompiledCircuit
from .product_kernel import ProductKernel

__all__ = ["DENSE_MAX_QUBITS", "GATES_MAX_QUBITS", "METHODS", "CompiledCircuit", "ProductKernel"]
