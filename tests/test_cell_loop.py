"""``QLSTMCell`` in a user's own loop, one call per time step: the bound circuit weights are
reused across the calls (``qlstm_qiskit.bound_cache``) and must give exactly what binding on every
call gives, and be bound again whenever the weights, the backend, the dtype or the autograd state
change or a backward pass has consumed their graph."""

import copy
import io
import pickle

import pytest
import torch

from qlstm_qiskit import QLSTMCell

F64 = torch.float64
STEPS, BATCH = 5, 3


def make_cell(cell: str = "lstm", **options) -> QLSTMCell:
    return QLSTMCell(2, 3, n_qubits=2, seed=1, dtype=F64, cell=cell, **options)


def inputs(seed: int = 0) -> torch.Tensor:
    return torch.randn(STEPS, BATCH, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


def loop(cell: QLSTMCell, x: torch.Tensor, uncached: bool = False) -> torch.Tensor:
    """The user's loop: one call per step; ``uncached``: bind on every call (``cell.run`` with
    no bound result binds itself), the path without the cache."""
    h = torch.zeros(BATCH, cell.hidden_size, dtype=F64)
    c = torch.zeros_like(h)
    outputs = []
    for x_t in x:
        if uncached:
            y, h, c = cell.run(cell.project_input(x_t).unsqueeze(0), h, c)
            outputs.append(y[0])
        else:
            y, (h, c) = cell.forward_with_output(x_t, (h, c))
            outputs.append(y)
    return torch.stack(outputs)


def loss_of(output: torch.Tensor) -> torch.Tensor:
    return (output * torch.linspace(-1, 1, output.numel(), dtype=F64).view_as(output)).sum()


def grads(cell: QLSTMCell) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in cell.named_parameters()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("variant", ["lstm", "chen"])
def test_a_loop_with_one_backward_equals_binding_on_every_call(variant):
    cached, uncached = make_cell(variant), make_cell(variant)
    x = inputs()
    out_cached = loop(cached, x)
    out_uncached = loop(uncached, x, uncached=True)
    torch.testing.assert_close(out_cached, out_uncached, rtol=0, atol=1e-12)
    loss_of(out_cached).backward()
    loss_of(out_uncached).backward()
    assert_same(grads(cached), grads(uncached))
    assert grads(cached)["weight_q"].abs().sum() > 0


def test_the_calls_of_one_loop_share_one_bound_result():
    cell = make_cell()
    x = inputs()
    h, c = cell(x[0])
    entry = cell.bound_cache.entry
    assert entry is not None
    cell(x[1], (h, c))
    assert cell.bound_cache.entry is entry  # a hit: not bound again


class Loop(torch.nn.Module):
    def __init__(self, cell: QLSTMCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return loop(self.cell, x)


def test_the_loop_gradient_of_the_circuit_weights_passes_gradcheck():
    model = Loop(make_cell())
    x = inputs()[:3]

    def run(weight_q):  # the same weight_q tensor for every call of the loop: a cache hit
        return torch.func.functional_call(model, {"cell.weight_q": weight_q}, (x,), strict=False)

    weight_q = model.cell.weight_q.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (weight_q,))


def test_two_backward_passes_in_a_row_bind_again_and_accumulate():
    cell = make_cell()
    x = inputs()
    loss_of(loop(cell, x)).backward()
    first = grads(cell)
    loss_of(loop(cell, x)).backward()  # the first graph was freed: this must bind again
    assert_same(grads(cell), {name: 2 * g for name, g in first.items()})


def test_lbfgs_closures_equal_the_uncached_loop():
    x, target = inputs(), torch.randn(STEPS, BATCH, 3, dtype=F64)
    cells = {"cached": make_cell(), "uncached": make_cell()}
    calls = {name: 0 for name in cells}
    for name, cell in cells.items():
        optimizer = torch.optim.LBFGS(cell.parameters(), lr=0.8, max_iter=3)

        def closure(cell=cell, name=name, optimizer=optimizer):
            optimizer.zero_grad()
            loss = ((loop(cell, x, uncached=name == "uncached") - target) ** 2).mean()
            loss.backward()
            calls[name] += 1
            return loss

        for _ in range(2):
            optimizer.step(closure)
    assert calls["cached"] == calls["uncached"] >= 4  # several closure calls per step
    for (name, a), b in zip(
        cells["cached"].named_parameters(), cells["uncached"].parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)
    assert not torch.equal(cells["cached"].weight_q, make_cell().weight_q)  # it trained


def fresh_output(cell: QLSTMCell, x_t: torch.Tensor) -> torch.Tensor:
    """The cell's output for ``x_t`` from zero states, the weights bound anew."""
    with torch.no_grad():
        h = torch.zeros(x_t.shape[0], cell.hidden_size, dtype=x_t.dtype)
        return cell.run(cell.project_input(x_t).unsqueeze(0), h, torch.zeros_like(h))[0][0]


def edit_step(cell):
    optimizer = torch.optim.SGD(cell.parameters(), lr=0.5)
    loss_of(loop(cell, inputs())).backward()
    optimizer.step()


def edit_load_state_dict(cell):
    other = QLSTMCell(2, 3, n_qubits=2, seed=2, dtype=F64)
    cell.load_state_dict(other.state_dict())


def edit_no_grad(cell):
    with torch.no_grad():
        cell.weight_q.mul_(3)


def edit_data(cell):
    cell.weight_q.data.add_(0.5)  # does not bump weight_q._version


def edit_data_assignment(cell):
    cell.weight_q.data = cell.weight_q.data + 0.5


@pytest.mark.parametrize(
    "edit", [edit_step, edit_load_state_dict, edit_no_grad, edit_data, edit_data_assignment]
)
@pytest.mark.parametrize("grad", [True, False])
def test_the_cache_is_invalid_after_the_weights_change(edit, grad):
    cell = make_cell()
    x_t = inputs()[0]
    with torch.set_grad_enabled(grad):
        cell(x_t)  # cached
    before = fresh_output(cell, x_t)
    edit(cell)
    after = fresh_output(cell, x_t)
    assert not torch.allclose(before, after)
    with torch.set_grad_enabled(grad):
        h, _c = cell(x_t)
    torch.testing.assert_close(h, after, rtol=0, atol=1e-12)


def test_set_backend_binds_with_the_new_executor():
    cell = make_cell()
    x_t = inputs()[0]
    cell(x_t)
    old = cell.bound_cache.entry.executor
    cell.set_backend("statevector", method="gates")
    assert cell.executor is not old
    h, _c = cell(x_t)
    assert cell.bound_cache.entry.executor is cell.executor
    torch.testing.assert_close(h, fresh_output(cell, x_t), rtol=0, atol=1e-12)


def test_to_another_dtype_binds_again():
    cell = make_cell()
    x_t = inputs()[0]
    cell(x_t)
    cell.to(torch.float32)
    h, _c = cell(x_t.float())
    assert h.dtype == torch.float32
    torch.testing.assert_close(h, fresh_output(cell, x_t.float()), rtol=0, atol=1e-6)


def test_a_result_bound_without_grad_is_not_used_for_gradients():
    cell, reference = make_cell(), make_cell()
    x = inputs()
    with torch.no_grad():
        loop(cell, x)
    loss_of(loop(cell, x)).backward()
    loss_of(loop(reference, x, uncached=True)).backward()
    assert_same(grads(cell), grads(reference))


def test_inference_mode_then_training_mode():
    cell = make_cell()
    x = inputs()
    with torch.inference_mode():
        loop(cell, x)
    loss_of(loop(cell, x)).backward()
    assert cell.weight_q.grad is not None and cell.weight_q.grad.abs().sum() > 0


def test_functional_call_uses_the_tensors_passed():
    cell = make_cell()
    x_t = inputs()[0]
    cell(x_t)
    params = {name: p.detach() + 0.25 for name, p in cell.named_parameters()}
    h, _c = torch.func.functional_call(cell, params, (x_t,))
    other = make_cell()
    with torch.no_grad():
        for name, p in other.named_parameters():
            p.copy_(params[name])
    torch.testing.assert_close(h, fresh_output(other, x_t), rtol=0, atol=1e-12)


def test_a_cell_with_a_graph_in_its_cache_copies_and_pickles():
    cell = make_cell()
    x = inputs()
    output = loop(cell, x)  # the cache holds a result with a graph
    for copied in (copy.deepcopy(cell), pickle.loads(pickle.dumps(cell))):
        assert copied.bound_cache.entry is None
        torch.testing.assert_close(loop(copied, x), output.detach(), rtol=0, atol=1e-12)
    buffer = io.BytesIO()
    torch.save(cell, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    torch.testing.assert_close(loop(loaded, x), output.detach(), rtol=0, atol=1e-12)
