"""The bound circuit weights of a cell, kept across the calls of a user's step-by-step loop.

``QLSTMCell.forward`` is often called once per time step in a Python loop (the way
``nn.LSTMCell`` is used), and an optimizer such as LBFGS runs that loop many times. Binding the
circuit weights (the weight-only part of the circuit: rotation matrices, folded unitaries) on
every call costs more than the step itself, so :class:`BoundCache` keeps the last bound result
and hands it out again while it is still valid, that is while all of these hold:

- the same executor (``set_backend`` installs a new one) and the same weight tensor objects
  (``torch.func.functional_call`` passes others);
- each weight's ``_version`` is unchanged (every in-place update bumps it: optimizer steps,
  ``load_state_dict``, edits under ``no_grad``) and so are its dtype, device and values (a
  copy taken at bind time is compared with ``torch.equal``: in-place edits of ``.data`` and
  ``.data`` assignments do not bump ``_version``);
- the same autograd mode (grad enabled, inference mode) and ``requires_grad`` flags: a result
  bound without a graph cannot give gradients, one bound in inference mode cannot join a graph;
- the graph of a result bound with grad enabled has not been consumed: the calls of one loop
  share it, their gradients summed by autograd as for any tensor used several times, but a
  backward pass frees it. A hook on a view of each weight (the root of the bound graph) marks the
  result stale as soon as a backward pass reaches it, so the next call binds again (each LBFGS
  closure call: zero_grad, the loop, backward, binds once).

Only CPU weights are cached, outside ``torch.compile`` / ``torch.export`` tracing: the value
comparison would synchronise with an accelerator on every call; there, every call binds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class BoundCache:
    """The last bound result of ``bind(*weights)`` and what it was bound from."""

    def __init__(self) -> None:
        self.entry: BoundEntry | None = None

    def get(self, executor: Any, weights: tuple[torch.Tensor, ...], bind: Callable[..., Any]):
        """``bind(*views)`` of ``weights`` (views of the same shapes), or the cached result of an
        earlier call that is still valid (see the module docstring). ``executor`` identifies the
        compiled circuit ``bind`` uses."""
        if not cacheable(weights):
            self.entry = None
            return bind(*weights)
        entry = self.entry
        if entry is None or not entry.valid(executor, weights):
            entry = self.entry = BoundEntry(executor, weights, bind)
        return entry.bound

    def clear(self) -> None:
        self.entry = None

    # a cached result may hold an autograd graph, which cannot be copied or pickled: copies of a
    # module start with an empty cache
    def __deepcopy__(self, memo) -> BoundCache:
        return BoundCache()

    def __getstate__(self) -> dict:
        return {"entry": None}


def cacheable(weights: tuple[torch.Tensor, ...]) -> bool:
    """CPU tensors outside tracing (see the module docstring)."""
    return not torch.compiler.is_compiling() and all(w.device.type == "cpu" for w in weights)


class BoundEntry:
    """One bound result with its key; ``consumed[0]`` turns true when a backward pass has run
    through its graph."""

    def __init__(
        self, executor: Any, weights: tuple[torch.Tensor, ...], bind: Callable[..., Any]
    ) -> None:
        self.executor, self.weights = executor, weights
        self.mode = autograd_mode(weights)
        self.versions = tuple(w._version for w in weights)
        with torch.no_grad():
            self.snapshots = tuple(w.detach().clone() for w in weights)
        consumed = [False]  # the hook holds this flag, not the entry (no reference cycle)

        def consume(_grad: torch.Tensor) -> None:
            consumed[0] = True

        views = tuple(w.view(w.shape) for w in weights)
        for view in views:
            if view.requires_grad:
                view.register_hook(consume)
        self.consumed = consumed
        self.bound = bind(*views)

    def valid(self, executor: Any, weights: tuple[torch.Tensor, ...]) -> bool:
        return (
            not self.consumed[0]
            and executor is self.executor
            and len(weights) == len(self.weights)
            and all(w is mine for w, mine in zip(weights, self.weights, strict=True))
            and autograd_mode(weights) == self.mode
            and all(
                w._version == version
                and w.dtype == snapshot.dtype
                and w.device == snapshot.device
                and w.shape == snapshot.shape
                and torch.equal(w, snapshot)
                for w, version, snapshot in zip(weights, self.versions, self.snapshots, strict=True)
            )
        )


def autograd_mode(weights: tuple[torch.Tensor, ...]) -> tuple[bool, ...]:
    """Grad mode, inference mode and each weight's ``requires_grad``."""
    return (
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        *(w.requires_grad for w in weights),
    )
