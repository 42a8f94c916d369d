"""Error mitigation as a backend option: ``mitigate="readout"``, ``"zne"`` or ``"readout+zne"``.

Every sampled or noisy backend (the ``aer`` profiles with shots or noise, ``density_matrix``,
``fake_<device>``, ``ibm_<device>``, a user's ``BackendV2``) takes the options

=====================  =============================================================================
``mitigate``           ``None`` (default), ``"readout"``, ``"zne"`` or ``"readout+zne"``
``zne_scales``         odd noise scale factors, default ``(1, 3, 5)`` (only with ZNE)
``zne_extrapolation``  ``"linear"`` (default) or ``"richardson"`` (only with ZNE)
=====================  =============================================================================

and refuses them where nothing can be mitigated (an exact noiseless backend). Everything happens
client side, inside the one estimator call of a time step: the mitigated circuits are extra PUBs
of that call (never an extra call), and the parameter-shift (or SPSA) rows, which are rows of the
same PUBs, are mitigated with the values, so gradients are those of the mitigated values.

**Readout** (:class:`ReadoutCorrection`). Each call also runs two calibration circuits on the
qubits the observables measure: nothing (``|0...0>``) and an ``x`` on each (``|1...1>``), with the
same shots, simulator and noise as the circuits (on a device: in the same job, so drifting readout
is calibrated where it is used). Their ``<Z>`` values give each qubit's assignment fidelity
``a = 1 - p01 - p10`` and offset ``b = p10 - p01``, and every value is corrected as
``<Z> = (<Z>_measured - b) / a``. Our observables are one ``Z`` per qubit (each checked to be a
single-qubit ``Z`` term), so this per-qubit inversion is exact for tensor-product readout noise
(what Aer's and the devices' noise models have): the ``Z_q`` marginal of ``A^{-1} = ⊗ A_q^{-1}``
applied to the counts is exactly it. mthree (the field's count-level tool) solves the same
tensor-product inverse in the subspace of the observed bitstrings; it needs counts (a Sampler),
while these backends return expectation values of thousands of parameter rows per call, for which
the closed form is exact and costs nothing; so mthree is not used. The ``density_matrix`` backend
inverts its own (exact) assignment matrices instead of calibrating.

**ZNE** (:func:`fold_two_qubit_gates`, :func:`extrapolation_coefficients`). The ISA circuit is
evaluated at each scale factor ``λ`` with every multi-qubit gate ``G`` folded locally to
``G (G† G)^k``, ``λ = 2k + 1``: IBM's runtime does the same by default (``ZneOptions.amplifier``
``"gate_folding"``: two-qubit gate folding). Folding only the (unparameterized, self-inverse on
IBM devices: ``cx``, ``ecr``, ``cz``) multi-qubit gates keeps every folded circuit ISA (the
inverse has the gate's own name, so the noise model attaches the same error to it) and keeps every
circuit parameter in exactly one rotation, so the two-term parameter-shift rule stays exact on
every folded circuit. Global folding ``C (C† C)^k`` would put each parameter in ``2k + 1`` gates
and break it. The values at the scales are extrapolated to zero noise by a fixed linear
combination: a least-squares line (``"linear"``, the default: for ``(1, 3, 5)`` the weights
``13/12, 1/3, -5/12`` amplify shot noise by 1.21x) or the interpolating polynomial
(``"richardson"``: ``15/8, -5/4, 3/8``, 2.28x, and no bias up to second order). At the error
rates of these profiles and devices ``<Z>`` is nearly linear in ``λ``, so the linear fit's
bias is small and its lower variance wins (see the README's measured example). mitiq is not used:
its folding converts circuits through its own (Cirq) representation, which does not carry Qiskit
``Parameter``\\s (mitiq issue #941: Qiskit parametrized circuits unsupported), so it would fold
every bound row separately instead of one parameterized circuit per scale; its extrapolation is
these few lines of NumPy. Readout errors are not folded: ``"readout+zne"`` corrects every scale's
values before extrapolating.

**Devices.** On ``ibm_<device>`` IBM's runtime mitigates too (``resilience_level`` 1: TREX
readout mitigation, the runtime's default; 2: ZNE and TREX, with gate twirling). ``mitigate`` is
not mapped onto those levels: they do other things (twirling, TREX's randomized calibration)
that fake devices do not simulate, so the same ``mitigate`` would mean different computations on
``fake_<device>`` and ``ibm_<device>``. Nor do the two stack: with ``mitigate`` set, an unset
``resilience_level`` becomes 0 and 1 or 2 is an error (:func:`check_mitigation`), so either the
runtime mitigates (``resilience_level``) or this module does (``mitigate``), the same circuits
on fake devices, simulators and hardware.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate

from ..checks import check_choice

__all__ = [
    "DEFAULT_ZNE_SCALES",
    "EXTRAPOLATIONS",
    "MITIGATIONS",
    "MITIGATION_OPTIONS",
    "Mitigation",
    "MitigationPlan",
    "ReadoutCorrection",
    "calibration_circuits",
    "check_mitigation",
    "extrapolation_coefficients",
    "fold_two_qubit_gates",
    "mitigation_of",
    "readout_terms",
]

MITIGATIONS = ("readout", "zne", "readout+zne")
EXTRAPOLATIONS = ("linear", "richardson")
DEFAULT_ZNE_SCALES = (1, 3, 5)
DEFAULT_EXTRAPOLATION = "linear"
#: the largest scale factor (a circuit with 2-qubit gates folded 2 * 7 times more)
MAX_ZNE_SCALE = 15
#: the smallest assignment fidelity ``1 - p01 - p10`` that readout mitigation inverts
MIN_ASSIGNMENT_FIDELITY = 0.1
#: the mitigation options of every kind that takes them, with their defaults (``None``: unset)
MITIGATION_OPTIONS: dict[str, Any] = {
    "mitigate": None,
    "zne_scales": None,
    "zne_extrapolation": None,
}


@dataclass(frozen=True)
class Mitigation:
    """What a backend mitigates: ``readout``, and ZNE at ``scales`` (empty: no ZNE)."""

    readout: bool
    scales: tuple[int, ...] = ()
    extrapolation: str | None = None

    @property
    def coefficients(self) -> np.ndarray:
        """``(len(scales),)``: the zero-noise value is ``coefficients @ values``; ``[1.]``
        without ZNE."""
        if not self.scales:
            return np.ones(1)
        return extrapolation_coefficients(self.scales, self.extrapolation)

    def shown(self) -> dict[str, Any]:
        """The options as a backend's description shows them, defaults resolved."""
        shown: dict[str, Any] = {"mitigate": "+".join(self._modes())}
        if self.scales:
            shown |= {"zne_scales": self.scales, "zne_extrapolation": self.extrapolation}
        return shown

    def _modes(self) -> list[str]:
        return [m for m, on in (("readout", self.readout), ("zne", bool(self.scales))) if on]


def mitigation_of(opts: dict[str, Any]) -> Mitigation | None:
    """The :class:`Mitigation` of validated backend options (``None``: ``mitigate`` unset)."""
    mode = opts.get("mitigate")
    if mode is None:
        return None
    if "zne" not in mode:
        return Mitigation(readout=True)
    scales = opts.get("zne_scales")
    return Mitigation(
        readout="readout" in mode,
        scales=tuple(sorted(DEFAULT_ZNE_SCALES if scales is None else scales)),
        extrapolation=opts.get("zne_extrapolation") or DEFAULT_EXTRAPOLATION,
    )


def check_mitigation(owner: str, name: str, kind: str, computes: str, opts: dict[str, Any]):
    """Validate the mitigation options of backend ``name`` (a profile of ``kind`` that
    ``computes`` "exact", "sampled" or "noisy"); errors name ``owner``."""
    mode = opts.get("mitigate")
    zne_given = [k for k in ("zne_scales", "zne_extrapolation") if opts.get(k) is not None]
    if mode is None:
        if zne_given:
            raise ValueError(
                f"{owner}: {', '.join(zne_given)} apply only with mitigate='zne' or "
                "'readout+zne', got mitigate=None"
            )
        return
    check_choice(owner, "mitigate", mode, MITIGATIONS)
    if computes == "exact":
        raise ValueError(
            f"{owner}: mitigate={mode!r} applies to sampled or noisy backends; backend {name!r} "
            "computes exact noiseless values (nothing to mitigate)"
        )
    if "readout" in mode and kind == "aer" and opts.get("shots") is None:
        raise ValueError(
            f"{owner}: mitigate={mode!r} needs sampled values (set shots): backend {name!r} "
            "gives exact Aer EstimatorV2 values, which carry no readout error"
        )
    if zne_given and "zne" not in mode:
        raise ValueError(
            f"{owner}: {', '.join(zne_given)} apply only with mitigate='zne' or "
            f"'readout+zne', got mitigate={mode!r}"
        )
    if kind == "device" and opts.get("resilience_level") not in (None, 0):
        raise ValueError(
            f"{owner}: mitigate={mode!r} mitigates client side (extra circuits in the same job), "
            f"and resilience_level={opts['resilience_level']} asks IBM's runtime to mitigate too "
            "(1: TREX readout, 2: ZNE + TREX); use one: mitigate with resilience_level=0 (set "
            "for you when unset), or resilience_level without mitigate"
        )
    _check_scales(owner, opts.get("zne_scales"))
    if opts.get("zne_extrapolation") is not None:
        check_choice(owner, "zne_extrapolation", opts["zne_extrapolation"], EXTRAPOLATIONS)


def _check_scales(owner: str, scales: Any) -> None:
    if scales is None:
        return
    if not isinstance(scales, (list, tuple)) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in scales
    ):
        raise TypeError(f"{owner}: zne_scales must be a list of odd ints, got {scales!r}")
    bad = [s for s in scales if s < 1 or s > MAX_ZNE_SCALE or s % 2 == 0]
    if bad or len(set(scales)) != len(scales) or len(scales) < 2:
        raise ValueError(
            f"{owner}: zne_scales must be at least 2 distinct odd ints in 1..{MAX_ZNE_SCALE} "
            f"(gate folding scales the noise by odd factors), got {list(scales)}"
        )


def extrapolation_coefficients(scales: Sequence[float], method: str) -> np.ndarray:
    """``(len(scales),)`` weights ``w`` with ``w @ values`` the value at scale 0 of the fit of
    ``values`` against ``scales``: a least-squares line (``"linear"``) or the polynomial of
    degree ``len(scales) - 1`` through them (``"richardson"``)."""
    check_choice("extrapolation_coefficients", "method", method, EXTRAPOLATIONS)
    x = np.asarray(scales, dtype=np.float64)
    degree = 1 if method == "linear" else len(x) - 1
    return np.linalg.pinv(np.vander(x, degree + 1, increasing=True))[0]


def fold_two_qubit_gates(
    circuit: QuantumCircuit, scale: int, basis: Collection[str] | None = None
) -> QuantumCircuit:
    """``circuit`` with every gate on two or more qubits ``G`` replaced by ``G (G† G)^k``,
    ``scale = 2k + 1`` (the same circuit for 1): the same unitary, the errors of those gates
    ``scale`` times over. Layout, parameters and other instructions are kept.

    Raises ``ValueError`` for a parameterized multi-qubit gate (folding would put its parameter
    in several gates) and, with ``basis`` (the gate names the backend runs), for a gate whose
    inverse has a name outside it (it would not be ISA, and the noise model would not attach)."""
    owner = "fold_two_qubit_gates"
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1 or scale % 2 == 0:
        raise ValueError(f"{owner}: scale must be an odd int >= 1, got {scale!r}")
    if scale == 1:
        return circuit
    folded = circuit.copy_empty_like(name=f"{circuit.name}_fold{scale}")
    for instruction in circuit.data:
        operation = instruction.operation
        folded.append(instruction)
        if not isinstance(operation, Gate) or operation.num_qubits < 2:
            continue
        if operation.is_parameterized():
            raise ValueError(
                f"{owner}: cannot fold the parameterized gate {operation.name}"
                f"{tuple(operation.params)}: its parameter would sit in {scale} gates"
            )
        inverse = operation.inverse()
        if basis is not None and inverse.name not in basis:
            raise ValueError(
                f"{owner}: the inverse of {operation.name!r} is {inverse.name!r}, not a "
                f"basis gate of this backend ({', '.join(sorted(basis))})"
            )
        for _ in range((scale - 1) // 2):
            folded.append(inverse, instruction.qubits, instruction.clbits)
            folded.append(operation, instruction.qubits, instruction.clbits)
    return folded


def readout_terms(observables: Sequence, owner: str) -> tuple[np.ndarray, list[int]]:
    """``(coefficients (O,), qubits)`` of observables that are each one term ``c Z_q`` (what
    readout mitigation corrects exactly); ``ValueError`` for any other."""
    coefficients, qubits = [], []
    for k, observable in enumerate(observables):
        paulis = observable.paulis
        z = np.flatnonzero(paulis.z[0]) if len(paulis) == 1 else []
        coefficient = 0j
        if len(paulis) == 1:
            coefficient = complex(observable.coeffs[0]) * (-1j) ** int(paulis.phase[0])
        if len(z) != 1 or paulis.x.any() or coefficient.imag or not coefficient.real:
            raise ValueError(
                f"{owner}: readout mitigation corrects observables of one single-qubit Z term "
                f"(as the gate circuits measure), got observables[{k}] = {observable}"
            )
        coefficients.append(coefficient.real)
        qubits.append(int(z[0]))
    return np.asarray(coefficients), qubits


def calibration_circuits(
    circuit: QuantumCircuit, qubits: Sequence[int], basis: Collection[str] | None = None
) -> tuple[QuantumCircuit, QuantumCircuit]:
    """The readout calibration circuits on ``circuit``'s qubits: ``|0...0>`` (no gate) and an
    ``x`` on each of ``qubits`` (``sx sx`` where the basis has ``sx`` but no ``x``)."""
    zeros = circuit.copy_empty_like(name=f"{circuit.name}_readout0")
    zeros.global_phase = 0
    ones = zeros.copy(name=f"{circuit.name}_readout1")
    if basis is None or "x" in basis:
        flips = ["x"]
    elif "sx" in basis:
        flips = ["sx", "sx"]
    else:
        raise ValueError(
            f"calibration_circuits: readout calibration prepares |1> with x or sx, and the "
            f"backend's basis has neither ({', '.join(sorted(basis))})"
        )
    for qubit in sorted(set(qubits)):
        for gate in flips:
            getattr(ones, gate)(qubit)
    return zeros, ones


class ReadoutCorrection:
    """Corrects values of observables ``c Z_q`` (one per output) read through readout errors
    ``p01``, ``p10`` of qubit ``q``, ``v = c (p10 - p01) + (1 - p01 - p10) <c Z_q>``, given their
    values on ``|0...0>`` (``zero (O,)`` ``= c (1 - 2 p01)``) and on ``|1...1>`` (``one (O,)``
    ``= c (2 p10 - 1)``): ``<c Z_q> = (v - (zero + one) / 2) / a`` with ``a = (zero - one) / (2 c)
    = 1 - p01 - p10`` (the module docstring says why this is exact). ``ValueError`` when some
    ``a`` is below :data:`MIN_ASSIGNMENT_FIDELITY`.

    Args:
        zero, one: ``(O,)`` calibration values; coefficients: ``(O,)`` the ``c`` of each output.
    """

    def __init__(self, zero, one, coefficients) -> None:
        zero, one = np.asarray(zero, dtype=float), np.asarray(one, dtype=float)
        coefficients = np.asarray(coefficients, dtype=float)
        fidelity = (zero - one) / (2 * coefficients)
        worst = int(np.argmin(fidelity))
        if fidelity[worst] < MIN_ASSIGNMENT_FIDELITY:
            raise ValueError(
                f"readout mitigation: output {worst} has assignment fidelity 1 - p01 - p10 = "
                f"{fidelity[worst]:.3g} (<Z> {zero[worst]:.3g} on |0>, {one[worst]:.3g} on |1>), "
                f"below {MIN_ASSIGNMENT_FIDELITY}: too noisy to invert"
            )
        self.offset = (zero + one) / 2  #: ``c (p10 - p01)``
        self.scale = 1 / fidelity  #: ``1 / (1 - p01 - p10)``

    def apply(self, values, axis: int = 0):
        """Corrected ``values`` (NumPy or torch) whose outputs lie along ``axis``."""
        shape = [1] * values.ndim
        shape[axis] = -1
        offset, scale = self.offset.reshape(shape), self.scale.reshape(shape)
        if not isinstance(values, np.ndarray):  # torch: differentiable in values
            offset = values.new_tensor(offset)
            scale = values.new_tensor(scale)
        return (values - offset) * scale


class MitigationPlan:
    """The PUBs of one mitigated estimator call and how their values combine.

    Args:
        mitigation: what to mitigate.
        circuit: the ISA circuit; observables: its laid-out observables, an object array
            ``(O, 1, 1)`` of ``SparsePauliOp``.
        basis: the gate names the backend runs (``None``: any).
    """

    def __init__(self, mitigation: Mitigation, circuit, observables, basis=None) -> None:
        self.mitigation = mitigation
        self.observables = observables
        #: the circuit at each scale factor (one without ZNE)
        self.circuits = [fold_two_qubit_gates(circuit, s, basis) for s in mitigation.scales]
        self.circuits = self.circuits or [circuit]
        self.coefficients = mitigation.coefficients
        self.calibration: tuple[QuantumCircuit, QuantumCircuit] | None = None
        if mitigation.readout:
            self.terms, qubits = readout_terms(observables.ravel(), "MitigationPlan")
            self.calibration = calibration_circuits(circuit, qubits, basis)

    def pubs(self, values: np.ndarray) -> list[tuple]:
        """The PUBs of parameter values ``(S, R, P)``: one per circuit, then the calibration."""
        pubs = [(circuit, self.observables, values) for circuit in self.circuits]
        if self.calibration is not None:
            pubs += [(circuit, self.observables) for circuit in self.calibration]
        return pubs

    def combine(self, result) -> np.ndarray:
        """The mitigated values ``(O, S, R)`` of the estimator ``result`` of :meth:`pubs`. A cost
        preview's result (metadata ``preview``: zeros, nothing run) is passed through."""
        count = len(self.circuits)
        values = [np.asarray(result[k].data.evs, dtype=np.float64) for k in range(count)]
        if result[0].metadata.get("preview"):
            return values[0]
        if self.calibration is not None:
            zero, one = (np.asarray(result[k].data.evs).ravel() for k in (-2, -1))
            correction = ReadoutCorrection(zero, one, self.terms)
            values = [correction.apply(v) for v in values]
        return sum(w * v for w, v in zip(self.coefficients, values, strict=True))
