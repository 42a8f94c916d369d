"""A user's own Qiskit objects as backends: a ``BackendV2`` (:func:`from_backend`) or a
``BaseEstimatorV2`` (:func:`from_estimator`), with the options that apply to each."""

from __future__ import annotations

from typing import Any

from qiskit.primitives import BaseEstimatorV2
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager

from .estimators import sampling_estimator
from .mitigation import MITIGATION_OPTIONS, mitigation_of
from .primitive import PrimitiveBackend
from .profiles import Profile, check_applicable

#: options accepted with a user's object, with their defaults.
BACKEND_OPTIONS = {
    "gradient": "param_shift",
    "shots": 1024,
    "seed": None,
    "optimization_level": 1,
    "spsa_samples": 4,
    "spsa_epsilon": 0.1,
    **MITIGATION_OPTIONS,  # see qlstm_qiskit.backends.mitigation
}
#: a user's estimator runs circuits as built, on unknown noise: no mitigation options
ESTIMATOR_OPTIONS = {
    "gradient": "param_shift",
    "seed": None,
    "spsa_samples": 4,
    "spsa_epsilon": 0.1,
}


def _object_options(owner: str, what: str, options: dict[str, Any], allowed: dict[str, Any]):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"{owner}: option(s) {', '.join(map(repr, unknown))} do not apply to a "
            f"{what}; valid options: {', '.join(allowed)}"
        )
    merged = {**allowed, **options}
    check_applicable(owner, options, merged["gradient"], merged.get("shots"))
    profile = Profile(
        what,
        "",
        "aer",
        merged["gradient"],
        {
            "method": "statevector",
            "device": "CPU",
            "shots": merged.get("shots"),
            "seed": merged["seed"],
            "basis_gates": None,
            "optimization_level": merged.get("optimization_level", 1),
            "spsa_samples": merged["spsa_samples"],
            "spsa_epsilon": merged["spsa_epsilon"],
            **{k: merged.get(k) for k in MITIGATION_OPTIONS},
        },
    )
    profile.validate(owner)  # same checks as profile options
    return merged


def backend_computes(backend: BackendV2) -> str:
    """ "noisy" for a backend with a noise model or gate/readout error rates in its target,
    else "sampled" (a ``BackendV2`` is sampled with shots)."""
    options = getattr(backend, "options", None)
    if getattr(options, "noise_model", None) is not None:
        return "noisy"
    target = getattr(backend, "target", None)
    if target is not None:
        for name in target.operation_names:
            for properties in (target[name] or {}).values():
                if properties is not None and properties.error:
                    return "noisy"
    return "sampled"


def from_backend(owner: str, backend: BackendV2, options: dict[str, Any]) -> PrimitiveBackend:
    """A user's ``BackendV2``: circuits transpiled to its target once (preset pass manager,
    ``optimization_level``), observables laid out, sampled by ``BackendEstimatorV2`` with
    ``shots`` shots per row (also for an ``AerSimulator``; exact Aer: ``aer_statevector``);
    ``mitigate`` as on the named backends (:mod:`.mitigation`), with the backend's gates."""
    opts = _object_options(owner, "BackendV2", options, BACKEND_OPTIONS)
    pass_manager = generate_preset_pass_manager(
        optimization_level=opts["optimization_level"], backend=backend
    )
    return PrimitiveBackend(
        sampling_estimator(backend, opts["shots"], opts["seed"]),
        name=backend.name,
        computes=backend_computes(backend),
        gradient=opts["gradient"],
        pass_manager=pass_manager,
        spsa_samples=opts["spsa_samples"],
        spsa_epsilon=opts["spsa_epsilon"],
        seed=opts["seed"],
        options={k: v for k, v in opts.items() if v is not None},
        mitigation=mitigation_of(opts),
        basis_gates=backend.target.operation_names,
    )


def from_estimator(
    owner: str, estimator: BaseEstimatorV2, options: dict[str, Any]
) -> PrimitiveBackend:
    """A user's estimator, used as it is: circuits sent as built (not transpiled), precision left
    to the estimator's default. For an estimator that needs ISA circuits pass its backend."""
    opts = _object_options(owner, "BaseEstimatorV2", options, ESTIMATOR_OPTIONS)
    return PrimitiveBackend(
        estimator,
        name=type(estimator).__name__,
        computes="estimator",
        gradient=opts["gradient"],
        spsa_samples=opts["spsa_samples"],
        spsa_epsilon=opts["spsa_epsilon"],
        seed=opts["seed"],
        options={k: v for k, v in opts.items() if v is not None},
    )
