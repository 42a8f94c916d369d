"""The benchmark report (benchmarks/report.py) and its accuracy section, at tiny sizes: the smoke
tests read the session's one quick report (the `quick_report` fixture of conftest.py)."""

import json
import math
import shutil

import pytest

from test_example import assert_png, load


def test_matched_lstm_is_within_twenty_percent():
    bench = load("benchmarks/bench_accuracy.py")
    from qlstm_qiskit.forecasting.models import ModelConfig

    qlstm = ModelConfig(kind="qlstm", hidden_size=5)
    lstm, q_count, c_count = bench.matched_lstm(qlstm)
    assert lstm.kind == "lstm" and abs(c_count - q_count) <= 0.2 * q_count
    assert q_count == bench.parameter_count(qlstm) and c_count == bench.parameter_count(lstm)
    neighbours = [
        bench.parameter_count(ModelConfig(kind="lstm", hidden_size=h))
        for h in (lstm.hidden_size - 1, lstm.hidden_size + 1)
    ]
    assert all(abs(n - q_count) >= abs(c_count - q_count) for n in neighbours)  # the closest
    big = ModelConfig(kind="qlstm", hidden_size=1000)  # found however large it has to be
    lstm, q_count, c_count = bench.matched_lstm(big)
    assert lstm.hidden_size > 64 and abs(c_count - q_count) <= 0.2 * q_count
    from qlstm_qiskit.circuits import CircuitSpec

    tiny = ModelConfig(kind="qlstm", hidden_size=1, circuit=CircuitSpec(n_qubits=1))  # 34
    with pytest.raises(ValueError, match="within 20 %"):  # nn.LSTM: 18 (hidden 1), 43 (hidden 2)
        bench.matched_lstm(tiny)


def test_epochs_to_reach():
    bench = load("benchmarks/bench_accuracy.py")
    assert bench.epochs_to_reach([0.5, 0.2, 0.05, 0.1], 0.1) == 3
    assert bench.epochs_to_reach([0.5, 0.2], 0.2) == 2
    assert bench.epochs_to_reach([0.5, 0.2], 0.01) is None


@pytest.mark.bench
def test_accuracy_section_quick(quick_report, tmp_path):
    """The accuracy section's QUICK_ARGS run, from the session's quick report."""
    bench = load("benchmarks/bench_accuracy.py")
    assert quick_report.record("accuracy")["command"].endswith(" ".join(bench.QUICK_ARGS))
    results = quick_report.results("accuracy")
    settings = results["settings"]
    assert list(results["datasets"]) == ["damped_shm"]
    result = results["datasets"]["damped_shm"]
    assert result["n_points"] == 60 and result["train_windows"] + result["test_windows"] == 56
    for kind in ("qlstm", "lstm"):
        runs = result["runs"][kind]
        assert len(runs) == len(settings["seeds"]) == 2
        assert all(len(run["test_mse"]) == settings["epochs"] == 2 for run in runs)
        summary = result["summary"][kind]
        finals = [run["test_mse"][-1] for run in runs]
        assert summary["final_mean"] == pytest.approx(sum(finals) / 2)
        tails = [sum(run["test_mse"]) / 2 for run in runs]  # 2 epochs: the tail is all of them
        assert summary["tail_mean"] == pytest.approx(sum(tails) / 2)
        assert summary["best_mean"] <= summary["final_mean"]
        assert summary["reached"]["1e-09"] == {"median_epochs": None, "seeds_reached": 0}
        assert all(math.isfinite(m) and m > 0 for run in runs for m in run["test_mse"])
    # the two seeds give different models
    assert result["runs"]["qlstm"][0]["test_mse"] != result["runs"]["qlstm"][1]["test_mse"]
    markdown = bench.render(json.loads(json.dumps(results)), tmp_path / "figures")
    assert markdown.startswith("## Accuracy against the paper\n")
    assert "| damped_shm | 37/19 | QLSTM |" in markdown
    assert "| damped_shm | 37/19 | LSTM |" in markdown
    assert "](figures/accuracy_curves.png)" in markdown
    assert_png(tmp_path / "figures" / "accuracy_curves.png")


def test_quick_report_never_overwrites_the_measured_one():
    report = load("benchmarks/report.py")
    with pytest.raises(SystemExit, match="--quick needs --docs"):
        report.main(["--quick"])


@pytest.mark.bench
def test_report_renders_every_section_from_a_quick_run(quick_report, tmp_path):
    """The documented command, at tiny sizes: every section runs in its own process, saves its
    results and appears in BENCHMARKS.md with its figures."""
    report, docs = quick_report.report, quick_report.docs
    assert quick_report.path == docs / "BENCHMARKS.md"
    text = quick_report.text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split()[1] for h in headings] == [
        "Speed",
        "Configurations",
        "Scaling",
        "Accuracy",
        "Noise",
        "Noise-aware",
        "Density",
        "Cell",
    ]
    for name in report.SECTIONS:
        record = json.loads((docs / "results" / f"{name}.json").read_text())
        assert record["section"] == name and record["wall_seconds"] >= 0
        assert record["command"].startswith(f"python benchmarks/{report.SECTIONS[name]}")
        assert record["machine"]["versions"]["qiskit"]
        assert f"*`{record['command']}`" in text
    figures = [
        line.split("](")[1].rstrip(")") for line in text.splitlines() if "](figures/" in line
    ]
    assert len(figures) >= 4
    for figure in figures:
        assert_png(docs / figure)
    assert "Not yet run" not in text
    # `--sections` with no names re-renders from the saved results alone: the same document (in
    # a copy of the session's report folder, which other tests read)
    copy = tmp_path / "docs"
    shutil.copytree(docs, copy)
    (copy / "BENCHMARKS.md").unlink()
    assert report.main(["--sections", "--docs", str(copy)]).read_text() == text
