"""Smoke test of benchmarks/bench_noise.py (loaded by path, like tests/test_example.py) and direct
tests of its scaled noise profiles. The smoke tests (marked bench) read its quick run in the
session's quick report."""

import importlib.util
import math

import pytest

from qlstm_qiskit import get_backend
from qlstm_qiskit.backends.profile_files import find_profiles, load_profile

from test_example import assert_png, load

HAVE_RUNTIME = importlib.util.find_spec("qiskit_ibm_runtime") is not None


@pytest.fixture(scope="module")
def bench():
    return load("benchmarks/bench_noise.py")


@pytest.fixture(scope="module")
def quick(bench, request):
    """The results of the quick run: the noise section of the session's quick report (the
    `quick_report` fixture of conftest.py), or, where qiskit-ibm-runtime is missing, a run of its
    own without the fake device (``--devices`` with no names)."""
    if not HAVE_RUNTIME:
        return bench.main(list(bench.QUICK_ARGS) + ["--devices"])
    quick_report = request.getfixturevalue("quick_report")
    assert quick_report.record("noise")["command"] == " ".join(
        ["python", "benchmarks/bench_noise.py", *bench.QUICK_ARGS]
    )
    return quick_report.results("noise")


@pytest.mark.bench
def test_quick_run_rows(bench, quick):
    rows = quick["rows"]
    by_name = {row["name"]: row for row in rows}
    assert {"nn.LSTM", "statevector", "aer_statevector", "aer_shots"} <= set(by_name)
    scales = quick["settings"]["noise_scales"]
    for base in bench.NOISY_PROFILES:
        noisy = [row for row in rows if row["group"] == base]
        assert [row["noise_scale"] for row in noisy] == scales
        assert all(row["computes"] == "noisy" for row in noisy)
    assert [row["shots"] for row in rows if row["group"] == "shots"] == quick["settings"]["shots"]
    # the same weights on two exact simulators
    exact = by_name["statevector"]["mean"]
    assert abs(by_name["aer_statevector"]["mean"] - exact) < 1e-6
    assert quick["exact_agreement"]["max_abs_prediction_difference"] < 1e-6
    for row in rows:
        assert row["runs"] == len(row["mse"]) >= 1
        assert all(math.isfinite(mse) and mse > 0 for mse in row["mse"])
    sampled = [row for row in rows if row["computes"] in ("sampled", "noisy")]
    assert sampled and all(row["shots"] or row["group"] == "aer_noisy_exact" for row in sampled)
    # the exact density matrix is deterministic: one run; the exact backends agree closely, a
    # sampled one differs from the exact value
    assert all(row["runs"] == 1 for row in rows if row["group"] == "aer_noisy_exact")
    assert by_name["aer_shots"]["mean"] != exact


@pytest.mark.bench
def test_fake_device_rows(quick):
    pytest.importorskip("qiskit_ibm_runtime")
    devices = [row for row in quick["rows"] if row["group"] == "device"]
    assert [row["name"] for row in devices] == quick["settings"]["devices"] == ["fake_manila"]
    (device,) = devices
    assert device["computes"] == "noisy" and device["shots"] == 1024
    assert all("seed=" in options for options in device["options"])  # reproducible runs
    assert all(math.isfinite(mse) and mse > 0 for mse in device["mse"])


@pytest.mark.bench
def test_render(bench, quick, tmp_path):
    figures = tmp_path / "figures"
    markdown = bench.render(quick, figures)
    assert markdown.splitlines()[0] == "## Noise"
    assert "None" not in markdown and "1 epoch(s)" in markdown  # the quick run's own setting
    referenced = [
        line.split("](", 1)[1].rstrip(")")
        for line in markdown.splitlines()
        if line.startswith("![")
    ]
    assert referenced
    for reference in referenced:
        assert reference.startswith("figures/")
        assert_png(tmp_path / reference)
    for row in quick["rows"]:  # one table line per row
        assert f"{row['mean']:.3e}" in markdown


def test_scaled_noise(bench):
    noise = {
        "depolarizing_1q": 0.001,
        "depolarizing_2q": 0.4,
        "t1_ns": 100_000.0,
        "t2_ns": 80_000.0,
        "time_1q_ns": 50.0,
        "readout_p01": 0.02,
    }
    double = bench.scaled_noise(noise, 2.0)
    assert double["depolarizing_1q"] == pytest.approx(0.002)
    assert double["depolarizing_2q"] == pytest.approx(0.8)
    assert double["readout_p01"] == pytest.approx(0.04)
    assert double["t1_ns"] == pytest.approx(50_000.0) and double["t2_ns"] == pytest.approx(40_000.0)
    assert double["time_1q_ns"] == 50.0
    assert bench.scaled_noise(noise, 4.0)["depolarizing_2q"] == 1.0  # capped
    with pytest.raises(ValueError):
        bench.scaled_noise(noise, 0.0)


@pytest.mark.parametrize("base", ["aer_noisy", "aer_noisy_exact"])
def test_scaled_profiles_load(bench, base, tmp_path):
    shipped = load_profile(find_profiles()[base])
    low, high = (bench.write_scaled_profile(base, scale, tmp_path) for scale in (0.5, 4.0))
    assert low != high
    profiles = find_profiles(tmp_path)
    weak, strong = load_profile(profiles[low]), load_profile(profiles[high])
    for key, value in shipped.noise.items():
        if key in bench.PROBABILITY_KEYS:
            assert weak.noise[key] == pytest.approx(0.5 * value)
            assert strong.noise[key] == pytest.approx(4.0 * value)
            assert strong.noise[key] > weak.noise[key]
        elif key in bench.COHERENCE_KEYS:
            assert weak.noise[key] == pytest.approx(2.0 * value)
            assert strong.noise[key] == pytest.approx(value / 4.0)
            assert strong.noise[key] < weak.noise[key]
        else:
            assert strong.noise[key] == weak.noise[key] == value
    assert strong.options == shipped.options
    assert strong.computes == shipped.computes == "noisy"
    # the documented user-profile mechanism: the written file is a backend name
    backend = get_backend(high, profile_dir=tmp_path)
    assert backend.computes == "noisy"
    assert backend.options().get("shots") == shipped.options["shots"]
