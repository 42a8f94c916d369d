"""The accuracy benchmark (benchmarks/bench_accuracy.py and its accuracy_* helpers): selection on
validation, the gap rule and the resumable results file without training much; its quick run
(marked bench) from the session's quick report."""

import json
import math
import random

import pytest

from test_example import assert_png, load


@pytest.fixture(scope="module")
def bench():
    return load("benchmarks/bench_accuracy.py")


@pytest.fixture(scope="module")
def stats():
    return load("benchmarks/accuracy_stats.py")


def synthetic_run(rng: random.Random, epochs: int = 6, diverged: int | None = None) -> dict:
    """A run result with random validation and test curves over a few orders of magnitude."""
    length = epochs if diverged is None else diverged - 1
    return {
        "validation_mse": [10 ** rng.uniform(-5, -1) for _ in range(length)],
        "test_mse": [10 ** rng.uniform(-5, -1) for _ in range(length)],
        "initial_test_mse": 0.3,
        "seconds": rng.uniform(1, 2),
        "diverged_epoch": diverged,
        "windows": [30, 7, 19],
    }


def synthetic_grid(rng: random.Random, seeds: int = 5) -> dict:
    points = [(lr, s) for s in ("none", "cosine") for lr in (0.003, 0.01, 0.03)]
    return {point: [synthetic_run(rng) for _ in range(seeds)] for point in points}


def test_selection_is_the_argmin_of_the_mean_best_validation(stats):
    rng = random.Random(0)
    for _ in range(20):
        grid = synthetic_grid(rng)
        means = {p: sum(min(r["validation_mse"]) for r in runs) / 5 for p, runs in grid.items()}
        assert stats.select(grid) == min(means, key=means.get)
        assert stats.grid_score(grid[stats.select(grid)]) == (0, pytest.approx(min(means.values())))


def test_selection_never_reads_the_test_part(stats):
    rng = random.Random(1)
    for _ in range(20):
        grid = synthetic_grid(rng)
        chosen = stats.select(grid)
        tests = [run["test_mse"] for runs in grid.values() for run in runs]
        rng.shuffle(tests)  # every run now carries another run's test curve
        for run, test in zip((r for runs in grid.values() for r in runs), tests, strict=True):
            run["test_mse"] = [-t for t in test]  # and nonsense values at that
        assert stats.select(grid) == chosen


def test_a_point_where_a_seed_diverged_ranks_last(stats):
    rng = random.Random(2)
    grid = synthetic_grid(rng, seeds=3)
    low = (0.03, "none")
    for run in grid[low]:
        run["validation_mse"] = [1e-9] * 6  # the lowest validation by far ...
    grid[low][1] = synthetic_run(rng, diverged=3)  # ... but one seed diverged
    grid[low][1]["validation_mse"] = [1e-12, 1e-12]
    assert stats.grid_score(grid[low]) == (1, pytest.approx(1e-9))
    assert stats.select(grid) != low
    for runs in grid.values():  # all diverge somewhere: the fewest divergences wins
        runs[0] = synthetic_run(rng, diverged=2)
    grid[low][2] = synthetic_run(rng, diverged=4)
    assert stats.grid_score(grid[low])[0] == 3 and stats.select(grid) != low


def test_summary_reads_the_test_mse_at_the_best_validation_epoch(stats):
    runs = [
        {**synthetic_run(random.Random(3)), "validation_mse": [0.5, 0.1, 0.2, 0.1]},
        {**synthetic_run(random.Random(4)), "validation_mse": [0.3, 0.4, 0.2, 0.25]},
        synthetic_run(random.Random(5), diverged=2),
    ]
    runs[0]["test_mse"] = [0.4, 0.05, 0.01, 0.02]  # best validation: epoch 2 (the first of two)
    runs[1]["test_mse"] = [0.3, 0.2, 0.09, 0.001]  # epoch 3
    s = stats.summarise(runs, [0.06, 1e-9])
    assert s["seeds"] == 2 and s["diverged"] == 1
    assert s["test_at_best_mean"] == pytest.approx((0.05 + 0.09) / 2)
    assert s["test_at_best_std"] == pytest.approx(abs(0.05 - 0.09) / math.sqrt(2))
    assert s["last_test_mean"] == pytest.approx((0.02 + 0.001) / 2)
    assert s["best_epoch_median"] == 2.5
    assert s["validation_mean"] == pytest.approx(0.15)
    assert s["reached"]["0.06"] == {"median_epochs": 3, "seeds_reached": 2}  # epochs 2 and 4
    assert s["reached"]["1e-09"] == {"median_epochs": None, "seeds_reached": 0}
    assert stats.epochs_to_reach([0.5, 0.2, 0.05, 0.1], 0.1) == 3
    assert stats.epochs_to_reach([0.5, 0.2], 0.01) is None


def test_gap_rule(stats):
    def summary(mean, std):
        return {"test_at_best_mean": mean, "test_at_best_std": std}

    g = stats.gap(summary(1.0, 0.1), summary(1.5, 0.3))  # 0.5 apart > 0.1 + 0.3
    assert g == {"ratio": pytest.approx(2 / 3), "apart": True} and stats.verdict(g) == "lower"
    g = stats.gap(summary(1.0, 0.1), summary(1.3, 0.3))  # 0.3 apart < 0.4
    assert not g["apart"] and stats.verdict(g) == "within"
    g = stats.gap(summary(2.0, 0.2), summary(1.0, 0.5))  # 1.0 apart > 0.7
    assert g["ratio"] == pytest.approx(2.0) and stats.verdict(g) == "higher"


def test_the_best_qlstm_of_a_task_is_chosen_on_validation(bench):
    rng = random.Random(6)
    runs = {name: synthetic_grid(rng, seeds=3) for name in ("qlstm", "chen", "lstm_h7")}
    for name, validation, test in (("qlstm", 1e-6, 1e-1), ("chen", 1e-3, 1e-7)):
        for seeds in runs[name].values():
            for run in seeds:
                run["validation_mse"] = [validation * (1 + rng.random()) for _ in range(6)]
                run["test_mse"] = [test * (1 + rng.random()) for _ in range(6)]
    plan = {"matched": {"qlstm": "lstm_h7", "chen": "lstm_h7"}}
    result = bench.summarise_task(runs, plan, [1e-3])
    assert result["best_qlstm"] == "qlstm"  # lower validation MSE, though far higher test MSE
    assert result["gaps"]["chen"]["verdict"] == "lower"
    assert result["gaps"]["qlstm"]["lstm"] == "lstm_h7"
    overall = bench.tally({"a": result, "b": result}, plan)
    assert overall["best"] == overall["qlstm"]
    assert overall["chen"] == {"lower_mean": 2, "lower": 2, "within": 0, "higher": 0}
    assert overall["qlstm"]["lower_mean"] == 0


def test_matched_lstm_is_within_twenty_percent(bench):
    from qlstm_qiskit.circuits import CircuitSpec
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
    tiny = ModelConfig(kind="qlstm", hidden_size=1, circuit=CircuitSpec(n_qubits=1))  # 34
    with pytest.raises(ValueError, match="within 20 %"):  # nn.LSTM: 18 (hidden 1), 43 (hidden 2)
        bench.matched_lstm(tiny)


def test_models_one_lstm_per_distinct_size_and_identical_variants_not_trained(bench):
    plan = bench.plan_models(bench.parse_args([]))
    assert plan["aliases"] == {}  # strong runs at depth 2 (at depth 1 it would be the ring)
    assert list(plan["configs"]) == [
        "qlstm",
        "chen",
        "input_scaling",
        "strong",
        "lstm_h7",
        "lstm_h8",
    ]
    assert plan["matched"] == {
        "qlstm": "lstm_h7",
        "chen": "lstm_h8",
        "input_scaling": "lstm_h7",
        "strong": "lstm_h7",
    }
    assert plan["configs"]["strong"].circuit.depth == 2
    shallow = dict(bench.VARIANTS["strong"], depth=1)
    base = plan["configs"]["qlstm"]
    assert bench.same_model(bench.variant(base, shallow), base)  # depth 1: range 1, the ring
    assert plan["configs"]["chen"].cell == "chen" and plan["configs"]["input_scaling"].input_scaling
    assert plan["parameters"]["chen"] > plan["parameters"]["input_scaling"] > 266
    deeper = bench.plan_models(bench.parse_args(["--depth", "2", "--models", "qlstm", "strong"]))
    assert deeper["aliases"] == {}  # two layers: ranges 1 and 2, a different circuit
    assert deeper["configs"]["strong"].circuit.entangling == "strong"


def test_arguments_are_checked(bench):
    assert bench.parse_args([]).points == {"delayed_control": 441}
    assert bench.parse_args(["--points"]).points == {}
    for argv in (["--val-fraction", "0"], ["--points", "nope=3"], ["--points", "x"]):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)


def tiny_task(seed: int, epochs: int = 2) -> dict:
    from qlstm_qiskit.forecasting.models import ModelConfig

    config = ModelConfig(kind="lstm", hidden_size=2, seed=seed).to_dict()
    return {
        "dataset": "damped_shm",
        "n_points": 40,
        "model": "lstm_h2",
        "config": config,
        "epochs": epochs,
        "lr": 0.01,
        "schedule": "none",
        "seed": seed,
        "val_fraction": 0.2,
    }


def test_an_interrupted_run_resumes_without_training_finished_entries(tmp_path, capsys):
    runs = load("benchmarks/accuracy_runs.py")
    path = tmp_path / "cache.jsonl"
    first = runs.run_all([tiny_task(0)], runs.ResultsCache(path), workers=1)  # then "killed"
    assert len(path.read_text().splitlines()) == 1
    assert len(first[0]["validation_mse"]) == len(first[0]["test_mse"]) == 2
    capsys.readouterr()
    both = runs.run_all([tiny_task(0), tiny_task(1)], runs.ResultsCache(path), workers=1)
    assert "1 found in the cache" in capsys.readouterr().out
    assert len(path.read_text().splitlines()) == 2  # only the new entry was trained and added
    assert both[0] == first[0]  # the finished one read back, its timing included
    assert both[1]["validation_mse"] != both[0]["validation_mse"]
    assert runs.ResultsCache(path).get(tiny_task(0, epochs=3)) is None  # a changed setting


def test_a_torn_last_line_is_skipped_and_the_next_entry_kept(tmp_path):
    runs = load("benchmarks/accuracy_runs.py")
    path = tmp_path / "cache.jsonl"
    cache = runs.ResultsCache(path)
    cache.add(tiny_task(0), {"value": 0})
    with open(path, "a") as handle:
        handle.write(json.dumps({"task": tiny_task(1), "result": {"value": 1}})[:40])  # killed
    cache = runs.ResultsCache(path)
    assert cache.get(tiny_task(0)) == {"value": 0} and cache.get(tiny_task(1)) is None
    cache.add(tiny_task(2), {"value": 2})
    again = runs.ResultsCache(path)
    assert again.get(tiny_task(0)) == {"value": 0} and again.get(tiny_task(2)) == {"value": 2}


@pytest.mark.bench
def test_accuracy_section_quick(bench, stats, quick_report, tmp_path):
    """The accuracy section's QUICK_ARGS run (2 worker processes), from the session's report."""
    assert quick_report.record("accuracy")["command"].endswith(" ".join(bench.QUICK_ARGS))
    results = quick_report.results("accuracy")
    settings = results["settings"]
    assert settings["aliases"] == {} and settings["workers"] == 2
    assert list(results["datasets"]) == ["damped_shm"]
    result = results["datasets"]["damped_shm"]
    assert result["n_points"] == 60 and result["windows"] == [30, 7, 19]
    models = result["models"]
    assert list(models) == ["qlstm", "chen", "input_scaling", "strong", "lstm_h7", "lstm_h8"]
    for model in models.values():
        assert [(p["lr"], p["schedule"]) for p in model["grid"]] == [(0.01, "none"), (0.03, "none")]
        chosen = min(model["grid"], key=lambda p: (p["diverged"], p["validation"]))
        assert (model["lr"], model["schedule"]) == (chosen["lr"], chosen["schedule"])
        runs = model["runs"]
        assert len(runs) == 2 and all(len(r["test_mse"]) == 2 for r in runs)
        assert all(math.isfinite(m) and m > 0 for r in runs for m in r["test_mse"])
        best = [min(range(2), key=r["validation_mse"].__getitem__) for r in runs]
        at_best = [r["test_mse"][e] for r, e in zip(runs, best, strict=True)]
        assert model["summary"]["test_at_best_mean"] == pytest.approx(sum(at_best) / 2)
        means = sum(min(r["validation_mse"]) for r in runs) / 2
        assert chosen["validation"] == pytest.approx(means)
    assert runs[0]["test_mse"] != runs[1]["test_mse"]  # two seeds, two models
    assert set(result["gaps"]) == {"qlstm", "chen", "input_scaling", "strong"}
    assert result["gaps"]["chen"]["lstm"] == "lstm_h8"
    printed = quick_report.printed("accuracy")
    assert any("24 trainings: 0 found in the cache" in line for line in printed)
    assert sum("] damped_shm " in line for line in printed) == 24
    markdown = bench.render(json.loads(json.dumps(results)), tmp_path / "figures")
    assert markdown.startswith("## Accuracy against the paper\n")
    assert "### damped_shm" in markdown and "### Summary over tasks" in markdown
    assert "| QLSTM chen | 388 |" in markdown and "| nn.LSTM(1, 8) | 361 |" in markdown
    assert "](figures/accuracy_curves.png)" in markdown
    assert_png(tmp_path / "figures" / "accuracy_curves.png")


def test_results_of_the_previous_version_render_as_a_note(bench, tmp_path):
    render = bench.render
    old = {"settings": {"seeds": [0]}, "datasets": {"damped_shm": {"summary": {}, "runs": {}}}}
    markdown = render(old, tmp_path)
    assert markdown.startswith("## Accuracy against the paper\n")
    assert "previous version" in markdown and "--sections accuracy" in markdown
