"""The IBM runtime's Estimator for ``ibm_<device>``: the executor-based one where the installed
qiskit-ibm-runtime has it, the legacy ``EstimatorV2`` otherwise, with a device backend's options
mapped onto the runtime's options.

Which primitive (:func:`installed_primitive`):

- ``"executor"``: ``qiskit_ibm_runtime.executor_estimator.Estimator`` (qiskit-ibm-runtime 0.50 and
  later), the client-side Estimator built on the Executor primitive that IBM's migration guide
  names as the successor; its options are ``qiskit_ibm_runtime.options_models.EstimatorOptions``.
- ``"legacy"``: ``qiskit_ibm_runtime.estimator.EstimatorV2`` (deprecated since 0.50), with
  ``qiskit_ibm_runtime.options.EstimatorOptions``; used only where the runtime has no executor.

Every runtime name is imported by its explicit module path, so a top-level name that changes its
meaning (IBM plans to point ``qiskit_ibm_runtime.EstimatorV2`` at the executor) changes nothing
here. Fake devices never use these primitives (the executor's local mode simulates every qubit of
the device): see :mod:`~qlstm_qiskit.backends.local_device`.

The options (:func:`estimator_options`), the same for both primitives:

========================  ==============================================================
device backend option     runtime option
========================  ==============================================================
``shots``                 ``default_shots`` (the precision is ``1/sqrt(shots)``; no PUB
                          carries a precision of its own)
``resilience_level``      ``resilience_level`` (0, 1 or 2; the runtime's default is 1)
``twirling``              ``twirling.enable_gates`` and ``enable_measure`` (a bool), or a
                          table of ``twirling`` options
``dynamical_decoupling``  ``dynamical_decoupling.enable`` (a bool), ``sequence_type`` (a
                          sequence name), or a table of options
``max_execution_time``    ``max_execution_time`` (seconds of QPU time per job)
``run_name``, ``job_tags``  ``environment.job_tags``: the run's name first, then the tags
========================  ==============================================================
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from typing import Any

from .ibm_account import mode_refused
from .ibm_runtime import RUNTIME_REQUIREMENT, runtime

__all__ = [
    "PRIMITIVES",
    "check_estimator_options",
    "estimator_options",
    "installed_primitive",
    "job_tags",
    "make_estimator",
    "run_name",
]

#: primitive -> (module, Estimator class, options module, options class)
PRIMITIVES = {
    "executor": (
        "qiskit_ibm_runtime.executor_estimator",
        "Estimator",
        "qiskit_ibm_runtime.options_models",
        "EstimatorOptions",
    ),
    "legacy": (
        "qiskit_ibm_runtime.estimator",
        "EstimatorV2",
        "qiskit_ibm_runtime.options",
        "EstimatorOptions",
    ),
}
#: the runtime's execution modes, by their module paths
MODE_CLASSES = {
    "batch": ("qiskit_ibm_runtime.batch", "Batch"),
    "session": ("qiskit_ibm_runtime.session", "Session"),
}


def installed_primitive() -> str:
    """``"executor"`` where the installed qiskit-ibm-runtime has
    ``qiskit_ibm_runtime.executor_estimator``, else ``"legacy"``."""
    runtime("device backends")
    if importlib.util.find_spec("qiskit_ibm_runtime.executor_estimator") is not None:
        return "executor"
    return "legacy"


def _load(module: str, name: str):
    rt = runtime("device backends")
    found = getattr(importlib.import_module(module), name, None)
    if found is None:
        raise ImportError(
            f"device backends need {module}.{name}, which this qiskit-ibm-runtime "
            f"({rt.__version__}) does not have; install a supported version: "
            f'pip install "{RUNTIME_REQUIREMENT}"'
        )
    return found


def estimator_class(primitive: str):
    """The runtime Estimator class of ``primitive`` (``"executor"`` or ``"legacy"``)."""
    module, name, _, _ = PRIMITIVES[primitive]
    return _load(module, name)


def estimator_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The runtime Estimator options of a device backend's options (table in the module
    docstring); keys the user left unset are left out."""
    options: dict[str, Any] = {"default_shots": opts["shots"]}
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
    if opts["max_execution_time"] is not None:
        options["max_execution_time"] = opts["max_execution_time"]
    options["environment"] = {"job_tags": job_tags(opts)}
    return options


def job_tags(opts: dict[str, Any]) -> list[str]:
    """The run's name, then the user's ``job_tags``."""
    tags = opts["job_tags"]
    tags = [tags] if isinstance(tags, str) else list(tags or ())
    return [run_name(opts), *[t for t in tags if t != run_name(opts)]]


def run_name(opts: dict[str, Any]) -> str:
    return opts["run_name"] or "qlstm-qiskit"


def check_estimator_options(owner: str, options: dict[str, Any], primitive: str) -> None:
    """Validate runtime options (twirling and dynamical-decoupling tables included) with the
    options class of ``primitive``, without contacting anything; a bad value is a
    ``ValueError`` naming the option."""
    _, _, module, name = PRIMITIVES[primitive]
    options_class = _load(module, name)
    try:
        options_class(**options)
    except Exception as exc:  # pydantic's ValidationError and the runtime's own errors
        raise ValueError(f"{owner}: invalid runtime estimator options ({exc})") from exc


def make_estimator(device, opts: dict[str, Any], primitive: str):
    """The runtime Estimator of ``primitive`` in the execution mode of ``opts``: ``mode=`` the
    device, a ``Batch`` or a ``Session`` on it; returns ``(estimator, mode or None)``. A
    ``Batch``/``Session`` the service refuses to open (a plan without sessions) is a
    ``ValueError`` that suggests the modes to use instead (:func:`.ibm_account.mode_refused`)."""
    mode = device
    execution = opts["execution"]
    if execution in MODE_CLASSES:
        mode_class = _load(*MODE_CLASSES[execution])
        try:
            mode = mode_class(backend=device)
        except Exception as exc:  # the service's refusal (RequestsApiError, IBMRuntimeError)
            raise mode_refused(device.name, execution, exc) from exc
    with warnings.catch_warnings():
        # the legacy EstimatorV2 is deprecated since 0.50; it runs only where the installed
        # runtime has no executor-based Estimator (installed_primitive)
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = estimator_class(primitive)(mode=mode, options=estimator_options(opts))
    return estimator, (None if mode is device else mode)
