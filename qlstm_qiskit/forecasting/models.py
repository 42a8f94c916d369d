"""The forecasting model: a :class:`Forecaster` (a QLSTM or a classical ``torch.nn.LSTM`` with a
linear head) and the plain-data :class:`ModelConfig` that builds it and is stored in checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from ..backends import backend_profile, get_backend
from ..checks import MAX_SEED, check_bool, check_choice, check_int
from ..circuits import CircuitSpec
from ..qlstm import QLSTM
from .inference import predict_dataset

MODEL_KINDS = ("qlstm", "lstm")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
_QUANTUM_FIELDS = (
    "circuit",
    "cell",
    "input_scaling",
    "backend",
    "backend_options",
    "backend_profile",
)
_CREDENTIAL_WORDS = ("token", "password", "secret", "api_key", "apikey", "credential")


@dataclass(frozen=True)
class ModelConfig:
    """What builds a :class:`Forecaster`: plain data, stored in checkpoints.

    ``kind`` is ``"qlstm"`` or ``"lstm"`` (the classical baseline, which ignores the circuit and
    backend fields); ``bidirectional`` and ``inversward`` mean for both kinds what they mean for
    :class:`~qlstm_qiskit.QLSTM` (checkpoints older than them load as ``False``); ``circuit`` is
    the gate-circuit layout of the QLSTM, ``cell`` and ``input_scaling`` its cell variant
    (:class:`~qlstm_qiskit.QLSTM`'s options of those names; checkpoints older than them load with
    the defaults); ``backend_profile`` is the profile ``backend`` resolved to when the run was
    created
    (:func:`qlstm_qiskit.backends.backend_profile`: its file and content hash; ``None`` in
    checkpoints older than it), which :meth:`with_backend_profile` fills and
    :meth:`profile_changes` compares. ``input_size`` is the number of feature columns ``F`` of a
    window and ``horizon`` the number ``H`` of values it forecasts (checkpoints older than them
    hold neither: one feature, one step).
    """

    kind: str = "qlstm"
    hidden_size: int = 5
    num_layers: int = 1
    bidirectional: bool = False
    inversward: bool = False
    circuit: CircuitSpec = field(default_factory=CircuitSpec)
    cell: str = "lstm"
    input_scaling: bool = False
    backend: str = "statevector"
    backend_options: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float64"
    seed: int = 0
    backend_profile: dict[str, str] | None = None
    input_size: int = 1
    horizon: int = 1

    def __post_init__(self) -> None:
        check_storable_options("ModelConfig", self.backend_options)

    def with_backend_profile(self) -> ModelConfig:
        """This config with ``backend_profile`` set to what ``backend`` resolves to now (a QLSTM
        without one; the classical LSTM is returned as it is)."""
        if self.kind != "qlstm" or self.backend_profile is not None:
            return self
        return replace(self, backend_profile=backend_profile(self.backend))

    def profile_changes(self) -> str | None:
        """How the profile ``backend`` resolves to now differs from ``backend_profile`` (the one
        the run was created with), or ``None`` when it does not (or was not recorded)."""
        saved = self.backend_profile
        if self.kind != "qlstm" or saved is None:
            return None
        now = backend_profile(self.backend)
        if now is not None and now["sha256"] == saved["sha256"]:
            return None
        where = "no profile" if now is None else f"{now['source']} (sha256 {now['sha256'][:12]})"
        return (
            f"backend {self.backend!r} was the profile {saved['source']} (sha256 "
            f"{saved['sha256'][:12]}) when this run was created, and is now {where}: its "
            "options or noise differ, so results may differ from the run's"
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields that matter for this kind (the LSTM has no circuit or backend)."""
        data = asdict(self)
        if self.kind == "lstm":
            for name in _QUANTUM_FIELDS:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ModelConfig: unknown fields {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "circuit" in data:
            data["circuit"] = CircuitSpec(**data["circuit"])
        return cls(**data)


def check_storable_options(owner: str, options: dict[str, Any]) -> dict[str, Any]:
    """Return backend ``options`` if none looks like a credential (they go into checkpoints)."""
    for key in options:
        if key == "service":
            raise ValueError(
                f"{owner}: backend option 'service' (a QiskitRuntimeService) holds credentials "
                "and is never stored in checkpoints; runs take the service from the saved "
                "account or the environment"
            )
        if any(word in str(key).lower() for word in _CREDENTIAL_WORDS):
            raise ValueError(
                f"{owner}: backend option {key!r} looks like a credential; "
                "credentials come from the saved account or the environment and "
                "are never stored in checkpoints"
            )
    return options


class Forecaster(nn.Module):
    """A QLSTM (or ``torch.nn.LSTM``) over ``(B, window, F)`` and a direct multi-output head
    ``nn.Linear(D * hidden, H)``: ``(B, window, F) -> (B, H)``, with ``F = config.input_size``
    feature columns, ``H = config.horizon`` steps ahead (one output per step; ``F = H = 1`` is the
    univariate next-value forecaster) and ``D = 2`` if bidirectional else 1.

    The head reads each direction's final state of the last layer (``h_n[-D:]``, concatenated in
    the order of ``output``'s features): the state after the whole window for every direction.
    (``output[:, -1]`` would give the reverse pass's state after one value only.) For a plain
    forward model it is ``output[:, -1]``.

    ``inversward`` reads the window in inverse order (QLSTM's argument); the classical LSTM does
    the same by running ``nn.LSTM`` on the time-flipped window and flipping its output back, so
    both kinds mean the same and their ``h_n`` is the state after ``window[0]``.

    Initialised from ``config.seed`` without touching torch's global generator, so a model's
    initial weights do not depend on what else a run builds.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        owner = "Forecaster"
        check_choice(owner, "kind", config.kind, MODEL_KINDS)
        check_choice(owner, "dtype", config.dtype, DTYPES)
        check_int(owner, "hidden_size", config.hidden_size, 1)
        check_int(owner, "num_layers", config.num_layers, 1)
        check_bool(owner, "bidirectional", config.bidirectional)
        check_bool(owner, "inversward", config.inversward)
        check_int(owner, "seed", config.seed, 0, MAX_SEED)
        check_int(owner, "input_size", config.input_size, 1)
        check_int(owner, "horizon", config.horizon, 1)
        self.config = config
        dtype = DTYPES[config.dtype]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            if config.kind == "qlstm":
                self.lstm = QLSTM(
                    config.input_size,
                    config.hidden_size,
                    config.num_layers,
                    batch_first=True,
                    bidirectional=config.bidirectional,
                    inversward=config.inversward,
                    backend=get_backend(config.backend, **config.backend_options),
                    seed=config.seed,
                    dtype=dtype,
                    cell=config.cell,
                    input_scaling=config.input_scaling,
                    **asdict(config.circuit),
                )
            else:
                self.lstm = nn.LSTM(
                    config.input_size,
                    config.hidden_size,
                    config.num_layers,
                    batch_first=True,
                    bidirectional=config.bidirectional,
                    dtype=dtype,
                )
            self.directions = 2 if config.bidirectional else 1
            self.head = nn.Linear(self.directions * config.hidden_size, config.horizon, dtype=dtype)

    @property
    def is_quantum(self) -> bool:
        return self.config.kind == "qlstm"

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    def set_backend(self, name: str, **options: Any) -> Forecaster:
        """Run the same weights on the backend ``name``; returns ``self``."""
        if not self.is_quantum:
            raise ValueError("Forecaster.set_backend: the classical LSTM has no backend")
        self.lstm.set_backend(name, **options)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.final_states(x))

    def final_states(self, x: torch.Tensor) -> torch.Tensor:
        """What the head reads: each direction's final state of the last layer, ``(B, D *
        hidden)`` for ``x (B, window, F)``."""
        if self.config.inversward and not self.is_quantum:  # QLSTM reads inversward itself
            _, (h_n, _) = self.lstm(x.flip(1))  # h_n does not depend on flipping output back
        else:
            _, (h_n, _) = self.lstm(x)
        last = h_n[-self.directions :]  # (D, B, hidden): the last layer's directions
        return last.transpose(0, 1).reshape(x.shape[0], -1)

    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predictions ``(N, H)`` for ``x (N, window, F)`` (cast to the model's dtype) by
        :func:`~qlstm_qiskit.forecasting.inference.predict_dataset`: evaluation mode, no
        gradients, ``batch_size`` rows at a time."""
        return predict_dataset(self, x.to(self.dtype), batch_size=batch_size)

    def mse(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
        """Mean squared error of the predictions for ``x (N, window, F)`` against ``y (N, H)``
        (over all entries: with ``H > 1`` the mean of the per-step MSEs)."""
        predictions = self.predict(x, batch_size).to(torch.float64)  # whatever a backend returns
        return nn.functional.mse_loss(predictions, y.to(torch.float64)).item()
