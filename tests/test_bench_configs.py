"""Smoke test of benchmarks/bench_configs.py (a script, loaded by path) at tiny sizes: its quick
run in the session's quick report (the `quick_report` fixture of conftest.py), and a quick run
that checks that the PennyLane peer is timed in a child process, never in the benchmark's own."""

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from test_example import ROOT, assert_png, load

HAS_PENNYLANE = importlib.util.find_spec("pennylane") is not None

#: a quick run of bench_configs.py in a fresh process, with a spy on its child processes; prints
#: the children's options and results, the rows, and the PennyLane modules it imported itself
SPIED_QUICK_RUN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench_configs", "benchmarks/bench_configs.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
children, real = [], bench.run_in_fresh_process
def spy(script, args):
    result = real(script, args)
    children.append({"script": str(script), "args": [str(a) for a in args], "result": result})
    return result
bench.run_in_fresh_process = spy
rows = bench.main(bench.QUICK_ARGS)["rows"]
imported = sorted(m for m in sys.modules if m.split(".")[0] == "pennylane")
print(json.dumps({"children": children, "rows": rows, "imported": imported}))
"""


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
            assert math.isfinite(r["pennylane_ms"]) and r["pennylane_ms"] > 0
            assert r["pennylane_over_ours"] == pytest.approx(r["pennylane_ms"] / r["qlstm_ms"])
    assert (results["pennylane_skipped"] is None) == HAS_PENNYLANE
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


@pytest.mark.bench
def test_pennylane_is_timed_in_a_child_process_only():
    """The PennyLane step slows the other models of the process it runs in (module docstring of
    bench_configs.py): each row's PennyLane median must come from a fresh process with the row's
    workload, and the benchmark's own process must not even import PennyLane."""
    result = subprocess.run(
        [sys.executable, "-c", SPIED_QUICK_RUN], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    spied = json.loads(result.stdout.strip().splitlines()[-1])
    assert spied["imported"] == []
    bench = load("benchmarks/bench_configs.py")
    quick = bench.parse_args(bench.QUICK_ARGS)
    if not HAS_PENNYLANE:
        assert spied["children"] == []
        assert all(r["pennylane_ms"] is None for r in spied["rows"])
        return
    assert len(spied["children"]) == len(spied["rows"]) == 2
    for row, child in zip(spied["rows"], spied["children"], strict=True):
        assert child["script"].endswith("bench_configs.py")
        options = dict(zip(child["args"][::2], child["args"][1::2], strict=True))
        assert options["--pl-row"] == f"{row['qubits']},{row['n_qlayers']},{row['depth']}"
        for name in ("batch", "seq", "hidden", "steps", "warmup", "threads"):
            assert options[f"--{name}"] == str(getattr(quick, name)), name
        assert row["pennylane_ms"] == child["result"]["pennylane_ms"] > 0
