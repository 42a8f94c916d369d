"""The points of a noise sweep: every combination of an experiment's axes
(:mod:`.sweep_file`), with a stable id, the backend it builds and the training it evaluates.

How the axes reach a backend:

- ``shots`` and ``mitigate`` become the backend options ``shots=`` and ``mitigate=`` (checked by
  :func:`qlstm_qiskit.get_backend`: a backend that does not take one is an error when planned);
- ``noise_scale=k`` on a ``density`` profile (``density_matrix``) is its option ``noise_scale``;
  on an ``aer`` profile with a ``[noise]`` table (``aer_noisy``, ``aer_noisy_exact``,
  ``aer_readout``) it is a scaled copy of the profile written as a user profile
  (:mod:`qlstm_qiskit.backends.scaled_profiles`, into ``OUT/profiles``); on any other backend
  (exact and shot-only simulators, devices, whose noise is their calibration) it is an error;
- ``seeds`` seed the training (weights and shuffling) and, on backends that sample (a ``shots``
  option, fake devices), the sampling (option ``seed``). When runs are evaluated instead of
  trained, seeds are the sampling seeds only, and a backend that does not sample gets one point
  per run.

Trainings are shared: one per (training backend, seed), whatever the evaluation axes. Ids are
readable and stable (``<backend>[.k<scale>][.shots<n>][.<mitigate>].on-<training
backend>.seed<s>.<digest>``): the digest covers every setting of the point, the training settings
included, so an edited experiment gives new ids and never reuses a result of other settings.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from ..backends import get_backend
from ..backends.profile_files import load_profiles
from ..backends.scaled_profiles import scaled_profile_name, write_scaled_profile
from .backend_specs import is_device, parse_backend_spec
from .sweep_file import Experiment, Grid, read_experiment, with_context

#: the backend options the axes set (named in messages)
AXIS_OPTIONS = ("shots", "mitigate", "noise_scale")
#: the options a sweep sets per device point and training (their jobs' tag and ledger)
DEVICE_OPTIONS = ("ledger", "run_name")


@dataclass(frozen=True)
class Training:
    """A model a sweep trains once (``backend``, ``seed``) or a run it evaluates (``run``)."""

    id: str
    backend: str | None = None
    seed: int | None = None
    run: str | None = None


@dataclass(frozen=True)
class Point:
    """One combination of the axes. ``name`` and ``options`` build its backend (a device's
    ``ledger`` and ``run_name`` added when it runs); ``scaled`` is ``(profile, scale)`` when
    ``name`` is a noise-scaled copy of an ``aer`` profile, written into the sweep folder."""

    id: str
    training: str
    backend: str
    noise_scale: float | None
    shots: int | None
    mitigate: str | None
    seed: int | None
    train_backend: str | None
    run: str | None
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    scaled: tuple[str, float] | None = None

    @property
    def device(self) -> bool:
        """Whether it runs on a ``fake_<device>`` or ``ibm_<device>`` backend."""
        return self.scaled is None and is_device(self.name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scaled"] = list(self.scaled) if self.scaled else None
        return data


@dataclass(frozen=True)
class SweepPlan:
    """An experiment's trainings (by id) and points, in the file's order (grids, then backends,
    noise scales, shots, mitigations, training backends or runs, seeds)."""

    experiment: Experiment
    trainings: dict[str, Training]
    points: tuple[Point, ...]

    def axis_values(self, axis: str) -> list:
        """The distinct values of ``axis`` (a :class:`Point` field) over the points, in order."""
        values = []
        for point in self.points:
            value = getattr(point, axis)
            if value not in values:
                values.append(value)
        return values


def plan_sweep(path: str | Path, *, check_backends: bool = True) -> SweepPlan:
    """Read the experiment file ``path`` and plan its points; with ``check_backends`` every
    distinct backend (training and evaluation) is built once, so that a bad name or option is an
    error now, naming the file, the grid and the point's settings. Nothing is written."""
    experiment = read_experiment(path)
    profiles, _broken = load_profiles()
    named = {name: profile for name, profile in profiles.items() if profile.kind != "device"}
    trainings: dict[str, Training] = {}
    points: dict[str, tuple[Point, str]] = {}
    for grid in experiment.grids:
        for point in _grid_points(experiment, grid, named, trainings):
            if point.id in points:
                raise ValueError(
                    f"{experiment.source}: {grid.where} repeats the point {point.id} of "
                    f"{points[point.id][1]}; each point once"
                )
            points[point.id] = (point, grid.where)
    plan = SweepPlan(experiment, trainings, tuple(point for point, _ in points.values()))
    if check_backends:
        _check_backends(plan, {point.id: where for point, where in points.values()})
    return plan


def _grid_points(experiment: Experiment, grid: Grid, named: dict, trainings: dict):
    """The points of ``grid`` in order; the trainings they evaluate are added to ``trainings``."""
    source = experiment.source
    units = (
        [(spec, None) for spec in grid.train_backends]
        if experiment.train is not None
        else [(None, run) for run in experiment.runs]
    )
    for spec in grid.backends:
        name, options = parse_backend_spec(spec)
        _check_spec(source, grid.where, spec, name, options, grid)
        for scale, shots, mitigate in product(grid.noise_scale, grid.shots, grid.mitigate):
            built, chosen, scaled = _noise(source, grid.where, spec, name, scale, named)
            chosen |= {k: v for k, v in (("shots", shots), ("mitigate", mitigate)) if v is not None}
            samples = _samples(source, grid.where, spec, built, chosen, scaled, named)
            for train_backend, run in units:
                # a run evaluated on a backend that samples nothing: one point, not one a seed
                for seed in grid.seeds if run is None or samples else (None,):
                    training = _training(experiment, train_backend, run, seed)
                    trainings.setdefault(training.id, training)
                    options = {**chosen, "seed": seed} if samples else chosen
                    yield _point(
                        training, spec, scale, shots, mitigate, seed, built, options, scaled
                    )


def _check_spec(source, where, spec, name, options, grid: Grid) -> None:
    """What a spec in ``backends`` may not set: an axis that is also given, the seed, a
    device's ledger and run name, ``ibm_least_busy``."""
    given = {"shots": grid.shots, "mitigate": grid.mitigate, "noise_scale": grid.noise_scale}
    for option, axis in given.items():
        if option in options and axis != (None,):
            raise ValueError(
                f"{source}: {where}: backend {spec!r} sets {option} and the {option} axis "
                "does too; give it once"
            )
    for option in ("seed", *DEVICE_OPTIONS):
        if option in options:
            why = (
                "the seeds axis seeds sampling"
                if option == "seed"
                else "each point keeps its device jobs in its own ledger"
            )
            raise ValueError(
                f"{source}: {where}: backend {spec!r} sets {option}; a sweep sets it per point "
                f"({why})"
            )
    if name == "ibm_least_busy":
        raise ValueError(
            f"{source}: {where}: backend {spec!r}: a sweep's points name their device (the "
            "least busy one changes between points); name it, e.g. ibm_brisbane"
        )


def _noise(source, where, spec, name, scale, named):
    """``(name to build, options, scaled)`` of ``spec`` at noise scale ``scale``."""
    options = parse_backend_spec(spec)[1]
    if scale is None:
        return name, options, None
    profile = named.get(name)
    if profile is not None and profile.kind == "density":
        return name, {**options, "noise_scale": scale}, None
    if profile is not None and profile.kind == "aer" and any(profile.noise.values()):
        if not scale > 0:
            raise ValueError(
                f"{source}: {where}: noise_scale {scale:g} on {spec!r}: a scaled Aer profile "
                "needs a scale > 0 (density_matrix takes 0: noiseless)"
            )
        return scaled_profile_name(name, scale), options, (name, scale)
    what = (
        "is a device, whose noise is its calibration (scale a device's noise with "
        f"density_matrix:noise_from={name})"
        if profile is None and is_device(name)
        else "has no noise model to scale"
    )
    raise ValueError(
        f"{source}: {where}: noise_scale applies to density profiles (density_matrix: option "
        "noise_scale) and to aer profiles with a [noise] table (aer_noisy, aer_noisy_exact, "
        f"aer_readout: scaled copies); backend {spec!r} {what}"
    )


def _samples(source, where, spec, name, options, scaled, named) -> bool:
    """Whether the backend samples shots (then the point's seed is its ``seed`` option)."""
    profile = named.get(scaled[0] if scaled else name)
    if profile is None:  # a device (or an unknown name: an error when the backend is checked)
        return name.startswith("fake_")
    try:
        shots = profile.with_overrides("get_backend", options).options.get("shots")
    except (ValueError, TypeError) as exc:
        owner = f"{source}: {where}: backend {spec!r} {_describe(options)}"
        raise with_context(owner, exc) from exc
    return shots is not None


def _describe(options: dict[str, Any]) -> str:
    shown = {k: v for k, v in options.items() if k in AXIS_OPTIONS}
    return "with " + ", ".join(f"{k}={v}" for k, v in shown.items()) if shown else "as given"


def _training(experiment: Experiment, backend: str | None, run: str | None, seed) -> Training:
    if run is not None:
        return Training(f"run.{_slug(Path(run).name)}.{_digest({'run': run})}", run=run)
    digest = _digest({"train": experiment.train, "backend": backend, "seed": seed})
    return Training(f"{_slug(backend)}.seed{seed}.{digest}", backend=backend, seed=seed)


def _point(training, spec, scale, shots, mitigate, seed, name, options, scaled) -> Point:
    settings = {
        "training": training.id,
        "backend": spec,
        "noise_scale": scale,
        "shots": shots,
        "mitigate": mitigate,
        "seed": seed,
    }
    parts = [_slug(spec)]
    parts += [f"k{scale:g}"] if scale is not None else []
    parts += [f"shots{shots}"] if shots is not None else []
    parts += [_slug(mitigate)] if mitigate is not None else []
    parts.append("on-" + _slug(training.backend or Path(training.run).name))
    parts += [f"seed{seed}"] if seed is not None else []
    return Point(
        id=".".join(parts + [_digest(settings)]),
        training=training.id,
        backend=spec,
        noise_scale=scale,
        shots=shots,
        mitigate=mitigate,
        seed=seed,
        train_backend=training.backend,
        run=training.run,
        name=name,
        options=options,
        scaled=scaled,
    )


def _slug(text: str) -> str:
    """``text`` with only letters, digits, ``_`` and ``-`` (at most 48 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:48] or "x"


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _check_backends(plan: SweepPlan, where: dict[str, str]) -> None:
    """Build every distinct backend of ``plan`` once (scaled profiles in a scratch folder)."""
    source, grids = plan.experiment.source, plan.experiment.grids
    for training in plan.trainings.values():
        if training.backend is not None:
            name, options = parse_backend_spec(training.backend)
            key = (
                "[train] backend"
                if "backend" in plan.experiment.given
                else next(
                    f"{g.where} train_backends"
                    for g in grids
                    if training.backend in g.train_backends
                )
            )
            owner = f"{source}: {key}: training backend {training.backend!r}"
            if name == "ibm_least_busy" or set(options) & set(DEVICE_OPTIONS):
                raise ValueError(
                    f"{owner}: name the device and leave its ledger and run_name to the sweep "
                    "(each training keeps its jobs in its own ledger)"
                )
            _build(owner, name, options, None)
    built = set()
    with tempfile.TemporaryDirectory(prefix="qlstm-sweep-profiles-") as scratch:
        for point in plan.points:
            key = (point.name, json.dumps(point.options, sort_keys=True, default=str))
            if key in built:
                continue
            built.add(key)
            if point.scaled is not None:
                write_scaled_profile(*point.scaled, scratch)
            described = _describe(point.options)
            owner = f"{source}: {where[point.id]}: backend {point.backend!r} {described}"
            _build(owner, point.name, point.options, scratch if point.scaled else None)


def _build(owner: str, name: str, options: dict[str, Any], profile_dir) -> None:
    try:
        get_backend(name, profile_dir=profile_dir, **options)
    except (ValueError, TypeError, ImportError) as exc:
        raise with_context(owner, exc) from exc
