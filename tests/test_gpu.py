"""The statevector backend on CUDA (skipped without a GPU): same outputs and gradients as on the
CPU, for the dense (fused-recurrence on CPU, autograd loop on CUDA) and adjoint methods."""

import pytest
import torch

from qlstm_qiskit import QLSTM


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("n_qubits", [4, 13])
def test_statevector_on_cuda_equals_cpu(n_qubits):
    x = torch.randn(3, 2, 1, dtype=torch.float64)
    results = []
    for device in ("cpu", "cuda"):
        model = QLSTM(1, 3, n_qubits=n_qubits, seed=0, dtype=torch.float64).to(device)
        output, (h_n, _c_n) = model(x.to(device))
        (output.sum() + h_n.square().sum()).backward()
        assert output.device.type == device
        results.append([output.cpu()] + [p.grad.cpu() for p in model.parameters()])
    for cpu, cuda in zip(*results, strict=True):
        torch.testing.assert_close(cpu, cuda, rtol=0, atol=1e-10)


def _aer_has_gpu() -> bool:
    from qiskit_aer import AerSimulator

    return "GPU" in AerSimulator().available_devices()


def test_aer_gpu_device_is_an_error_without_the_gpu_build_or_runs_with_it():
    from qlstm_qiskit import get_backend

    if not _aer_has_gpu():
        with pytest.raises(
            ValueError,
            match=r"asks for Aer device 'GPU', but this Aer build "
            r"offers CPU.*pip install qiskit-aer-gpu",
        ):
            get_backend("aer_statevector", device="GPU")
        return
    model = QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64)
    x = torch.randn(2, 1, 1, dtype=torch.float64)
    exact, _ = model(x)
    model.set_backend("aer_statevector", device="GPU")
    torch.testing.assert_close(model(x)[0], exact, rtol=0, atol=1e-6)
