"""Device backends: ``fake_<device>`` (simulated locally) and ``ibm_<device>`` (IBM Quantum).

Both take one code path, :func:`device_backend`: the device is a ``BackendV2`` (a fake device of
``qiskit_ibm_runtime.fake_provider``, or ``service.backend(name)`` of a ``QiskitRuntimeService``);
each gate circuit is transpiled once per device and optimization level to an ISA circuit with
``generate_preset_pass_manager`` (:class:`CachedPassManager`), its observables laid out with the
transpiled layout, and every estimator call goes through a
:class:`~qlstm_qiskit.backends.jobs.LedgerEstimator`, which tags, counts, splits over the per-job
limit, previews (dry run) and, with a ledger, records and resumes the jobs. What runs the jobs:

- ``ibm_<device>``: the runtime's Estimator (:mod:`~qlstm_qiskit.backends.runtime_estimator`:
  the executor-based one where the installed runtime has it, else the legacy ``EstimatorV2``)
  with ``mode=`` the device (``execution="job"``), a ``Batch`` or a ``Session``;
- ``fake_<device>``: :class:`~qlstm_qiskit.backends.local_device.ActiveQubitEstimator`, which
  samples the ISA circuits on their active qubits only, with the device's noise model, seeded per
  job. Resilience, twirling, dynamical decoupling, ``max_execution_time`` and the execution mode
  are not simulated (a ``UserWarning`` names those that are set); they still price the cost
  preview. Local jobs cannot be retrieved by id after the process ends.

``ibm_least_busy`` is resolved to a device before anything else (the backend carries its name);
the account's plan is checked against the execution mode (no sessions on the Open Plan): see
:mod:`~qlstm_qiskit.backends.ibm_account`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from .cost import CostPreview
from .cost_model import device_pricing
from .ibm_account import LEAST_BUSY, check_execution_mode, least_busy_device
from .jobs import LedgerEstimator
from .ledger import Ledger
from .local_device import ActiveQubitEstimator, unsimulated_options
from .mitigation import mitigation_of
from .primitive import PrimitiveBackend
from .profiles import EXECUTION_MODES, FAMILIES
from .runtime_estimator import (
    check_estimator_options,
    estimator_options,
    installed_primitive,
    job_tags,
    make_estimator,
)
from .transpile import cached_device, cached_pass_manager

__all__ = [
    "EXECUTION_MODES",
    "FAMILIES",
    "DeviceBackend",
    "device_backend",
    "device_backends",
    "preview",
]

#: options never shown in a backend's description (objects)
HIDDEN_OPTIONS = ("service",)


def device_backend(profile, name: str):
    """The :class:`DeviceBackend` of ``name`` (``fake_*``, ``ibm_*`` or ``ibm_least_busy``)
    configured by the device ``profile`` (its options already validated).

    For ``ibm_*``, before anything is submitted: ``ibm_least_busy`` is resolved to the least busy
    operational device (the backend then carries that device's name, shows
    ``requested='ibm_least_busy'`` among its options, and its ledger keys and transpilations are
    the resolved device's), and ``execution="session"`` is refused on the Open Plan (see
    :mod:`~qlstm_qiskit.backends.ibm_account`)."""
    family = profile.family
    opts = profile.options
    if opts["mitigate"] is not None and opts["resilience_level"] is None:
        # client-side mitigation replaces the runtime's (whose default, level 1, is TREX)
        opts = dict(opts, resilience_level=0)
    local = family == "fake"
    requested = name
    service = opts["service"]
    if name == LEAST_BUSY:
        service, chosen = least_busy_device(service, opts["min_qubits"])
        name = chosen.name
    device = cached_device(family, name, None if local else service)
    check_device_shots(name, device, opts["shots"])
    # the runtime's own options class checks them (tables included), also for a fake device,
    # whose options still price the cost preview
    primitive = installed_primitive()
    check_estimator_options(f"backend {name!r}", estimator_options(opts), primitive)
    if local:
        unsimulated = unsimulated_options(opts)
        if unsimulated:
            warnings.warn(
                f"backend {name!r}: not simulated on a fake device: {', '.join(unsimulated)} (its "
                "circuits are sampled on the device's noise model as they are); these options "
                "price the cost preview only",
                UserWarning,
                stacklevel=3,
            )
        primitive, service = None, None
    else:
        service = service if service is not None else device.service
        check_execution_mode(f"backend {name!r}", service, opts["execution"])
    pass_manager = cached_pass_manager(device, opts["optimization_level"])
    return DeviceBackend(
        device,
        opts,
        name=name,
        requested=requested,
        computes=profile.computes,
        primitive=primitive,
        service=service,
        gradient=profile.gradient,
        pass_manager=pass_manager,
    )


def check_device_shots(name: str, device, shots: int) -> None:
    """``shots`` within the device's ``max_shots`` (its configuration's, where it has one)."""
    configuration = getattr(device, "configuration", None)
    limit = getattr(configuration(), "max_shots", None) if callable(configuration) else None
    if isinstance(limit, int) and limit > 0 and shots > limit:
        raise ValueError(
            f"backend {name!r}: shots must be at most the device's max_shots {limit:,}, "
            f"got {shots:,}"
        )


class DeviceBackend(PrimitiveBackend):
    """A ``fake_<device>`` or ``ibm_<device>`` backend (built by
    :func:`device_backend`): a :class:`~qlstm_qiskit.backends.primitive.PrimitiveBackend` whose
    estimator is a :class:`~qlstm_qiskit.backends.jobs.LedgerEstimator` around the runtime
    Estimator (``ibm_<device>``) or an :class:`ActiveQubitEstimator` (``fake_<device>``).

    ``computes`` is ``"noisy"``: sampled shots on the device's noise model (fake devices) or on
    the hardware. The module docstring says what a fake device simulates."""

    def __init__(
        self,
        device,
        opts: dict[str, Any],
        *,
        name: str,
        requested: str | None = None,
        computes: str,
        primitive: str | None,
        service,
        gradient: str,
        pass_manager,
    ) -> None:
        self.device = device
        self.local = primitive is None
        #: the name asked for: ``name`` itself, or ``"ibm_least_busy"`` (resolved to ``name``)
        self.requested = requested or name
        #: the ``QiskitRuntimeService`` of an ``ibm_*`` device (usage, re-attaching jobs);
        #: ``None`` for a fake device
        self.service = service
        #: ``"executor"`` or ``"legacy"`` (the runtime Estimator of ``ibm_<device>``); ``None``
        #: for a fake device (:class:`ActiveQubitEstimator`)
        self.primitive = primitive
        #: prices the jobs of a preview: the device's rep_delay and target, the options' overhead
        self.pricing = device_pricing(device, opts)
        ledger = Ledger(opts["ledger"]) if opts["ledger"] is not None else None
        if self.local:

            def make():
                return ActiveQubitEstimator(device, opts["shots"]), None

        else:

            def make():
                return make_estimator(device, opts, primitive)

        estimator = LedgerEstimator(
            make,
            backend_name=name,
            options=opts,
            shots=opts["shots"],
            max_executions=opts["max_executions"],
            ledger=ledger,
            tags=job_tags(opts),
            service=service,
            simulator_seed=opts["seed"] if self.local else None,
            primitive=primitive or "local",
            pricing=self.pricing,
        )
        shown = {} if self.requested == name else {"requested": self.requested}
        shown |= {
            k: v
            for k, v in opts.items()
            if v is not None
            and k not in HIDDEN_OPTIONS
            and (gradient == "spsa" or not k.startswith("spsa"))
        }
        super().__init__(
            estimator,
            name=name,
            computes=computes,
            gradient=gradient,
            pass_manager=pass_manager,
            spsa_samples=opts["spsa_samples"],
            spsa_epsilon=opts["spsa_epsilon"],
            seed=opts["seed"],
            options=shown,
            mitigation=mitigation_of(opts),
            basis_gates=device.target.operation_names,
        )

    @property
    def real(self) -> bool:
        """Whether jobs go to IBM Quantum hardware (not a local fake device)."""
        return not self.local

    @contextmanager
    def preview(self):
        """Within the block, estimator calls are counted (and answered with zeros), nothing is
        submitted; yields the :class:`CostPreview`, each job priced by :attr:`pricing` (IBM's
        model: see :mod:`~qlstm_qiskit.backends.cost_model`)."""
        preview = CostPreview(self.name, self.estimator.shots, pricing=self.pricing)
        self.estimator.preview = preview
        try:
            yield preview
        finally:
            self.estimator.preview = None

    def close(self) -> None:
        """Close the ``Batch``/``Session`` of ``execution="batch"``/``"session"``."""
        self.estimator.close()


def device_backends(model) -> list[DeviceBackend]:
    """The distinct :class:`DeviceBackend` objects a model's QLSTM layers run on."""
    found: dict[int, DeviceBackend] = {}
    for module in model.modules():
        backend = getattr(module, "backend", None)
        if isinstance(backend, DeviceBackend):
            found[id(backend)] = backend
    return list(found.values())


@contextmanager
def preview(model):
    """Count what ``model`` would submit within the block (see :meth:`DeviceBackend.preview`);
    yields one :class:`CostPreview` (summed over the model's device backends once it ends)."""
    backends = device_backends(model)
    if not backends:
        raise ValueError(
            "preview: the model runs on no device backend (fake_<device> or "
            "ibm_<device>); a dry run needs one"
        )
    total = CostPreview(" + ".join(b.name for b in backends), backends[0].estimator.shots)
    with _all_previews(backends) as previews:
        yield total
        for item in previews:
            total.add(item)


@contextmanager
def _all_previews(backends: list[DeviceBackend]) -> Iterator[list[CostPreview]]:
    with ExitStack() as stack:
        yield [stack.enter_context(b.preview()) for b in backends]
