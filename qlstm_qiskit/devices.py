"""Device backends: ``fake_<device>`` (local testing mode) and ``ibm_<device>`` (IBM Quantum).

Both take one code path, :func:`device_backend`: the device is a ``BackendV2`` (a fake device of
``qiskit_ibm_runtime.fake_provider``, or ``QiskitRuntimeService().backend(name)``); each gate
circuit is transpiled once per device and optimization level to an ISA circuit with
``generate_preset_pass_manager`` (:class:`CachedPassManager`), its observables laid out with the
transpiled layout, and evaluated by the runtime's ``EstimatorV2`` with ``mode=`` the device
(``execution="job"``), a ``Batch`` or a ``Session``. Every estimator call goes through a
:class:`~qlstm_qiskit.ledger.LedgerEstimator`, which tags, counts, splits over the per-job limit,
previews (dry run) and, with a ledger, records and resumes the jobs.

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

import os
import warnings
from functools import lru_cache
from typing import Any

from .checks import import_optional

FAMILIES = ("fake", "ibm")
EXECUTION_MODES = ("job", "batch", "session")
IBM_INSTALL = 'pip install "qlstm-qiskit[ibm]"'
TOKEN_VAR = "QISKIT_IBM_TOKEN"
INSTANCE_VAR = "QISKIT_IBM_INSTANCE"
CHANNEL_VAR = "QISKIT_IBM_CHANNEL"
DEFAULT_CHANNEL = "ibm_quantum_platform"
SAVE_ACCOUNT_HINT = (
    "save an account once with: from qiskit_ibm_runtime import QiskitRuntimeService; "
    'QiskitRuntimeService.save_account(channel="ibm_quantum_platform", token="<API key>", '
    'instance="<CRN or instance name>"), or set the environment variables '
    f"{TOKEN_VAR} (and {INSTANCE_VAR}, optionally {CHANNEL_VAR})")


def runtime(owner: str):
    """The ``qiskit_ibm_runtime`` module, or an ``ImportError`` with the pip command."""
    return import_optional(owner, "qiskit_ibm_runtime", IBM_INSTALL)


def runtime_available() -> bool:
    """Whether qiskit-ibm-runtime can be imported."""
    try:
        runtime("")
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def fake_device_names() -> tuple[str, ...]:
    """Names of every fake device of ``qiskit_ibm_runtime.fake_provider`` (sorted)."""
    runtime("fake devices")
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():  # some fake devices warn that their error values are made up
        warnings.simplefilter("ignore", UserWarning)
        return tuple(sorted(b.name for b in FakeProviderForBackendV2().backends()))


def fake_device(name: str):
    """The fake device ``name`` (e.g. ``"fake_manila"``); the error lists the valid names."""
    names = fake_device_names()
    if name not in names:
        raise ValueError(f"get_backend: unknown fake device {name!r}; valid fake devices: "
                         f"{', '.join(names)}")
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return FakeProviderForBackendV2().backend(name)


def runtime_service():
    """``QiskitRuntimeService`` from the environment variables (``QISKIT_IBM_TOKEN``,
    ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_CHANNEL``) when the token is set, else from the saved
    account. Any failure is a ``ValueError`` that says how to save an account and never contains
    the token."""
    rt = runtime("ibm devices")
    token = os.environ.get(TOKEN_VAR)
    try:
        if token:
            return rt.QiskitRuntimeService(
                channel=os.environ.get(CHANNEL_VAR) or DEFAULT_CHANNEL, token=token,
                instance=os.environ.get(INSTANCE_VAR) or None)
        return rt.QiskitRuntimeService()
    except Exception as exc:  # the runtime raises account, network and parsing errors alike
        reason = f"{type(exc).__name__}: {exc}"
        cause = exc
        if token and token in reason:  # never show (or chain) the token
            reason, cause = reason.replace(token, "***"), None
        source = f"the environment variable {TOKEN_VAR}" if token else "the saved account"
        raise ValueError(f"IBM Quantum credentials from {source} did not work ({reason}); "
                         f"{SAVE_ACCOUNT_HINT}") from cause


def ibm_device(name: str, service=None):
    """``service.backend(name)`` (``service``: :func:`runtime_service` by default)."""
    service = runtime_service() if service is None else service
    try:
        return service.backend(name)
    except Exception as exc:
        raise ValueError(f"get_backend: IBM Quantum has no device {name!r} for this account "
                         f"({type(exc).__name__}: {exc})") from exc


#: seed of the preset pass manager's stochastic layout and routing passes.
TRANSPILER_SEED = 1234


class CachedPassManager:
    """A preset pass manager for one device and optimization level that transpiles each circuit
    once: ``run`` returns the cached ISA circuit for a circuit it has seen. ``transpiled`` counts
    the real transpilations."""

    def __init__(self, device, optimization_level: int) -> None:
        from qiskit.transpiler import generate_preset_pass_manager

        # a fixed transpiler seed: the same layout and routing in every process, so the ISA
        # circuit (part of each job's ledger key) is the same on a rerun and resuming works
        self.pass_manager = generate_preset_pass_manager(
            optimization_level=optimization_level, backend=device,
            seed_transpiler=TRANSPILER_SEED)
        self.transpiled = 0
        self._isa: dict[int, tuple[Any, Any]] = {}  # id(circuit) -> (circuit, ISA circuit)

    def run(self, circuit):
        if id(circuit) not in self._isa:
            self._isa[id(circuit)] = (circuit, self.pass_manager.run(circuit))
            self.transpiled += 1
        return self._isa[id(circuit)][1]


_PASS_MANAGERS: dict[tuple[str, int, int], CachedPassManager] = {}


def cached_pass_manager(device, optimization_level: int) -> CachedPassManager:
    """The :class:`CachedPassManager` of a device (by name and object) and optimization level."""
    key = (device.name, id(device), optimization_level)
    if key not in _PASS_MANAGERS:
        _PASS_MANAGERS[key] = CachedPassManager(device, optimization_level)
    return _PASS_MANAGERS[key]


@lru_cache(maxsize=None)
def _device(family: str, name: str):
    """One device object per name and process, so that its transpilations are cached."""
    return fake_device(name) if family == "fake" else ibm_device(name)


def estimator_options(opts: dict[str, Any], local: bool) -> dict[str, Any]:
    """The runtime ``EstimatorV2`` options of a device backend's options.

    ``shots`` become ``default_shots`` on a real device; locally the runtime turns
    ``default_shots`` into ``precision = 1/sqrt(shots)`` and then samples ``ceil(1/precision²)``
    shots (one too many after rounding), so there ``default_precision`` is set to the precision
    that samples exactly ``shots``. ``job_tags`` start with the run's name."""
    from .primitive import shots_precision

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
        raise ImportError(f"device backends need qiskit_ibm_runtime.EstimatorV2, which this "
                          f"qiskit-ibm-runtime ({rt.__version__}) no longer has; install a "
                          "version that has it: pip install \"qiskit-ibm-runtime>=0.40,<0.60\"")
    with warnings.catch_warnings():
        # EstimatorV2 is deprecated since 0.50 in favour of the executor-based Estimator, which
        # cannot run fake devices above a few qubits locally (see the module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = estimator_class(mode=mode, options=estimator_options(opts, local))
    return estimator, (None if mode is device else mode)


def device_backend(profile, name: str):
    """The :class:`~qlstm_qiskit.ledger.DeviceBackend` of ``name`` (``fake_*`` or ``ibm_*``)
    configured by the device ``profile`` (its options already validated)."""
    from .ledger import DeviceBackend

    family = profile.family
    device = _device(family, name)
    local = family == "fake"
    opts = profile.options
    check_estimator_options(f"backend {name!r}", estimator_options(opts, local))
    pass_manager = cached_pass_manager(device, opts["optimization_level"])
    return DeviceBackend(device, opts, name=name, computes=profile.computes, local=local,
                         gradient=profile.gradient, pass_manager=pass_manager)
