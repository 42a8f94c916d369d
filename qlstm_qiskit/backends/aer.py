"""The ``aer`` profiles: gate circuits on Qiskit Aer, exact, sampled or with a noise model."""

from __future__ import annotations

from typing import Any

from qiskit.transpiler import generate_preset_pass_manager

from ..checks import import_optional
from .estimators import SamplingEstimator
from .mitigation import mitigation_of
from .primitive import PrimitiveBackend
from .profiles import Profile


def check_aer_device(name: str, device: str) -> None:
    """Fail clearly when Aer cannot simulate on ``device`` (never fall back to the CPU)."""
    from qiskit_aer import AerSimulator

    available = AerSimulator().available_devices()
    if device not in available:
        raise ValueError(
            f"get_backend: backend {name!r} asks for Aer device {device!r}, but this "
            f"Aer build offers {', '.join(available)}; for GPUs install the GPU build:"
            " pip install qiskit-aer-gpu"
        )


def aer_backend(profile: Profile) -> PrimitiveBackend:
    """The backend of an ``aer`` profile: Aer ``EstimatorV2`` (precision 0) without shots, else a
    :class:`SamplingEstimator` on Aer ``SamplerV2``; noise, basis gates and mitigation
    (:mod:`.mitigation`) from the profile."""
    import_optional(f"backend {profile.name!r}", "qiskit_aer", "pip install qiskit-aer")
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    from .noise import noise_model  # imports qiskit_aer

    opts = profile.options
    model = noise_model(profile.noise, opts["basis_gates"])
    pass_manager = None
    if opts["basis_gates"] is not None:
        pass_manager = generate_preset_pass_manager(
            optimization_level=opts["optimization_level"], basis_gates=list(opts["basis_gates"])
        )
    # runtime parameter binding: Aer binds the rows of a PUB inside one experiment instead of
    # building one experiment per row (same values, about 2x faster for these circuits)
    backend_options: dict[str, Any] = {
        "method": opts["method"],
        "runtime_parameter_bind_enable": True,
    }
    if opts["device"] != "CPU":
        check_aer_device(profile.name, opts["device"])
        backend_options["device"] = opts["device"]
    if model is not None:
        backend_options["noise_model"] = model
    if opts["shots"] is None:
        estimator = EstimatorV2(
            options={"default_precision": 0.0, "backend_options": backend_options}
        )
    else:
        sampler = SamplerV2(options={"backend_options": backend_options, "run_options": {}})
        estimator = SamplingEstimator(sampler, opts["shots"], seed=opts["seed"])
    shown = {
        k: v
        for k, v in opts.items()
        if v is not None
        and (profile.gradient == "spsa" or not k.startswith("spsa"))
        and not (k == "optimization_level" and pass_manager is None)
    }
    return PrimitiveBackend(
        estimator,
        name=profile.name,
        computes=profile.computes,
        gradient=profile.gradient,
        pass_manager=pass_manager,
        spsa_samples=opts["spsa_samples"],
        spsa_epsilon=opts["spsa_epsilon"],
        seed=opts["seed"],
        options=shown,
        mitigation=mitigation_of(opts),
        basis_gates=opts["basis_gates"],
    )
