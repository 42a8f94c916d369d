"""What the unfinished part of a sweep would submit to devices: the cost preview
(:func:`~.inference.preview_work`, :func:`~.inference.preview_dataset`) of every unfinished
device training and point, summed per device and shot count (:class:`CostPreview.add`). Nothing
is submitted; the models are built untrained (the jobs, circuits and shots do not depend on the
weights), a run to evaluate is loaded.
"""

from __future__ import annotations

from ..backends import get_backend
from ..backends.cost import CostPreview
from .backend_specs import is_device, parse_backend_spec
from .inference import preview_dataset, preview_work
from .run_settings import model_configs, train_config, training_series
from .sweep_plan import SweepPlan, Training
from .sweep_run import pending
from .sweep_tasks import BATCH_SIZE
from .training import Run


def _probe(plan: SweepPlan, training: Training, backend: str = "statevector") -> Run:
    """The run of ``training`` with untrained weights (a run to evaluate: loaded), its QLSTM on
    ``backend`` (a spec)."""
    if training.run is not None:
        return Run.load(training.run, backend=("statevector", {}))
    experiment = plan.experiment
    series, data_config = training_series(experiment.train, experiment.given)
    name, options = parse_backend_spec(backend)
    models = model_configs(experiment.train, name, options, training.seed)
    return Run(data_config, series, models, train_config(experiment.train, training.seed))


def device_work(plan: SweepPlan, out) -> tuple[list[str], list]:
    """The unfinished device trainings (ids) and device points of ``plan`` in ``out``."""
    trainings, points = pending(plan, out)
    on_device = [
        t for t in trainings if is_device(parse_backend_spec(plan.trainings[t].backend)[0])
    ]
    return on_device, [point for point in points if point.device]


def sweep_cost(plan: SweepPlan, out) -> list[CostPreview]:
    """The cost previews of the unfinished device work of ``plan`` in ``out``, one per (device,
    shots) (their :meth:`~CostPreview.report` reads right: one shot count each); empty when
    there is none."""
    trainings, points = device_work(plan, out)
    previews: list[CostPreview] = []
    for key in trainings:
        training = plan.trainings[key]
        run = _probe(plan, training, training.backend)
        model = run.models["qlstm"]
        cost = preview_work(model, lambda run=run: run.test_mse("qlstm"))  # the untrained MSE
        epoch = preview_work(
            model,
            lambda run=run: (
                run.train_epoch("qlstm"),
                run.test_mse("qlstm"),
                run.validation_mse("qlstm") if run.has_validation else None,
            ),
        )
        cost.add(epoch.scaled(run.train_config.epochs))
        previews.append(cost)
    probes: dict[str, Run] = {}
    backends = {}  # one per device and options but the seed (which prices nothing)
    for point in points:
        if point.training not in probes:
            probes[point.training] = _probe(plan, plan.trainings[point.training])
        run = probes[point.training]
        options = {k: v for k, v in point.options.items() if k != "seed"}
        key = (point.name, repr(sorted(options.items())))
        if key not in backends:
            backends[key] = get_backend(point.name, **options)
        model = run.models["qlstm"]
        model.set_backend(backends[key])
        preview = preview_dataset(model, run.data.x_test, batch_size=BATCH_SIZE)
        if run.train_config.val_fraction > 0:  # at most a 2nd pass: the best-on-validation weights
            preview = preview.scaled(2)
        previews.append(preview)
    grouped: dict[tuple[str, int], CostPreview] = {}
    for preview in previews:
        key = (preview.backend, preview.shots)
        if key in grouped:
            grouped[key].add(preview)
        else:
            grouped[key] = preview
    return list(grouped.values())
