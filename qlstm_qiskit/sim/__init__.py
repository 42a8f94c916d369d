"""The torch simulators: Qiskit circuits as batched, differentiable torch (and NumPy) programs.

The bottom layer of the package; it imports nothing of the layers above. One module, one job:
:mod:`.program` (the parsed circuit), :mod:`.gates` (gate maths), :mod:`.layers` and
:mod:`.steps` (the pieces of the statevector engine), :mod:`.statevector` and :mod:`.adjoint`
(the engines; neither imports the other), :mod:`.product_kernel` (a product-state circuit in
NumPy with hand-written derivatives) and :mod:`.product_binding` (its basis from the weights),
:mod:`.block_ops` and :mod:`.block_kernel` (any circuit block by block in NumPy, with
hand-written derivatives), :mod:`.costs` (the estimated work and memory of each method, and the
choice), :mod:`.threads` (the NumPy kernels' BLAS threads follow torch's) and :mod:`.compiled`
(:class:`CompiledCircuit`, which picks the engine).
"""

from .block_kernel import BlockKernel
from .compiled import METHODS, CompiledCircuit
from .costs import Workload, choose_method, estimate
from .product_kernel import ProductKernel
from .threads import torch_blas_threads

__all__ = [
    "METHODS",
    "BlockKernel",
    "CompiledCircuit",
    "ProductKernel",
    "Workload",
    "choose_method",
    "estimate",
    "torch_blas_threads",
]
