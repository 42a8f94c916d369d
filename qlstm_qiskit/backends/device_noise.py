"""The noise model of a fake device: the one its own simulator runs (:func:`device_noise_model`),
built from its calibration properties; the ``fake_<device>`` backends and ``density_matrix``'s
``noise_from="fake_<device>"`` both use it."""

from __future__ import annotations

from qiskit_aer.noise import NoiseModel

__all__ = ["MissingAsValueError", "device_noise_model"]


def device_noise_model(device, properties=None) -> NoiseModel:
    """The noise model a fake device's own simulator runs (``FakeBackendV2.run``): built by
    ``NoiseModel.from_backend_properties`` from the device's calibration properties (gate errors
    with thermal relaxation over the gate times, and per-qubit readout errors with their
    asymmetric ``prob_meas1_prep0``/``prob_meas0_prep1``), not by ``NoiseModel.from_backend``
    (whose readout errors, read from the target, are symmetric). ``properties``: use these
    instead of ``device.properties()`` (e.g. restricted to some qubits). A device without
    calibration properties is an error (its simulator would run noiseless). Devices whose
    properties lack a qubit's frequency (fake_torino, fake_fez, ...) or relaxation times
    (fake_kingston) get no excited-state population, or no relaxation, on delays, as their own
    simulator does."""
    if properties is None and callable(getattr(device, "properties", None)):
        properties = device.properties()
    if properties is None:
        raise ValueError(
            f"device {getattr(device, 'name', device)!r} has no calibration properties, so it has "
            "no noise model to simulate; use a fake device of qiskit_ibm_runtime.fake_provider"
        )
    # no warnings.catch_warnings here: it runs in estimator threads, where changing the global
    # warning filters would hide other threads' warnings (and the model builds without any)
    return NoiseModel.from_backend_properties(MissingAsValueError(properties), dt=device.dt)


class MissingAsValueError:
    """Calibration properties whose ``frequency``, ``t1`` and ``t2`` raise ``ValueError`` where
    the properties have no such value (the runtime raises its own ``BackendPropertyError``,
    which Aer's ``from_backend_properties`` does not catch; with ``ValueError`` it leaves out the
    excited-state populations, or the relaxation on delays, as the fake device's own simulator
    does). Everything else is the wrapped properties'."""

    def __init__(self, properties) -> None:
        self._properties = properties

    def frequency(self, qubit: int):
        return self._value("frequency", qubit)

    def t1(self, qubit: int):
        return self._value("t1", qubit)

    def t2(self, qubit: int):
        return self._value("t2", qubit)

    def _value(self, name: str, qubit: int):
        try:
            return getattr(self._properties, name)(qubit)
        except Exception as exc:  # the runtime's BackendPropertyError
            raise ValueError(f"no {name} for qubit {qubit}: {exc}") from exc

    def __getattr__(self, name: str):
        return getattr(self._properties, name)
