"""Smoke test of benchmarks/bench_configs.py (a script, loaded by path) at tiny sizes: its quick
run in the session's quick report (the `quick_report` fixture of conftest.py)."""

import json
import math

import pytest

from test_example import assert_png, load


def test_rows_are_parsed_and_checked(capsys):
    bench = load("benchmarks/bench_configs.py")
    assert bench.parse_args(["--rows", "8,2,2", "4,1,1"]).rows == [(8, 2, 2), (4, 1, 1)]
    with pytest.raises(SystemExit):
        bench.parse_args(["--rows", "8,2"])
    assert "a row is qubits,n_qlayers,depth" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err
    assert bench.parse_args(["--quick"]) == bench.parse_args(bench.QUICK_ARGS)


def test_largest_jump_is_between_neighbouring_one_block_rows():
    bench = load("benchmarks/bench_configs.py")
    rows = [
        {"qubits": 4, "n_qlayers": 1, "depth": 1, "qlstm_ms": 2.0},
        {"qubits": 2, "n_qlayers": 1, "depth": 1, "qlstm_ms": 1.0},
        {"qubits": 4, "n_qlayers": 2, "depth": 2, "qlstm_ms": 50.0},  # not a one-block row
        {"qubits": 6, "n_qlayers": 1, "depth": 1, "qlstm_ms": 7.0},
    ]
    assert bench.largest_jump(rows) == (3.5, "4->6")
    assert bench.largest_jump(rows[:1]) is None


@pytest.mark.bench
def test_bench_configs_quick_run_and_render(quick_report, tmp_path):
    bench = load("benchmarks/bench_configs.py")
    assert quick_report.record("configs")["command"] == " ".join(
        ["python", "benchmarks/bench_configs.py", *bench.QUICK_ARGS]
    )
    results = quick_report.results("configs")
    json.dumps(results)
    assert results["threads"] == 1
    rows = results["rows"]
    assert [(r["qubits"], r["n_qlayers"], r["depth"]) for r in rows] == [(2, 1, 1), (4, 2, 1)]
    assert [r["method"] for r in rows] == ["product", "fused"]
    for r in rows:
        for key in ("qlstm_ms", "lstm_ms", "est_mflop", "gflops_per_s"):
            assert math.isfinite(r[key]) and r[key] > 0, key
        assert r["ours_over_lstm"] == pytest.approx(r["qlstm_ms"] / r["lstm_ms"])
        assert r["gflops_per_s"] == pytest.approx(r["est_mflop"] / r["qlstm_ms"])
        if results["pennylane_skipped"] is None:
            assert r["pennylane_over_ours"] == pytest.approx(r["pennylane_ms"] / r["qlstm_ms"])
    assert rows[1]["est_mflop"] > rows[0]["est_mflop"]  # more qubits, blocks: more work
    ladder = results["ladder"]
    assert [(r["qubits"], r["n_qlayers"], r["depth"]) for r in ladder] == [(2, 1, 1), (3, 1, 1)]
    assert all(math.isfinite(r["qlstm_ms"]) and r["qlstm_ms"] > 0 for r in ladder)
    jump = results["summary"]["largest_jump"]
    assert results["summary"]["jump_from"] == "ladder" and jump["between"] == "2->3"
    assert jump["ratio"] == pytest.approx(ladder[1]["qlstm_ms"] / ladder[0]["qlstm_ms"])
    printed = quick_report.printed("configs")
    assert printed[1].split()[:3] == ["row", "method", "ours"]
    assert printed[-1].startswith("targets: PennyLane/ours >= 40 on every row")
    markdown = bench.render(results, tmp_path / "figures")
    assert markdown.startswith("## Configurations\n")
    assert "| 4, 2, 1 | fused |" in markdown
    assert "](figures/configs.png)" in markdown
    assert_png(tmp_path / "figures" / "configs.png")
