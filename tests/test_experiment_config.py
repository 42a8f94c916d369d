"""``qlstm-qiskit train --config EXPERIMENT.toml`` (the data, the model as a layer list, the
training settings), the run directory's resolved ``config.toml``, and ``--bidirectional`` /
``--inversward`` for the QLSTM and the classical LSTM. Tiny runs in float64."""

import json
import re
from pathlib import Path

import pytest
import torch
from tiny_run import TINY

from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.experiment_config import (
    CONFIG_FILE,
    read_experiment_config,
    read_settings,
    resolve_settings,
)
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.run_settings import TRAIN_DEFAULTS
from qlstm_qiskit.forecasting.sweep_file import read_experiment
from qlstm_qiskit.forecasting.training import CHECKPOINT, read_checkpoint

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "experiment.toml"

#: TINY's settings with two bidirectional layers and both models, as an experiment file ...
TINY_FILE = """\
[data]
dataset = "sine"
n_points = 12
window = 3

[[layers]]
type = "qlstm"
hidden_size = 2
n_qubits = 2
bidirectional = true

[[layers]]
type = "qlstm"
hidden_size = 2
n_qubits = 2
bidirectional = true

[[layers]]
type = "linear"

[train]
model = "both"
epochs = 1
"""
#: ... and as flags
TINY_FLAGS = [*TINY, "--bidirectional", "--num-layers", "2", "--model", "both", "--epochs", "1"]


def train(capsys, *argv):
    status = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def settings_of(run_dir: Path) -> dict:
    return read_settings(run_dir / CONFIG_FILE)


def test_a_config_file_run_equals_the_same_run_given_by_flags(tmp_path, capsys):
    config = write(tmp_path / "exp.toml", TINY_FILE)
    train(capsys, "--config", config, "--no-progress", "--run-dir", tmp_path / "file")
    train(capsys, *TINY_FLAGS, "--run-dir", tmp_path / "flags")
    by_file, by_flags = (read_checkpoint(tmp_path / run / CHECKPOINT) for run in ("file", "flags"))
    assert by_file["models"] == by_flags["models"]
    assert set(by_file["models"]) == {"qlstm", "lstm"}
    assert by_file["models"]["qlstm"]["num_layers"] == 2
    assert by_file["models"]["qlstm"]["bidirectional"] is True
    assert "lstm.cell_l1_reverse.weight_q" in by_flags["state_dicts"]["qlstm"]
    assert "lstm.weight_ih_l1_reverse" in by_flags["state_dicts"]["lstm"]
    for name in ("qlstm", "lstm"):
        weights, others = by_file["state_dicts"][name], by_flags["state_dicts"][name]
        assert list(weights) == list(others)
        assert all(torch.equal(weights[key], others[key]) for key in weights)
        assert weights["head.weight"].dtype == torch.float64
    metrics = [json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("file", "flags")]
    for name in ("qlstm", "lstm"):
        assert metrics[0]["models"][name]["test_mse"] == metrics[1]["models"][name]["test_mse"]
        assert metrics[0]["models"][name]["train_mse"] == metrics[1]["models"][name]["train_mse"]
    assert settings_of(tmp_path / "file") == settings_of(tmp_path / "flags")


def test_flags_typed_override_the_file_and_defaults_do_not(tmp_path, capsys):
    config = write(
        tmp_path / "exp.toml",
        TINY_FILE.replace("epochs = 1", "epochs = 0\nlr = 0.05\nseed = 3"),
    )
    run_dir = tmp_path / "run"
    train(
        capsys,
        *("--config", config, "--hidden-size", "3", "--no-bidirectional", "--model", "qlstm"),
        *("--run-dir", run_dir),
    )
    settings = settings_of(run_dir)
    assert settings["hidden_size"] == 3 and settings["bidirectional"] is False  # typed
    assert settings["model"] == "qlstm"
    assert (settings["lr"], settings["seed"], settings["window"]) == (0.05, 3, 3)  # the file's
    assert settings["num_layers"] == 2 and settings["n_qubits"] == 2
    checkpoint = read_checkpoint(run_dir / CHECKPOINT)
    assert list(checkpoint["models"]) == ["qlstm"]
    assert checkpoint["models"]["qlstm"]["hidden_size"] == 3
    assert checkpoint["train"]["seed"] == 3


def test_a_typed_data_source_replaces_the_files(tmp_path):
    (tmp_path / "data.csv").write_text("v\n" + "".join(f"{i / 10}\n" for i in range(12)))
    config = read_experiment_config(
        write(tmp_path / "exp.toml", '[data]\ncsv = "data.csv"\ncolumn = "v"\n')
    )
    assert config.settings["csv"] == str(tmp_path / "data.csv")  # relative to the file
    resolved = resolve_settings({"dataset": "sine"}, config)
    assert resolved.settings["csv"] is None and resolved.settings["dataset"] == "sine"
    assert resolved.given == {"dataset"}
    assert resolve_settings({"window": 3}, config).name("csv") == f"{tmp_path}/exp.toml: [data] csv"


@pytest.mark.parametrize(
    "argv",
    [
        [*TINY[:8], "--model", "lstm", "--bidirectional", "--inversward", "--lr", "0.5"],
        ["--csv", "{csv}", "--column", "v", "--window", "3", "--n-qubits", "2", "--depth", "2"],
    ],
    ids=["lstm", "csv"],
)
def test_the_written_config_round_trips(argv, tmp_path, capsys):
    (tmp_path / "data.csv").write_text("v\n" + "".join(f"{i / 10}\n" for i in range(12)))
    argv = [arg.replace("{csv}", str(tmp_path / "data.csv")) for arg in argv]
    first, second = tmp_path / "first", tmp_path / "second"
    train(capsys, *argv, "--epochs", "0", "--no-progress", "--run-dir", first)
    train(capsys, "--config", first / CONFIG_FILE, "--no-progress", "--run-dir", second)
    assert settings_of(first) == settings_of(second)
    assert set(settings_of(first)) == set(TRAIN_DEFAULTS)
    runs = [read_checkpoint(run / CHECKPOINT) for run in (first, second)]
    assert runs[0]["models"] == runs[1]["models"] and runs[0]["data"] == runs[1]["data"]
    text = (first / CONFIG_FILE).read_text()
    if "lstm" in argv:
        assert 'type = "lstm"' in text and "n_qubits" not in text and "backend" not in text
        assert runs[0]["models"]["lstm"]["inversward"] is True
    else:
        assert f"csv = {json.dumps(str(tmp_path / 'data.csv'))}" in text and "dataset" not in text
        assert "depth = 2" in text


def test_resume_evaluate_and_predict_need_only_the_run_directory(tmp_path, capsys):
    config = write(tmp_path / "exp.toml", TINY_FILE.replace('"both"', '"qlstm"'))
    run_dir = tmp_path / "run"
    train(capsys, "--config", config, "--no-progress", "--run-dir", run_dir)
    config.unlink()
    train(capsys, "--resume", run_dir, "--epochs", "2", "--no-progress")
    assert read_checkpoint(run_dir / CHECKPOINT)["epoch"] == 2
    assert settings_of(run_dir)["epochs"] == 2  # config.toml follows the epochs it trains to
    assert main(["evaluate", str(run_dir), "--backends", "statevector"]) == 0
    assert (run_dir / "evaluate.csv").is_file()
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run_dir), "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == "index,target,qlstm"


def test_the_example_file_is_the_main_jobs_defaults():
    assert read_settings(EXAMPLE) == TRAIN_DEFAULTS


def test_a_sweep_train_table_takes_the_new_flags(tmp_path):
    text = '[train]\ndataset = "sine"\nn_points = 12\nwindow = 3\nhidden_size = 2\nn_qubits = 2\n'
    sweep = write(tmp_path / "s.toml", text + 'bidirectional = true\n[sweep]\nbackends = ["x"]\n')
    assert read_experiment(sweep).train["bidirectional"] is True
    write(sweep, text + "inversward = 1\n[sweep]\nbackends = ['x']\n")
    with pytest.raises(TypeError, match=r"\[train\] inversward must be bool, got int 1"):
        read_experiment(sweep)


LAYER = '[[layers]]\ntype = "qlstm"\nhidden_size = 2\n'
HEAD = '[[layers]]\ntype = "linear"\n'


@pytest.mark.parametrize(
    "text, error, message",
    [
        ("[model]\nx = 1\n", ValueError, r"the top level: unknown table\(s\) 'model'; allowed"),
        ("[data]\nepochs = 3\n", ValueError, r"\[data\]: unknown key\(s\) 'epochs'; allowed: "),
        ("[train]\nhidden_size = 3\n", ValueError, r"\[train\]: unknown key\(s\) 'hidden_size'"),
        ("[data]\nwindow = '4'\n", TypeError, r"\[data\] window must be int, got str '4'"),
        ("[train]\nlr = true\n", TypeError, r"\[train\] lr must be int or float, got bool"),
        ("[data]\ndataset = 'nope'\n", ValueError, r"\[data\] dataset must be one of 'damped_shm'"),
        ("layers = 3\n", TypeError, r"layers must be \[\[layers\]\] tables"),
        (LAYER, ValueError, r"\[\[layers\]\] has no head: the last entry must be type = 'linear'"),
        (
            HEAD + LAYER,
            ValueError,
            r"1 \(type = 'linear', the head\) must be the last entry, got "
            r"\[\[layers\]\] 2 \(type = 'qlstm'\) after it",
        ),
        (LAYER + HEAD + HEAD, ValueError, r"\[\[layers\]\] 2 and 3 are both type = 'linear'"),
        (HEAD, ValueError, r"has a head but no recurrent layer before it"),
        ("[[layers]]\nhidden_size = 2\n" + HEAD, ValueError, r"\[\[layers\]\] 1: type must be"),
        (LAYER + "bidirectional = 1\n" + HEAD, TypeError, r"1 bidirectional must be bool, got int"),
        (LAYER + "widht = 2\n" + HEAD, ValueError, r"\[\[layers\]\] 1 \(type = 'qlstm'\): unknown"),
        (LAYER + HEAD + "hidden_size = 1\n", ValueError, r"2 \(type = 'linear'\): unknown key"),
        (
            LAYER + LAYER.replace("2", "3") + HEAD,
            ValueError,
            r"\[\[layers\]\] 1 and 2 differ in hidden_size: 2 and 3; .* identical recurrent",
        ),
        (
            LAYER + LAYER.replace("qlstm", "lstm") + HEAD,
            ValueError,
            r"\[\[layers\]\] 1 and 2 differ in type: 'qlstm' and 'lstm'",
        ),
        (
            LAYER + "n_qubits = 2\n" + LAYER + HEAD,
            ValueError,
            r"1 and 2 differ in n_qubits: 2 and 4",
        ),
        (
            LAYER.replace("qlstm", "lstm") + "n_qubits = 2\n" + HEAD,
            ValueError,
            r"\[\[layers\]\] 1 \(type = 'lstm'\): unknown key\(s\) 'n_qubits'",
        ),
        (
            LAYER + HEAD + "[train]\nmodel = 'lstm'\n",
            ValueError,
            r"\[train\] model = 'lstm' disagrees with the \[\[layers\]\] of type = 'qlstm'",
        ),
        (
            LAYER.replace("qlstm", "lstm") + HEAD + "[train]\nbackend = 'statevector'\n",
            ValueError,
            r"\[train\] backend: the \[\[layers\]\] are type = 'lstm'",
        ),
        ("[train\n", ValueError, r"cannot read the experiment file as TOML"),
    ],
)
def test_a_bad_experiment_file_names_the_file_and_the_key(tmp_path, text, error, message):
    path = write(tmp_path / "exp.toml", text)
    with pytest.raises(error, match=re.escape(str(path)) + ": .*" + message):
        read_experiment_config(path)


@pytest.mark.parametrize(
    "text, argv, message",
    [
        (
            LAYER + "n_qubits = 2\n" + HEAD,
            ["--model", "lstm"],
            r"--model lstm trains the classical LSTM only; \S*exp.toml: \[\[layers\]\] n_qubits",
        ),
        (
            LAYER.replace("qlstm", "lstm") + HEAD,
            ["--n-qubits", "2"],
            r"exp.toml: \[\[layers\]\] type lstm trains the classical LSTM only; --n-qubits",
        ),
        (
            LAYER.replace("2", "0") + HEAD,
            ["--run-dir", "{tmp}/run"],
            r"exp.toml \(or the flags typed\): Forecaster: hidden_size must be in the range >= 1",
        ),
        ("[data]\ncsv = 'data.csv'\n", ["--window", "3"], r"exp.toml: \[data\] csv needs --column"),
    ],
)
def test_command_line_errors_name_the_file(text, argv, message, tmp_path, capsys):
    path = write(tmp_path / "exp.toml", text)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    base = [] if "csv" in text else TINY[:6]  # a typed --dataset would replace the file's csv
    status = main(["train", "--config", str(path), *base, "--epochs", "0", *argv])
    assert status == 1
    assert re.search(message, capsys.readouterr().err)


def test_resume_takes_no_config(tmp_path, capsys):
    path = write(tmp_path / "exp.toml", "")
    status = main(["train", "--resume", str(tmp_path), "--config", str(path)])
    assert status == 1
    assert "only --epochs may be given, got --config" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["qlstm", "lstm"])
def test_bidirectional_and_inversward_reach_the_model(kind):
    small = {"kind": kind, "hidden_size": 2, "seed": 1}
    if kind == "qlstm":
        from qlstm_qiskit.circuits import CircuitSpec

        small["circuit"] = CircuitSpec(n_qubits=2)
    both = Forecaster(ModelConfig(**small, bidirectional=True))
    reverse = "lstm.cell_l0_reverse.weight_q" if kind == "qlstm" else "lstm.weight_ih_l0_reverse"
    assert reverse in both.state_dict()
    assert both.head.in_features == 4
    x = torch.randn(5, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    output, _ = both.lstm(x)  # the head reads the forward pass after x[:, -1], the reverse
    expected = torch.cat([output[:, -1, :2], output[:, 0, 2:]], dim=1)  # pass after x[:, 0]
    torch.testing.assert_close(both.final_states(x), expected, rtol=0, atol=1e-12)

    forward = Forecaster(ModelConfig(**small))
    inverse = Forecaster(ModelConfig(**small, inversward=True))
    inverse.load_state_dict(forward.state_dict())  # the same weights
    assert not torch.allclose(inverse(x), forward(x))
    torch.testing.assert_close(inverse(x), forward(x.flip(1)), rtol=0, atol=1e-12)


def test_checkpoints_without_the_new_fields_load_as_before():
    data = ModelConfig(kind="lstm", hidden_size=2).to_dict()
    del data["bidirectional"], data["inversward"]
    config = ModelConfig.from_dict(data)
    assert (config.bidirectional, config.inversward) == (False, False)


def test_the_readme_shows_the_example_file():
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    section = readme.split("### Experiment files", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    assert block == EXAMPLE.read_text()


def test_every_table_key_is_a_setting_and_every_setting_has_a_table():
    from qlstm_qiskit.forecasting import experiment_config as ec

    layer_keys = set(ec.LAYER_SETTINGS)
    assert set(ec.DATA_KEYS) | layer_keys <= set(TRAIN_DEFAULTS)
    assert set(ec.DATA_KEYS) | layer_keys | set(ec.TRAIN_TABLE_KEYS) == set(TRAIN_DEFAULTS)
