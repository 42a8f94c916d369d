"""Smoke test of benchmarks/bench_noise_aware.py at tiny sizes: its quick run in the session's
quick report (the `quick_report` fixture of conftest.py)."""

import math

import pytest

from test_example import load


@pytest.mark.bench
def test_bench_noise_aware_quick_run_and_render(quick_report, tmp_path):
    bench = load("benchmarks/bench_noise_aware.py")
    record = quick_report.record("noise_aware")
    assert record["command"] == " ".join(
        ["python benchmarks/bench_noise_aware.py", *bench.QUICK_ARGS]
    )
    results = quick_report.results("noise_aware")
    settings = results["settings"]
    assert settings["seeds"] == [0] and settings["device"] == "fake_manila"
    records = results["records"]
    assert [(r["seed"], r["training"]) for r in records] == [(0, "exact"), (0, "noise-aware")]
    assert [r["train_backend"] for r in records] == ["statevector", "density_matrix"]
    assert records[1]["train_options"] == {"noise_from": "fake_manila"}
    for r in records:
        assert set(r["evaluation"]) == {"fake_manila", "density_matrix", "statevector"}
        assert len(r["evaluation"]["fake_manila"]) == settings["repeats"] == 1
        values = [v for vs in r["evaluation"].values() for v in vs]
        assert all(math.isfinite(v) and v > 0 for v in values)
    # the two trainings give different models
    assert records[0]["evaluation"]["statevector"] != records[1]["evaluation"]["statevector"]
    markdown = bench.render(results, tmp_path)
    assert markdown.startswith("## Noise-aware training\n")
    assert "| 0 | exact | 1 |" in markdown and "| 0 | noise-aware | 1 |" in markdown
    assert "On `fake_manila` (sampled values) the noise-aware models' mean test MSE is" in markdown
    assert "On `density_matrix` (exact noisy values) the noise-aware models'" in markdown
