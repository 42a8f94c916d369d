"""The LSTM recurrence of one cell over a whole sequence: its equations, written once, and the two
ways to run them.

The per-step equations (:func:`gate_features`, :func:`gate_preactivations`, :func:`lstm_update`)
take torch tensors or NumPy arrays alike (torch with its fused kernels). Two implementations run
them over a sequence:

- :func:`autograd_sequence` evaluates the gate circuits with any bound executor, once per time
  step, in torch, and lets autograd differentiate it. It works with every backend.
- :func:`fused_sequence` is used when the bound circuit offers a NumPy kernel for the whole
  sequence (``bound.sequence_kernel(batch, steps)``): a :class:`~qlstm_qiskit.sim.ProductKernel`
  (the default circuit among others) or a :class:`~qlstm_qiskit.sim.BlockKernel` (any circuit,
  block by block). It runs the whole sequence in NumPy inside one ``torch.autograd.Function``
  whose backward pass is written by hand (backpropagation through time with the LSTM's and the
  circuit's derivatives), and sums the weight gradients of all time steps. The small per-step
  tensors make the eager autograd loop cost more in bookkeeping than in arithmetic; this removes
  that overhead.

:func:`run_sequence` picks between them. Both give the same outputs and gradients (tested). The
cell variants run on the autograd path: ``input_scaling`` (a trainable scale of the encoded
angles, :attr:`CellWeights.input_scale`; the fused backward has no gradient for it, so
:func:`run_sequence` does not fuse a scaled cell) and ``cell="chen"`` (:func:`chen_step`, run by
:func:`chen_sequence`: the LSTM c-update, then two more VQCs map ``m_t`` to ``h_t`` and the output
``y_t``). The recurrence receives what it uses explicitly: the bound circuit, the
:class:`~qlstm_qiskit.circuits.GateCircuit` (its ``encode`` and ``encode_slopes``), the cell's
classical weights as :class:`CellWeights`, and the tensors.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .circuits import GateCircuit
from .sim import BlockKernel, ProductKernel, torch_blas_threads

#: The four LSTM gates, in the order of torch.nn.LSTM (i, f, g, o).
GATES = ("input", "forget", "cell", "output")
#: The chen cell's two further VQCs on m_t = sigmoid(o) tanh(c_t): VQC5 (to the state h_t) and
#: VQC6 (to the output y_t).
MAPS = ("state", "output_map")


class CellWeights(NamedTuple):
    """A cell's classical weights that act inside the recurrence (``G = 4`` gates, ``n`` qubits,
    ``H`` hidden features, ``R`` features of the recurrent state: ``H``, or ``P`` with a
    projection)."""

    weight_hh: torch.Tensor  #: (G n, R)
    weight_out: torch.Tensor  #: (G, H, n)
    bias_out: torch.Tensor | None  #: (G, H)
    #: (P, H): ``h = weight_hr @ (sigmoid(o) tanh(c))``, fed back (``torch.nn.LSTM``'s
    #: ``proj_size``); ``None``: no projection
    weight_hr: torch.Tensor | None = None
    input_scale: torch.Tensor | None = None  #: (G, n): angles s * enc(z) (``input_scaling``)


class MapWeights(NamedTuple):
    """The weights of the chen cell's two maps of ``m_t = sigmoid(o) tanh(c_t)``: ``state``
    (VQC5, to ``h_t``) and ``output_map`` (VQC6, to ``y_t``), ``M = 2`` hybrid layers like a gate
    (``n`` qubits, ``H`` hidden features)."""

    weight_in: torch.Tensor  #: (M n, H)
    bias_in: torch.Tensor | None  #: (M n)
    weight_out: torch.Tensor  #: (M, H, n)
    bias_out: torch.Tensor | None  #: (M, H)
    input_scale: torch.Tensor | None = None  #: (M, n)


# -- the equations of one step, for torch tensors and NumPy arrays ------------------------------
# (torch gets its fused kernels: fewer autograd nodes on the per-step path)
def gate_features(x_projected, h, weight_hh_t):
    """The circuit features of every gate: ``x_projected (B, G n) + h (B, H) @ weight_hh_t
    (H, G n)`` as ``(G, B, n)`` (``G = 4``)."""
    if isinstance(h, torch.Tensor):
        z = torch.addmm(x_projected, h, weight_hh_t)
    else:
        z = x_projected + h @ weight_hh_t
    return z.reshape(z.shape[0], len(GATES), -1).swapaxes(0, 1)


def gate_preactivations(values, weight_out_t, bias):
    """``values (G, B, n) @ weight_out_t (G, n, H) + bias (G, 1, H)`` (``bias`` may be
    ``None``) -> the gates' pre-activations ``(G, B, H)``."""
    if isinstance(values, torch.Tensor):
        if bias is None:
            return torch.bmm(values, weight_out_t)
        return torch.baddbmm(bias, values, weight_out_t)
    pre = values @ weight_out_t
    if bias is not None:
        pre += bias
    return pre


def lstm_update(pre, c):
    """The LSTM equations on the pre-activations ``pre (4, B, H)`` in the order of :data:`GATES`::

        c' = sigmoid(f) c + sigmoid(i) tanh(g),    h' = sigmoid(o) tanh(c')

    Returns ``h', c'`` and what the hand-written backward pass needs: ``(act, candidate,
    tanh_c)`` with ``act = sigmoid(pre)`` (``act[2]`` unused), ``candidate = tanh(g)`` and
    ``tanh_c = tanh(c')``.
    """
    if isinstance(pre, torch.Tensor):
        xp, act = torch, torch.sigmoid(pre)
    else:
        xp, act = np, 0.5 + 0.5 * np.tanh(0.5 * pre)
    candidate = xp.tanh(pre[2])
    c = act[1] * c + act[0] * candidate
    tanh_c = xp.tanh(c)
    return act[3] * tanh_c, c, (act, candidate, tanh_c)


def autograd_step(
    bound,
    circuit: GateCircuit,
    weights: CellWeights,
    x_projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One time step in torch: ``x_projected (B, G n)``, ``h (B, R)``, ``c (B, H)`` -> ``h, c``
    (``R = P`` with ``weights.weight_hr``, else ``H``); ``bound.expectation`` maps circuit inputs
    ``(G, B, n_inputs)`` to ``(G, B, n)``."""
    features = gate_features(x_projected, h, weights.weight_hh.t())
    values = bound.expectation(circuit.encode(features, scale=_scale(weights.input_scale)))
    bias = None if weights.bias_out is None else weights.bias_out[:, None, :]
    pre = gate_preactivations(values, weights.weight_out.transpose(1, 2), bias)
    h, c, _saved = lstm_update(pre, c)
    if weights.weight_hr is not None:
        h = h @ weights.weight_hr.t()
    return h, c


def chen_step(
    bound,
    map_bound,
    circuit: GateCircuit,
    weights: CellWeights,
    maps: MapWeights,
    x_projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Chen et al.'s six-VQC cell (``cell="chen"``) in torch: the four gates and
    the LSTM c-update of :func:`autograd_step`, whose ``sigmoid(o) tanh(c_t)`` is ``m_t`` here,
    then two more VQCs on ``m_t``::

        c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g),     m_t = sigmoid(o) tanh(c_t)
        h_t = VQC5(m_t),    y_t = VQC6(m_t),    VQC_k(m) = W_out,k <Z>(enc(W_in,k m + b_in,k))
                                                          + b_out,k

    ``map_bound.expectation`` evaluates VQC5 and VQC6 (the gate circuit with the two weight sets
    of ``maps``) in one call: ``(2, B, n_inputs) -> (2, B, n)``. Returns ``h_t, c_t, y_t``, each
    ``(B, H)``.
    """
    m, c = autograd_step(bound, circuit, weights, x_projected, h, c)
    features = torch.nn.functional.linear(m, maps.weight_in, maps.bias_in)  # (B, 2 n)
    features = features.reshape(features.shape[0], len(MAPS), -1).transpose(0, 1)  # (2, B, n)
    values = map_bound.expectation(circuit.encode(features, scale=_scale(maps.input_scale)))
    bias = None if maps.bias_out is None else maps.bias_out[:, None, :]
    h, y = gate_preactivations(values, maps.weight_out.transpose(1, 2), bias)
    return h, c, y


def _scale(input_scale: torch.Tensor | None) -> torch.Tensor | None:
    """``(G, n) -> (G, 1, n)``: the per-qubit angle scale broadcast over the batch."""
    return None if input_scale is None else input_scale[:, None, :]


# -- over a sequence ----------------------------------------------------------------------------
def run_sequence(
    bound,
    circuit: GateCircuit,
    weights: CellWeights,
    projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one cell over a sequence.

    Args:
        bound: the cell's circuit weights bound to its executor (``executor.bind(weights)``).
        circuit: the gate circuit (its encoding).
        weights: the cell's recurrent and output weights.
        projected: ``(T, B, G n)``, the input projections of every step.
        h, c: ``(B, R)`` and ``(B, H)`` initial states (``R = P`` with a projection
            ``weights.weight_hr (P, H)``, else ``H``).
        reverse: visit the time steps from ``T - 1`` down to 0.

    Returns:
        ``output (T, B, R)`` (``output[t]`` is the state after step ``t``), ``h, c``.

    The fused path runs when the backend offers a sequence kernel (its method choice), on CPU
    tensors, without a projection or an input scale and outside ``torch.compile`` /
    ``torch.export`` tracing; otherwise the pure-torch :func:`autograd_sequence` (same results).
    """
    sequence_kernel = getattr(bound, "sequence_kernel", None)
    found = None
    if (
        weights.weight_hr is None  # the hand-written backward has no projection
        and weights.input_scale is None  # nor a gradient for the input scale
        and sequence_kernel is not None
        and projected.device.type == "cpu"  # NumPy: CPU only
        and not torch.compiler.is_compiling()  # NumPy cannot be traced: pure torch instead
    ):
        found = sequence_kernel(projected.shape[1], projected.shape[0])
    if found is None:
        return autograd_sequence(bound, circuit, weights, projected, h, c, reverse)
    kernel, operands = found
    return fused_sequence(kernel, operands, circuit, weights, projected, h, c, reverse)


def autograd_sequence(
    bound,
    circuit: GateCircuit,
    weights: CellWeights,
    projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    reverse: bool = False,
):
    """:func:`run_sequence` as a loop over :func:`autograd_step`, differentiated by autograd."""
    steps = projected.shape[0]
    outputs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
    for t in _order(steps, reverse):
        h, c = autograd_step(bound, circuit, weights, projected[t], h, c)
        outputs[t] = h
    return torch.stack(outputs), h, c


def chen_sequence(
    bound,
    map_bound,
    circuit: GateCircuit,
    weights: CellWeights,
    maps: MapWeights,
    projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    reverse: bool = False,
):
    """:func:`run_sequence` for the chen cell: a loop over :func:`chen_step`, differentiated by
    autograd (the fused NumPy path serves the default cell only). ``output[t]`` is ``y_t``, the
    returned ``h`` is ``h_t`` of the last step visited: ``output[-1]`` differs from ``h``."""
    steps = projected.shape[0]
    outputs: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
    for t in _order(steps, reverse):
        h, c, outputs[t] = chen_step(bound, map_bound, circuit, weights, maps, projected[t], h, c)
    return torch.stack(outputs), h, c


def fused_sequence(
    kernel: ProductKernel | BlockKernel,
    operands: tuple[torch.Tensor | None, ...],
    circuit: GateCircuit,
    weights: CellWeights,
    projected: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    reverse: bool = False,
):
    """:func:`run_sequence` in one autograd node, computed in NumPy with a hand-written backward
    pass (CPU tensors only).

    ``kernel, operands`` come from ``bound.sequence_kernel(batch, steps)``; gradients reach the
    circuit weights through the operand tensors (``None`` entries are skipped).
    """
    plan = _Plan(kernel, circuit, reverse, torch.is_grad_enabled())
    return _FusedSequence.apply(
        plan,
        projected,
        h,
        c,
        weights.weight_hh,
        weights.weight_out,
        weights.bias_out,
        *operands,
    )


def _order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


class _Plan:
    """What :class:`_FusedSequence` needs besides tensors."""

    def __init__(
        self,
        kernel: ProductKernel | BlockKernel,
        gate_circuit: GateCircuit,
        reverse: bool,
        grad_enabled: bool,
    ) -> None:
        self.kernel, self.gate_circuit = kernel, gate_circuit
        self.reverse, self.grad_enabled = reverse, grad_enabled
        # (n_qubits, V): sums the gradients of the selected inputs into their features
        features = gate_circuit.input_features[kernel.index]
        self.gather = np.zeros(
            (gate_circuit.spec.n_qubits, len(features)), dtype=kernel.signs.dtype
        )
        self.gather[features, np.arange(len(features))] = 1


def _array(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().resolve_conj().numpy()


class _FusedSequence(torch.autograd.Function):
    """Forward: the LSTM recurrence with the gate circuits as a NumPy kernel. Backward: BPTT.

    Per step, with ``G = 4`` gates in the order (i, f, g, o) and ``n`` qubits::

        z = projected[t] + h @ weight_hh.T              (B, G n) -> (G, B, n)
        q = kernel(operands, encode(z))                 (G, B, n) expectation values
        a = q @ weight_out.T + bias_out                 (G, B, H)
        c = sigmoid(a_f) c + sigmoid(a_i) tanh(a_g);    h = sigmoid(a_o) tanh(c)
    """

    @staticmethod
    def forward(ctx, plan, projected, h, c, weight_hh, weight_out, bias_out, *tensors):
        with torch_blas_threads():
            return _FusedSequence.run_forward(
                ctx, plan, projected, h, c, weight_hh, weight_out, bias_out, *tensors
            )

    @staticmethod
    def run_forward(ctx, plan, projected, h, c, weight_hh, weight_out, bias_out, *tensors):
        kernel, gate_circuit = plan.kernel, plan.gate_circuit
        steps, batch = projected.shape[:2]
        gates = weight_out.shape[0]
        keep = plan.grad_enabled and any(ctx.needs_input_grad)
        x, h, c = _array(projected), _array(h), _array(c)
        weight_hh_t, weight_out_t = _array(weight_hh).T, _array(weight_out).transpose(0, 2, 1)
        bias = None if bias_out is None else _array(bias_out)[:, None, :]
        operands = kernel.operands([_array(tensor) for tensor in tensors], gates)
        outputs = np.empty((steps, batch, weight_out.shape[1]), dtype=x.dtype)
        tape = []
        for t in _order(steps, plan.reverse):
            z = gate_features(x[t], h, weight_hh_t)  # (G, B, n)
            angles = gate_circuit.encode(z, np).transpose(0, 2, 1)[:, kernel.index]  # (G, V, B)
            values, kernel_saved = kernel.forward(operands, angles)
            pre = gate_preactivations(values, weight_out_t, bias)
            h_next, c_next, (act, candidate, tanh_c) = lstm_update(pre, c)
            if keep:
                tape.append((t, h, c, z, kernel_saved, values, act, candidate, tanh_c))
            h, c = h_next, c_next
            outputs[t] = h
        ctx.plan, ctx.tape = plan, tape
        ctx.operands = operands
        ctx.operand_shapes = [None if tensor is None else tensor.shape for tensor in tensors]
        ctx.save_for_backward(weight_hh, weight_out)
        return torch.from_numpy(outputs), torch.from_numpy(h), torch.from_numpy(c)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output, grad_h, grad_c):
        with torch_blas_threads():
            return _FusedSequence.run_backward(ctx, grad_output, grad_h, grad_c)

    @staticmethod
    def run_backward(ctx, grad_output, grad_h, grad_c):
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
        # the LSTM's local derivatives of every step at once: grad_pre[k] = coefficients[k] *
        # (dc, dc, dc, dh) and dc += dh * through_tanh[k] (in the order visited backwards)
        act = np.stack([entry[6] for entry in tape])  # (T, G, B, H)
        candidate, tanh_c = np.stack([entry[7] for entry in tape]), np.stack([e[8] for e in tape])
        slope = act * (1 - act)
        coefficients = np.empty_like(act)
        coefficients[:, 0] = candidate * slope[:, 0]
        coefficients[:, 1] = np.stack([entry[2] for entry in tape]) * slope[:, 1]
        coefficients[:, 2] = act[:, 0] * (1 - candidate * candidate)
        coefficients[:, 3] = tanh_c * slope[:, 3]
        through_tanh = act[:, 3] * (1 - tanh_c * tanh_c)
        grad_pres = np.empty_like(act)  # (T, G, B, H)
        grad_projected = np.empty((steps, batch, gates * n_qubits), dtype=grad_output.dtype)
        pieces, grad_zs = [], []
        for k, (t, _h, _c, _z, kernel_saved, *_rest) in enumerate(tape):
            dh = dh + grad_output[t]
            dc = dc + dh * through_tanh[k]
            grad_pre = grad_pres[k]
            np.multiply(coefficients[k, :3], dc, out=grad_pre[:3])
            np.multiply(coefficients[k, 3], dh, out=grad_pre[3])
            dc = dc * act[k, 1]
            grad_angles, piece = kernel.backward(operands, kernel_saved, grad_pre @ weight_out)
            grad_z = plan.gather @ (grad_angles * slopes[k])  # (G, n, B)
            grad_z = grad_z.transpose(2, 0, 1).reshape(batch, gates * n_qubits)
            grad_projected[t] = grad_z
            dh = grad_z @ weight_hh
            pieces.append(piece)
            grad_zs.append(grad_z)
        grad_pre_all = grad_pres.transpose(1, 0, 2, 3).reshape(gates, -1, grad_pres.shape[-1])
        grad_weight_hh = np.concatenate(grad_zs).T @ np.concatenate([e[1] for e in tape])
        values_seen = np.concatenate([entry[5] for entry in tape], 1)  # (G, T B, n_obs)
        grad_weight_out = grad_pre_all.transpose(0, 2, 1) @ values_seen
        grad_bias_out = grad_pre_all.sum(1) if ctx.needs_input_grad[6] else None
        grad_operands = kernel.operand_grads(operands, pieces, ctx.operand_shapes)
        return (
            None,
            _tensor(grad_projected),
            _tensor(dh),
            _tensor(dc),
            _tensor(grad_weight_hh),
            _tensor(grad_weight_out),
            _tensor(grad_bias_out),
            *(_tensor(grad) for grad in grad_operands),
        )


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    if array is None:
        return None
    if not array.flags.c_contiguous or any(stride < 0 for stride in array.strides):
        array = array.copy()
    return torch.from_numpy(array)
