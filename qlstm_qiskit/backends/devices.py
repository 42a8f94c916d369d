"""Device backends: ``fake_<device>`` (local testing mode) and ``ibm_<device>`` (IBM Quantum).

Both take one code path, :func:`device_backend`: the device is a ``BackendV2`` (a fake device of
``qiskit_ibm_runtime.fake_provider``, or ``QiskitRuntimeService().backend(name)``); each gate
circuit is transpiled once per device and optimization level to an ISA circuit with
``generate_preset_pass_manager`` (:class:`CachedPassManager`), its observables laid out with the
transpiled layout, and evaluated by the runtime's ``EstimatorV2`` with ``mode=`` the device
(``execution="job"``), a ``Batch`` or a ``Session``. Every estimator call goes through a
:class:`~qlstm_qiskit.backends.jobs.LedgerEstimator`, which tags, counts, splits over the per-job
limit, previews (dry run) and, with a ledger, records and resumes the jobs.

Why ``EstimatorV2`` and not the executor-based ``qiskit_ibm_runtime.executor_estimator.Estimator``
of qiskit-ibm-runtime 0.51: in local testing mode the executor simulates every qubit of the device
(a 2-qubit circuit on FakeBrisbane asks Aer for 127 qubits and fails for lack of memory), while
``EstimatorV2`` runs ``BackendEstimatorV2`` on the device's noise model. ``EstimatorV2`` is
deprecated since 0.50; its construction is the only place where we silence that warning.

Local testing mode (fake devices): shots are sampled on the device's noise model (gate errors,
relaxation, readout); ``resilience_level``, ``twirling`` and ``dynamical_decoupling`` are passed
to the runtime, which only warns that they have no effect locally; ``Batch``/``Session`` are
created and ignored by the runtime; local jobs cannot be retrieved by id after the process ends.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from .cost import CostPreview
from .cost_model import device_pricing
from .estimators import shots_precision
from .ibm_runtime import RUNTIME_REQUIREMENT, runtime
from .jobs import LedgerEstimator
from .ledger import Ledger
from .primitive import PrimitiveBackend
from .profiles import EXECUTION_MODES, FAMILIES, MAX_EXECUTIONS_PER_JOB
from .transpile import cached_device, cached_pass_manager

__all__ = [
    "EXECUTION_MODES",
    "FAMILIES",
    "DeviceBackend",
    "device_backend",
    "device_backends",
    "preview",
]


def estimator_options(opts: dict[str, Any], local: bool) -> dict[str, Any]:
    """The runtime ``EstimatorV2`` options of a device backend's options.

    ``shots`` become ``default_shots`` on a real device; locally the runtime turns
    ``default_shots`` into ``precision = 1/sqrt(shots)`` and then samples ``ceil(1/precision²)``
    shots (one too many after rounding), so there ``default_precision`` is set to the precision
    that samples exactly ``shots``. ``job_tags`` start with the run's name."""
    options: dict[str, Any] = {}
    if local:
        options["default_precision"] = shots_precision(opts["shots"])
    else:
        options["default_shots"] = opts["shots"]
    if local and opts["seed"] is not None:  # LedgerEstimator gives every job its own seed
        options["simulator"] = {"seed_simulator": opts["seed"]}
    if opts["resilience_level"] is not None:
        options["resilience_level"] = opts["resilience_level"]
    twirling = opts["twirling"]
    if isinstance(twirling, bool):
        options["twirling"] = {"enable_gates": twirling, "enable_measure": twirling}
    elif twirling is not None:
        options["twirling"] = dict(twirling)
    dd = opts["dynamical_decoupling"]
    if isinstance(dd, bool):
        options["dynamical_decoupling"] = {"enable": dd}
    elif isinstance(dd, str):
        options["dynamical_decoupling"] = {"enable": True, "sequence_type": dd}
    elif dd is not None:
        options["dynamical_decoupling"] = dict(dd)
    options["environment"] = {"job_tags": job_tags(opts)}
    return options


def job_tags(opts: dict[str, Any]) -> list[str]:
    """The run's name, then the user's ``job_tags``."""
    tags = opts["job_tags"]
    tags = [tags] if isinstance(tags, str) else list(tags or ())
    return [run_name(opts), *[t for t in tags if t != run_name(opts)]]


def run_name(opts: dict[str, Any]) -> str:
    return opts["run_name"] or "qlstm-qiskit"


def check_estimator_options(owner: str, options: dict[str, Any]) -> None:
    """Validate runtime options (twirling and dynamical-decoupling tables included) without
    contacting anything; a bad value is a ``ValueError`` naming the option."""
    rt = runtime(owner)
    try:
        rt.options.EstimatorOptions(**options)
    except Exception as exc:  # pydantic's ValidationError and the runtime's own errors
        raise ValueError(f"{owner}: invalid runtime estimator options ({exc})") from exc


def make_estimator(device, opts: dict[str, Any], local: bool):
    """The runtime ``EstimatorV2`` in the execution mode of ``opts``: ``mode=`` the device, a
    ``Batch`` or a ``Session`` on it; returns ``(estimator, mode or None)``."""
    rt = runtime("device backends")
    mode = device
    if opts["execution"] == "batch":
        mode = rt.Batch(backend=device)
    elif opts["execution"] == "session":
        mode = rt.Session(backend=device)
    estimator_class = getattr(rt, "EstimatorV2", None)
    if estimator_class is None:
        raise ImportError(
            f"device backends need qiskit_ibm_runtime.EstimatorV2, which this "
            f"qiskit-ibm-runtime ({rt.__version__}) no longer has; install a "
            f'supported version: pip install "{RUNTIME_REQUIREMENT}"'
        )
    with warnings.catch_warnings():
        # EstimatorV2 is deprecated since 0.50 in favour of the executor-based Estimator, which
        # cannot run fake devices above a few qubits locally (see the module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = estimator_class(mode=mode, options=estimator_options(opts, local))
    return estimator, (None if mode is device else mode)


def device_backend(profile, name: str):
    """The :class:`DeviceBackend` of ``name`` (``fake_*`` or ``ibm_*``)
    configured by the device ``profile`` (its options already validated)."""
    family = profile.family
    device = cached_device(family, name)
    local = family == "fake"
    opts = profile.options
    check_estimator_options(f"backend {name!r}", estimator_options(opts, local))
    pass_manager = cached_pass_manager(device, opts["optimization_level"])
    return DeviceBackend(
        device,
        opts,
        name=name,
        computes=profile.computes,
        local=local,
        gradient=profile.gradient,
        pass_manager=pass_manager,
    )


class DeviceBackend(PrimitiveBackend):
    """A ``fake_<device>`` or ``ibm_<device>`` backend (built by
    :func:`device_backend`): a :class:`~qlstm_qiskit.backends.primitive.PrimitiveBackend` whose
    estimator is a :class:`~qlstm_qiskit.backends.jobs.LedgerEstimator` around the runtime
    estimator.

    ``computes`` is ``"noisy"``: sampled shots on the device's noise model (fake devices) or on
    the hardware. The module docstring says what local testing mode does."""

    def __init__(
        self,
        device,
        opts: dict[str, Any],
        *,
        name: str,
        computes: str,
        local: bool,
        gradient: str,
        pass_manager,
    ) -> None:
        self.device = device
        self.local = local
        #: prices the jobs of a preview: the device's rep_delay and target, the options' overhead
        self.pricing = device_pricing(device, opts)
        ledger = Ledger(opts["ledger"]) if opts["ledger"] is not None else None
        service = None if local else getattr(device, "service", None)
        estimator = LedgerEstimator(
            lambda: make_estimator(device, opts, local),
            backend_name=name,
            options=opts,
            shots=opts["shots"],
            max_executions=opts["max_executions"],
            ledger=ledger,
            tags=job_tags(opts),
            service=service,
            simulator_seed=opts["seed"] if local else None,
        )
        shown = {
            k: v
            for k, v in opts.items()
            if v is not None
            and (gradient == "spsa" or not k.startswith("spsa"))
            and not (k == "max_executions" and v == MAX_EXECUTIONS_PER_JOB)
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
