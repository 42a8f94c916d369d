"""Smoke test of benchmarks/bench_scaling.py (a script, loaded by path) at tiny sizes: its quick
run in the session's quick report (the `quick_report` fixture of conftest.py)."""

import json
import math
import re

import pytest

from test_example import assert_png, load


@pytest.mark.bench
def test_bench_scaling_quick_run_and_render(quick_report, tmp_path):
    bench = load("benchmarks/bench_scaling.py")
    argv = [
        "--n-qubits",
        "4",
        "13",
        "--depth",
        "1",
        "2",
        "--hidden",
        "3",
        "5",
        "--batch",
        "1",
        "2",
        "--seq",
        "1",
        "2",
        "--base-hidden",
        "3",
        "--base-batch",
        "2",
        "--base-seq",
        "2",
        "--qubits-batch",
        "2",
        "--warmup",
        "1",
        "--max-steps",
        "1",
    ]
    assert bench.QUICK_ARGS == argv  # the driver's smoke run is the one tested here
    assert quick_report.record("scaling")["command"] == " ".join(
        ["python", "benchmarks/bench_scaling.py", *argv]
    )
    results = quick_report.results("scaling")  # saved as JSON: JSON-serialisable
    json.dumps(results)
    requested = {
        "n_qubits": [4, 13],
        "depth": [1, 2],
        "hidden": [3, 5],
        "batch": [1, 2],
        "seq": [1, 2],
    }
    for axis, values in requested.items():
        assert [row["value"] for row in results["rows"] if row["axis"] == axis] == values
    for row in results["rows"]:
        other_axes = {name: row[name] for name in requested if name != row["axis"]}
        base = {"n_qubits": 4, "depth": 1, "hidden": 3, "batch": 2, "seq": 2}
        assert other_axes == {name: base[name] for name in other_axes}
        assert row[row["axis"]] == row["value"]
        for key in ("qlstm_step_s", "lstm_step_s", "ratio", "peak_gib", "baseline_gib"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert row["peak_gib"] >= row["baseline_gib"]
        assert row["above_baseline_gib"] == row["peak_gib"] - row["baseline_gib"]
        assert row["qlstm_steps_timed"] == row["lstm_steps_timed"] == 1
    methods = {
        row["value"]: (row["method"], row["recurrence"])
        for row in results["rows"]
        if row["axis"] == "n_qubits"
    }
    assert methods == {4: ("product", "fused"), 13: ("product", "fused")}
    assert results["settings"]["max_steps"] == 1

    printed = "\n".join(quick_report.printed("scaling"))  # what main(QUICK_ARGS) printed
    assert re.search(r"^\s+13\s+product\s+fused", printed, re.MULTILINE)

    markdown = bench.render(results, tmp_path / "figures")
    assert markdown.splitlines()[0] == "## Scaling"
    table_rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(table_rows) == len(results["rows"]) == 10
    assert "| 13 | product, fused |" in markdown
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", markdown)
    assert figures
    for figure in figures:
        assert_png(tmp_path / figure)
