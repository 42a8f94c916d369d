"""Smoke test of benchmarks/bench_density.py (a script, loaded by path) at tiny sizes: its quick
run in the session's quick report (the `quick_report` fixture of conftest.py)."""

import json
import math
import re

import pytest

from test_example import assert_png, load


def positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_spread_puts_the_slow_steps_evenly_from_the_first_repetition():
    bench = load("benchmarks/bench_density.py")
    assert bench.spread(35, 4) == [1 if i in (0, 8, 17, 26) else 0 for i in range(35)]
    assert bench.spread(3, 3) == [1, 1, 1]
    assert bench.spread(2, 5) == [3, 2]  # more slow steps than repetitions: all still run
    assert bench.spread(4, 0) == [0, 0, 0, 0]


@pytest.mark.parametrize("option", ["--steps", "--slow-steps", "--max-steps"])
def test_every_median_has_a_timed_step(option, capsys):
    bench = load("benchmarks/bench_density.py")
    with pytest.raises(SystemExit):
        bench.parse_args([option, "0"])
    assert f"{option} must be at least 1" in capsys.readouterr().err
    assert bench.parse_args(["--no-ref", "--qubits"]).ref is False


@pytest.mark.bench
def test_bench_density_quick_run_and_render(quick_report, tmp_path):
    bench = load("benchmarks/bench_density.py")
    argv = [
        "--batch",
        "2",
        "--seq",
        "2",
        "--hidden",
        "3",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--slow-steps",
        "1",
        "--qubits",
        "2",
        "7",
        "--qubits-batch",
        "2",
        "--qubits-warmup",
        "1",
        "--max-steps",
        "1",
    ]
    assert bench.QUICK_ARGS == argv  # the driver's smoke run is the one tested here
    assert quick_report.record("density")["command"] == " ".join(
        ["python", "benchmarks/bench_density.py", *argv]
    )
    results = quick_report.results("density")  # saved as JSON: JSON-serialisable
    json.dumps(results)
    assert results["settings"]["threads"] == 1 == results["threads"]

    # part 1: the four models alternated, the ratios of each density variant
    ref = results["ref"]
    assert ref["workload"] == {"hidden": 3, "n_qubits": 4, "batch": 2, "seq": 2}
    assert ref["is_ref"] is False
    models = ref["models"]
    assert list(models) == [
        "statevector",
        "density_aer_noisy",
        "density_fake_manila",
        "aer_noisy_exact",
    ]
    for name, model in models.items():
        assert positive(model["step_s"]), name
        assert model["steps_timed"] == (1 if name == "aer_noisy_exact" else 2)
    assert {models[name]["path"] for name in ref["ratios"]} == {"product"}
    assert "path" not in models["statevector"]
    assert list(ref["ratios"]) == ["density_aer_noisy", "density_fake_manila"]
    for name, ratio in ref["ratios"].items():
        step = models[name]["step_s"]
        assert ratio["aer_noisy_exact_over_density"] == pytest.approx(
            models["aer_noisy_exact"]["step_s"] / step
        )
        assert ratio["density_over_statevector"] == pytest.approx(
            step / models["statevector"]["step_s"]
        )
        assert ratio["speedup_met"] == (ratio["aer_noisy_exact_over_density"] >= 200)
        assert ratio["slowdown_met"] == (ratio["density_over_statevector"] <= 20)
    assert ref["targets"] == {"speedup_min": 200, "slowdown_max": 20}

    # part 2: one fresh process per qubit count, the engine's path recorded
    rows = results["qubits"]
    assert [row["n_qubits"] for row in rows] == [2, 7]
    assert {row["n_qubits"]: row["path"] for row in rows} == {2: "product", 7: "evolution"}
    for row in rows:
        for key in (
            "density_step_s",
            "statevector_step_s",
            "lstm_step_s",
            "over_statevector",
            "over_lstm",
            "peak_gib",
            "baseline_gib",
        ):
            assert positive(row[key]), (key, row)
        assert row["peak_gib"] >= row["baseline_gib"]
        assert row["above_baseline_gib"] == row["peak_gib"] - row["baseline_gib"]
        assert row["density_steps_timed"] == 1
        assert row["over_statevector"] == row["density_step_s"] / row["statevector_step_s"]

    printed = "\n".join(quick_report.printed("density"))  # what main(QUICK_ARGS) printed
    assert "1 torch threads, Aer on every core" in printed
    assert re.search(r"^density_fake_manila: aer_noisy_exact / density ", printed, re.MULTILINE)
    assert re.search(r"^\s+7\s+evolution\s", printed, re.MULTILINE)

    markdown = bench.render(results, tmp_path / "figures")
    lines = markdown.splitlines()
    assert lines[0] == "## Density matrix"
    assert "### Training step" in lines and "### Against qubits" in lines  # not REF: no "at REF"
    table_rows = [line for line in lines if line.startswith("| `") and "target" not in line]
    assert len(table_rows) == 4 + 2  # the step table, the ratio table (not its header)
    assert any(
        line.startswith('| `density_matrix`, `noise_from="fake_manila"` | product |')
        for line in lines
    )
    assert "(target ≥ 200)" in markdown and "(target ≤ 20)" in markdown
    qubit_rows = [line for line in lines if re.match(r"\| \d+ \| (product|evolution) \|", line)]
    assert [row.split(" | ")[1] for row in qubit_rows] == ["product", "evolution"]
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", markdown)
    assert figures == ["figures/density_qubits.png"]
    assert_png(tmp_path / figures[0])

    # without part 2: no qubits table, no figure; without part 1 (--no-ref): no step tables
    markdown = bench.render(dict(results, qubits=[]), tmp_path / "none")
    assert "### Against qubits" not in markdown and not (tmp_path / "none").exists()
    markdown = bench.render(dict(results, ref=None), tmp_path / "figures")
    assert "### Training step" not in markdown and "Aer on all cores" not in markdown
    assert "### Against qubits" in markdown
