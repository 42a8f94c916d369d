"""The recurrence of one :class:`~qlstm_qiskit.cell.QLSTMCell` over a whole sequence.

Two implementations of the same equations:

- :func:`autograd_sequence` runs :meth:`QLSTMCell.step` once per time step and lets torch autograd
  differentiate it. It works with every backend.
- :func:`fused_sequence` is used when the ``statevector`` backend evaluates the gate circuit as one
  :class:`~qlstm_qiskit.simulator.ProductKernel` (the default circuit among others). It runs the
  whole sequence inside one ``torch.autograd.Function`` whose backward pass is written by hand
  (backpropagation through time with the LSTM's and the circuit's derivatives), and sums the weight
  gradients of all time steps in one matrix product each. The small per-step tensors make the
  eager autograd loop cost more in bookkeeping than in arithmetic; this removes that overhead.

:func:`run_sequence` picks between them. Both give the same outputs and gradients (tested).
"""

from __future__ import annotations

import numpy as np
import torch


def run_sequence(cell, projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                 reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``cell`` over a sequence.

    Args:
        cell: a :class:`~qlstm_qiskit.cell.QLSTMCell`.
        projected: ``(T, B, 4 * n_qubits)``, the input projections (:meth:`QLSTMCell.project_input`).
        h, c: ``(B, hidden_size)`` initial states.
        reverse: visit the time steps from ``T - 1`` down to 0.

    Returns:
        ``output (T, B, hidden_size)`` (``output[t]`` is the state after step ``t``), ``h, c``.
    """
    bound = cell.bind()
    product_kernel = getattr(bound, "product_kernel", None)
    found = None
    if product_kernel is not None and projected.device.type == "cpu":  # NumPy: CPU only
        found = product_kernel()
    if found is None:
        return autograd_sequence(cell, bound, projected, h, c, reverse)
    kernel, basis, unitary = found
    return fused_sequence(cell, kernel, basis, unitary, projected, h, c, reverse)


def autograd_sequence(cell, bound, projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                      reverse: bool = False):
    """:func:`run_sequence` as a loop over :meth:`QLSTMCell.step`, differentiated by autograd."""
    steps = projected.shape[0]
    outputs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
    for t in _order(steps, reverse):
        h, c = cell.step(bound, projected[t], h, c)
        outputs[t] = h
    return torch.stack(outputs), h, c


def fused_sequence(cell, kernel, basis: torch.Tensor, unitary: torch.Tensor | None,
                   projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                   reverse: bool = False):
    """:func:`run_sequence` in one autograd node, computed in NumPy with a hand-written backward
    pass (CPU tensors only).

    ``kernel, basis, unitary`` come from ``cell.bind().product_kernel()``; gradients reach the
    circuit weights through ``basis`` and ``unitary``.
    """
    plan = _Plan(kernel, cell.gate_circuit, reverse, torch.is_grad_enabled())
    return _FusedSequence.apply(plan, projected, h, c, cell.weight_hh, cell.weight_out,
                                cell.bias_out, basis, unitary)


def _order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


class _Plan:
    """What :class:`_FusedSequence` needs besides tensors."""

    def __init__(self, kernel, gate_circuit, reverse: bool, grad_enabled: bool) -> None:
        self.kernel, self.gate_circuit = kernel, gate_circuit
        self.reverse, self.grad_enabled = reverse, grad_enabled
        # (n_qubits, V): sums the gradients of the selected inputs into their features
        features = gate_circuit.input_features[kernel.index]
        self.gather = np.zeros((gate_circuit.spec.n_qubits, len(features)),
                               dtype=kernel.signs.dtype)
        self.gather[features, np.arange(len(features))] = 1


def _array(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().resolve_conj().numpy()


class _FusedSequence(torch.autograd.Function):
    """Forward: the LSTM recurrence with the gate circuits as a product kernel. Backward: BPTT.

    Per step, with ``G = 4`` gates in the order (i, f, g, o) and ``n`` qubits::

        z = projected[t] + h @ weight_hh.T              (B, G n) -> (G, B, n)
        q = kernel(operands, encode(z))                 (G, B, n) expectation values
        a = q @ weight_out.T + bias_out                 (G, B, H)
        c = sigmoid(a_f) c + sigmoid(a_i) tanh(a_g);    h = sigmoid(a_o) tanh(c)
    """

    @staticmethod
    def forward(ctx, plan, projected, h, c, weight_hh, weight_out, bias_out, basis, unitary):
        kernel, gate_circuit = plan.kernel, plan.gate_circuit
        steps, batch = projected.shape[:2]
        gates, n_qubits = weight_out.shape[0], weight_out.shape[2]
        keep = plan.grad_enabled and any(ctx.needs_input_grad)
        x, h, c = _array(projected), _array(h), _array(c)
        weight_hh_t, weight_out_t = _array(weight_hh).T, _array(weight_out).transpose(0, 2, 1)
        bias = None if bias_out is None else _array(bias_out)[:, None, :]
        operands = kernel.operands(_array(basis), _array(unitary), gates)
        outputs = np.empty((steps, batch, weight_out.shape[1]), dtype=x.dtype)
        tape = []
        for t in _order(steps, plan.reverse):
            z = (x[t] + h @ weight_hh_t).reshape(batch, gates, n_qubits).transpose(1, 0, 2)
            angles = gate_circuit.encode(z, np).transpose(0, 2, 1)[:, kernel.index]  # (G, V, B)
            values, kernel_saved = kernel.forward(operands, angles)
            pre = values @ weight_out_t
            if bias is not None:
                pre += bias
            act = 0.5 + 0.5 * np.tanh(0.5 * pre)  # sigmoid; act[2] is unused: g takes tanh
            candidate = np.tanh(pre[2])
            c_next = act[1] * c + act[0] * candidate
            tanh_c = np.tanh(c_next)
            h_next = act[3] * tanh_c
            if keep:
                tape.append((t, h, c, z, kernel_saved, values, act, candidate, tanh_c))
            h, c = h_next, c_next
            outputs[t] = h
        ctx.plan, ctx.tape = plan, tape
        ctx.operands, ctx.basis_circuits = operands, basis.shape[0]
        ctx.save_for_backward(weight_hh, weight_out)
        return torch.from_numpy(outputs), torch.from_numpy(h), torch.from_numpy(c)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output, grad_h, grad_c):
        plan = ctx.plan
        kernel = plan.kernel
        weight_hh, weight_out = (_array(tensor) for tensor in ctx.saved_tensors)
        operands = ctx.operands
        grad_output, dh, dc = _array(grad_output), _array(grad_h), _array(grad_c)
        steps, batch = grad_output.shape[:2]
        gates, n_qubits = weight_out.shape[0], weight_out.shape[2]
        tape = ctx.tape[::-1]
        # d angles / d features of every step at once: (T, G, V, B) in the kernel's layout
        features = np.stack([entry[3] for entry in tape])  # (T, G, B, n)
        slopes = plan.gate_circuit.encode_slopes(features, np).transpose(0, 1, 3, 2)
        slopes = slopes[:, :, kernel.index]
        grad_projected = np.empty((steps, batch, gates * n_qubits), dtype=grad_output.dtype)
        pieces, grad_pres, values_seen, grad_zs, h_seen = [], [], [], [], []
        for k, (t, h, c, _z, kernel_saved, values, act, candidate, tanh_c) in enumerate(tape):
            dh = dh + grad_output[t]
            dc = dc + dh * act[3] * (1 - tanh_c * tanh_c)
            sigmoid_slope = act * (1 - act)
            grad_pre = np.stack((dc * candidate * sigmoid_slope[0], dc * c * sigmoid_slope[1],
                                 dc * act[0] * (1 - candidate * candidate),
                                 dh * tanh_c * sigmoid_slope[3]))  # (G, B, H)
            dc = dc * act[1]
            grad_angles, piece = kernel.backward(operands, kernel_saved, grad_pre @ weight_out)
            grad_z = plan.gather @ (grad_angles * slopes[k])  # (G, n, B)
            grad_z = grad_z.transpose(2, 0, 1).reshape(batch, gates * n_qubits)
            grad_projected[t] = grad_z
            dh = grad_z @ weight_hh
            pieces.append(piece)
            grad_pres.append(grad_pre)
            values_seen.append(values)
            grad_zs.append(grad_z)
            h_seen.append(h)
        grad_pre_all = np.concatenate(grad_pres, 1)  # (G, T B, H)
        grad_weight_hh = np.concatenate(grad_zs).T @ np.concatenate(h_seen)
        grad_weight_out = grad_pre_all.transpose(0, 2, 1) @ np.concatenate(values_seen, 1)
        grad_bias_out = grad_pre_all.sum(1) if ctx.needs_input_grad[6] else None
        grad_basis, grad_unitary = kernel.operand_grads(operands, pieces, ctx.basis_circuits)
        return (None, _tensor(grad_projected), _tensor(dh), _tensor(dc),
                _tensor(grad_weight_hh), _tensor(grad_weight_out), _tensor(grad_bias_out),
                _tensor(grad_basis), _tensor(grad_unitary))


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    if array is None:
        return None
    if not array.flags.c_contiguous or any(stride < 0 for stride in array.strides):
        array = array.copy()
    return torch.from_numpy(array)
