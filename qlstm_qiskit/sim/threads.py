"""The NumPy kernels' BLAS threads follow torch's intra-op thread count.

The ``product`` and ``fused`` kernels run their matrix products in NumPy, whose BLAS (OpenBLAS)
starts its own threads, one per core, whatever ``torch.set_num_threads`` says. For the small
products of a circuit evaluation that is at best no faster, and next to another busy process it is
ruinous: measured on the 2-core machine (2026-12-01), a training step of a 8-qubit, 2-block,
depth-2 QLSTM took 49 ms with one BLAS thread and 330 to 1,000 ms with two while another process
ran. :func:`torch_blas_threads` limits NumPy's BLAS to ``torch.get_num_threads()`` threads for
the duration of a kernel call and restores the previous count afterwards.
"""

from __future__ import annotations

import torch
from threadpoolctl import ThreadpoolController

_controller: list[ThreadpoolController] = []  # created on first use: it scans loaded libraries


def torch_blas_threads():
    """A context manager: NumPy's BLAS limited to ``torch.get_num_threads()`` threads inside."""
    if not _controller:
        _controller.append(ThreadpoolController())
    return _controller[0].limit(limits=torch.get_num_threads(), user_api="blas")
