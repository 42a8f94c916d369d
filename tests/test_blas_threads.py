"""The NumPy kernels run their BLAS with torch's intra-op thread count, and restore it after."""

import torch
from threadpoolctl import ThreadpoolController

from qlstm_qiskit import QLSTMCell
from qlstm_qiskit.sim import BlockKernel
from qlstm_qiskit.sim.threads import torch_blas_threads


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in ThreadpoolController().select(user_api="blas").info()]


def test_numpy_blas_follows_torch_threads_inside_and_is_restored_after():
    before, old = blas_threads(), torch.get_num_threads()
    assert before, "NumPy's BLAS is not visible to threadpoolctl"
    torch.set_num_threads(1)
    try:
        with torch_blas_threads():
            inside = blas_threads()
    finally:
        torch.set_num_threads(old)
    assert inside == [1] * len(before)
    assert blas_threads() == before


def test_the_block_kernel_runs_with_torch_threads(monkeypatch):
    cell = QLSTMCell(1, 3, n_qubits=3, n_qlayers=2, seed=0).set_backend(
        "statevector", method="fused"
    )
    seen = []
    forward, backward = BlockKernel.forward, BlockKernel.backward

    def spy_forward(self, *args):
        seen.append(("forward", blas_threads()))
        return forward(self, *args)

    def spy_backward(self, *args):
        seen.append(("backward", blas_threads()))
        return backward(self, *args)

    monkeypatch.setattr(BlockKernel, "forward", spy_forward)
    monkeypatch.setattr(BlockKernel, "backward", spy_backward)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        h, c = cell(torch.randn(2, 1))
        (h.sum() + c.sum()).backward()
    finally:
        torch.set_num_threads(old)
    assert [name for name, _ in seen] == ["forward", "backward"]
    assert all(threads and set(threads) == {1} for _, threads in seen)
