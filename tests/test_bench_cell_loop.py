"""Smoke test of benchmarks/bench_cell_loop.py (a script, loaded by path) at tiny sizes: its quick
run in the session's quick report (the `quick_report` fixture of conftest.py)."""

import json
import math

import pytest
import torch

from test_example import load


def test_quick_flag_gives_the_quick_sizes():
    bench = load("benchmarks/bench_cell_loop.py")
    assert bench.parse_args(["--quick"]) == bench.parse_args(bench.QUICK_ARGS)
    assert bench.parse_args([]).threads == 1


def test_the_models_are_the_example_with_either_cell():
    bench = load("benchmarks/bench_cell_loop.py")
    models = bench.make_models(5, 2)
    assert type(models["nn.LSTMCell"].lstm2).__name__ == "LSTMCell"
    assert type(models["QLSTMCell"].lstm2).__name__ == "QLSTMCell"
    x, target = bench.sine_data(3, 7)
    assert x.shape == target.shape == (3, 6) and x.dtype == torch.float64
    torch.testing.assert_close(x[:, 1:], target[:, :-1])  # the target is the next point
    for model in models.values():
        assert model(x, future=2).shape == (3, 8)


@pytest.mark.bench
def test_bench_cell_loop_quick_run_and_render(quick_report, tmp_path):
    bench = load("benchmarks/bench_cell_loop.py")
    assert quick_report.record("cell_loop")["command"] == " ".join(
        ["python", "benchmarks/bench_cell_loop.py", *bench.QUICK_ARGS]
    )
    results = quick_report.results("cell_loop")
    json.dumps(results)
    assert results["settings"]["n"] == 4 and results["threads"] == 1
    models = results["models"]
    assert list(models) == ["QLSTMCell", "nn.LSTMCell"]
    for r in models.values():
        assert math.isfinite(r["closure_ms"]) and r["closure_ms"] > 0
        assert r["step_ms"] >= r["closure_ms"]
        assert r["closure_calls"] >= 2  # 2 timed LBFGS steps, at least one closure call each
        assert len(r["losses"]) == 3 and all(math.isfinite(v) for v in r["losses"])
    assert results["ratio"] == pytest.approx(
        models["QLSTMCell"]["closure_ms"] / models["nn.LSTMCell"]["closure_ms"]
    )
    assert quick_report.printed("cell_loop")[-1].startswith("ratio (QLSTMCell closure")
    markdown = bench.render(results, tmp_path / "figures")
    assert markdown.startswith("## Cell loop")
    assert "| QLSTMCell |" in markdown and "| nn.LSTMCell |" in markdown
