"""The NumPy kernels' BLAS threads follow torch's intra-op thread count.

The ``product`` and ``fused`` kernels run their matrix products in NumPy, whose BLAS (OpenBLAS)
starts its own threads, one per core, whatever ``torch.set_num_threads`` says. For the small
products of a circuit evaluation that is at best no faster, and next to another busy process it is
ruinous: measured on the 2-core machine (2026-12-01), a training step of a 8-qubit, 2-block,
depth-2 QLSTM took 49 ms with one BLAS thread and 330 to 1,000 ms with two while another process
ran. :class:`torch_blas_threads` limits NumPy's BLAS to ``torch.get_num_threads()`` threads for
the duration of a kernel call and restores the previous count afterwards.
"""

from __future__ import annotations

import torch
from threadpoolctl import ThreadpoolController

_blas: list = []  # NumPy's BLAS libraries, found on first use (scanning the libraries is slow)


class torch_blas_threads:  # noqa: N801 - used like a function: ``with torch_blas_threads():``
    """A context manager: NumPy's BLAS limited to ``torch.get_num_threads()`` threads inside,
    the previous count restored after (two C calls per library; nothing when they agree)."""

    def __enter__(self) -> torch_blas_threads:
        if not _blas:
            _blas.append(
                [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
            )
        wanted = torch.get_num_threads()
        self.restore = [(lib, lib.num_threads) for lib in _blas[0] if lib.num_threads != wanted]
        for lib, _threads in self.restore:
            lib.set_num_threads(wanted)
        return self

    def __exit__(self, *exc_info) -> None:
        for lib, threads in self.restore:
            lib.set_num_threads(threads)
