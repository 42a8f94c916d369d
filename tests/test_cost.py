"""The QPU-time model of IBM's guide "Workload usage" (per job 2 s + executions × (rep_delay +
circuit duration), never below the quick form 2 s + 0.00035 s × executions), the overhead of
twirling and of each resilience level, and the preview of real fake-device models. Every
expected number here is worked out by hand in the comments."""

import inspect
import warnings

import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit.library import Measure, Reset, XGate
from qiskit.transpiler import InstructionProperties, Target

from qlstm_qiskit import QLSTM
from qlstm_qiskit.backends.cost import CostPreview
from qlstm_qiskit.backends.cost_model import (
    DEFAULT_REP_DELAY,
    MEASURE_LEARNING_RANDOMIZATIONS,
    RUNTIME_DEFAULT_RESILIENCE_LEVEL,
    ZNE_NOISE_FACTORS,
    DevicePricing,
    JobCost,
    circuit_duration,
    device_pricing,
    overhead_of,
)

runtime = pytest.importorskip("qiskit_ibm_runtime")


def job(rows=32, shots=1000, duration=10e-6, **options):
    """One job priced with ``options`` on a device of rep_delay 250 µs and a circuit of
    ``duration`` seconds (gates, init and measurement together)."""
    overhead = overhead_of({"resilience_level": 0, **options})
    return JobCost(
        device="dev",
        rows=rows,
        shots=shots,
        circuit_executions=overhead.circuit_executions(rows, shots),
        calibration_executions=overhead.calibration_executions(shots),
        rep_delay=250e-6,
        duration=duration,
        duration_scale=overhead.duration_scale,
    )


def test_ibm_formula_on_the_readme_workload():
    # 3 jobs x 32 rows x 1000 shots = 3 x 32,000 executions, no mitigation
    cost = job()
    assert cost.executions == 32_000
    # model: 2 + 32,000 x (250 + 10) us = 2 + 8.32 = 10.32 s a job
    assert cost.model_seconds == pytest.approx(10.32)
    # quick form: 2 + 0.00035 x 32,000 = 2 + 11.2 = 13.2 s a job: the floor applies
    assert cost.quick_seconds == pytest.approx(13.2) and cost.seconds == pytest.approx(13.2)
    preview = CostPreview("dev", 1000, 3, 96, [32] * 3, job_costs=[cost] * 3)
    assert preview.qpu_seconds == pytest.approx(39.6)  # IBM's quick form for 96,000 executions
    assert preview.model_seconds == pytest.approx(30.96)


def test_a_long_circuit_lifts_the_model_above_the_quick_form():
    # 2 + 32,000 x (250 + 150) us = 2 + 12.8 = 14.8 s > 13.2 s
    cost = job(duration=150e-6)
    assert cost.model_seconds == pytest.approx(14.8) and cost.seconds == pytest.approx(14.8)


def test_a_preview_without_a_device_uses_the_quick_form():
    preview = CostPreview("x", 1000, 3, 96, [32] * 3)
    assert preview.executions == 96_000 and preview.qpu_seconds == pytest.approx(39.6)


@pytest.mark.parametrize(
    "twirling, shots, expected",
    [
        # both "auto": spr = max(64, ceil(shots / 32)), n = ceil(shots / spr)
        (True, 1000, 16 * 64),  # spr 64, n 16
        (True, 100, 2 * 64),  # spr 64, n 2
        (True, 4096, 32 * 128),  # spr 128, n 32
        ({"enable_gates": True, "num_randomizations": 10}, 1000, 10 * 100),
        ({"enable_gates": True, "shots_per_randomization": 300}, 1000, 4 * 300),
        (
            {"enable_measure": True, "num_randomizations": 5, "shots_per_randomization": 50},
            1000,
            250,
        ),
        (False, 1000, 1000),
        ({"num_randomizations": 5}, 1000, 1000),  # level 0: nothing enabled, nothing twirled
    ],
)
def test_twirling_sets_the_shots_of_a_circuit(twirling, shots, expected):
    assert (
        overhead_of({"resilience_level": 0, "twirling": twirling}).shots_per_circuit(shots)
        == expected
    )


def test_resilience_level_1_twirls_measurements_and_calibrates_readout():
    overhead = overhead_of({"resilience_level": 1})
    assert (overhead.twirl_measure, overhead.twirl_gates, overhead.zne_factors) == (True, False, ())
    cost = job(resilience_level=1)
    # 32 rows x 1024 twirled shots + 32 calibration circuits x 64 shots = 32,768 + 2,048
    assert (cost.circuit_executions, cost.calibration_executions) == (32_768, 2_048)
    # model 2 + 34,816 x 260 us = 11.05216 s; quick 2 + 0.00035 x 34,816 = 14.1856 s
    assert cost.model_seconds == pytest.approx(11.05216)
    assert cost.quick_seconds == pytest.approx(14.1856) and cost.seconds == cost.quick_seconds


def test_resilience_level_2_adds_gate_twirling_and_zne():
    overhead = overhead_of({"resilience_level": 2})
    assert overhead.twirl_gates and overhead.twirl_measure and overhead.zne_factors == (1, 3, 5)
    assert overhead.duration_scale == 3  # the mean noise factor
    cost = job(resilience_level=2)
    # 32 x 1024 x 3 noise factors = 98,304, plus 2,048 calibration executions
    assert (cost.circuit_executions, cost.calibration_executions) == (98_304, 2_048)
    # 2 + 98,304 x (250 + 3 x 10) us + 2,048 x (250 + 10) us = 2 + 27.52512 + 0.53248
    assert cost.model_seconds == pytest.approx(30.0576)
    assert cost.quick_seconds == pytest.approx(2 + 0.00035 * 100_352)  # 37.1232 s


def test_an_unset_resilience_level_is_the_runtime_default():
    unset, one = overhead_of({}), overhead_of({"resilience_level": 1})
    assert unset.level == RUNTIME_DEFAULT_RESILIENCE_LEVEL == 1 and not unset.level_set
    assert unset.circuit_executions(32, 1000) == one.circuit_executions(32, 1000)
    assert "the runtime's default" in unset.describe(1000)[0]


def test_the_factors_are_the_runtime_option_defaults():
    options = runtime.options
    assert tuple(options.ZneOptions()._default_noise_factors()) == ZNE_NOISE_FACTORS
    assert "Default: 32." in inspect.getsource(options.MeasureNoiseLearningOptions)
    assert MEASURE_LEARNING_RANDOMIZATIONS == 32
    twirling = inspect.getsource(options.TwirlingOptions)
    assert "max(64, ceil(shots / 32))" in twirling
    assert "ceil(shots/shots_per_randomization)" in twirling
    assert "Default: 1." in inspect.getsource(options.EstimatorOptions)


def test_bad_twirling_counts_are_refused():
    with pytest.raises(ValueError, match="num_randomizations must be an int >= 1 or 'auto', got 0"):
        overhead_of({"twirling": {"num_randomizations": 0}})


def tiny_target(with_durations=True):
    target = Target(num_qubits=1)
    durations = (4e-6, 3e-6, 2e-6) if with_durations else (None, None, None)
    for gate, duration in zip((XGate(), Reset(), Measure()), durations, strict=True):
        target.add_instruction(gate, {(0,): InstructionProperties(duration=duration)})
    return target


def test_the_circuit_duration_adds_init_and_measurement():
    circuit = QuantumCircuit(1)
    circuit.x(0)
    duration = circuit_duration(circuit, tiny_target())
    assert (duration.gates, duration.init, duration.measure) == pytest.approx((4e-6, 3e-6, 2e-6))
    assert duration.seconds == pytest.approx(9e-6) and duration.missing is None


def test_a_target_without_durations_says_so_and_the_quick_form_sets_the_estimate():
    circuit = QuantumCircuit(1)
    circuit.x(0)
    pricing = DevicePricing("dev", 250e-6, "test", tiny_target(False), overhead_of({}), "job")
    preview = CostPreview("dev", 100, pricing=pricing)
    preview.count_job([(circuit, 10)])
    assert preview.job_costs[0].duration == 0 and "duration unknown" in preview.report()
    assert preview.qpu_seconds == pytest.approx(preview.quick_seconds)


def model_preview(device, **options):
    from qlstm_qiskit.forecasting.inference import preview_dataset

    model = QLSTM(1, 2, n_qubits=2, batch_first=True, seed=0, dtype=torch.float64)
    model.set_backend(device, shots=1000, seed=1, **options)
    x = torch.linspace(-1, 1, 24, dtype=torch.float64).reshape(8, 3, 1)
    return model, preview_dataset(model, x)


@pytest.mark.parametrize("device", ["fake_manila", "fake_brisbane"])
def test_a_fake_device_preview_uses_its_rep_delay_and_isa_durations(device):
    model, preview = model_preview(device, resilience_level=0)
    backend = model.backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep_delay = backend.device.default_rep_delay
    assert rep_delay == pytest.approx(250e-6)  # what both fake devices state
    assert (preview.jobs, preview.circuits, preview.executions) == (3, 96, 96_000)
    longest = backend.pricing.longest()
    assert longest.gates > 0 and longest.missing is None
    assert longest.init > 0 and longest.measure > 0  # reset and measure from the target
    for cost in preview.job_costs:
        assert cost.rep_delay == rep_delay and cost.duration == pytest.approx(longest.seconds)
    # level 0 on this tiny circuit: the quick form (39.6 s for 96,000 executions) is the estimate
    assert preview.qpu_seconds == pytest.approx(39.6)
    assert preview.model_seconds == pytest.approx(3 * 2 + 96_000 * (rep_delay + longest.seconds))
    report = preview.report()
    for text in ("rep_delay: 250 us", "circuit:", "shots run: 96000", "quick:", "billing:"):
        assert text in report


def test_the_report_explains_the_overhead_and_session_billing():
    _model, preview = model_preview("fake_manila", execution="session")
    report = preview.report()
    assert "resilience_level 1 (the runtime's default)" in report
    assert "measurement twirling: 16 randomizations x 64 shots = 1024" in report
    assert "readout mitigation (TREX): 32 calibration circuits x 64 shots" in report
    assert "execution=session" in report and "lower bound" in report
    # 3 jobs of 32 x 1024 + 2048 = 34,816 executions; quick form 3 x 2 + 0.00035 x 104,448
    assert preview.executions == 104_448
    assert preview.qpu_seconds == pytest.approx(42.5568)


def test_a_device_without_a_rep_delay_gets_ibms_default():
    class Device:
        name = "plain"
        target = tiny_target()

    pricing = device_pricing(Device(), {"execution": None})
    assert pricing.rep_delay == DEFAULT_REP_DELAY and "states none" in pricing.rep_delay_source
    assert pricing.execution == "job"
