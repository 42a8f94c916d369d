"""Bad inputs of issue 15 (numerical failure, inputs that must mean what they say, fragile edges):
each a clear error naming what was wrong, raised before any computation, or the corrected
behaviour. Through the command line (``main``: exit status 1 and one line on stderr) and the
library."""

import math
import re
from argparse import Namespace
from pathlib import Path

import pytest
import torch
from tiny_run import TINY

from qlstm_qiskit import QLSTM
from qlstm_qiskit.cli import main
from qlstm_qiskit.cli.specs import checked_backend
from qlstm_qiskit.forecasting.datasets import load_csv_column
from qlstm_qiskit.forecasting.models import Forecaster, ModelConfig
from qlstm_qiskit.forecasting.training import NonFiniteLoss, Run, TrainConfig

TRAIN = ["train", *TINY, "--epochs", "1", "--run-dir", "{tmp}/new"]
GAP_CSV = "y\n1\n2\n\n4\n5\n6\n7\n8\n9\n10\n"  # one column, row 4 empty


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bad_inputs") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture
def files(trained, tmp_path):
    """The bad files the table refers to, in ``tmp_path``."""
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({**state, "epoch": "two"}, tmp_path / "two.pt")
    weights = dict(state["state_dicts"]["qlstm"])
    weights["lstm.cell_l0.weight_q"] = weights["lstm.cell_l0.weight_q"].clone()
    weights["lstm.cell_l0.weight_q"][0, 0, 0, 0, 1] = math.nan
    torch.save({**state, "state_dicts": {"qlstm": weights}}, tmp_path / "nan.pt")
    (tmp_path / "gap.csv").write_text(GAP_CSV)
    (tmp_path / "underscore.csv").write_text(
        "y\n" + "".join(f"{i}\n" for i in range(8)) + "1_000\n"
    )
    (tmp_path / "file.txt").write_text("not a directory")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.fixture
def no_computation(monkeypatch):
    """Any training or forward pass fails the test: the errors must come before them."""

    def refuse(*args, **kwargs):
        raise AssertionError("the computation started before the error")

    monkeypatch.setattr(Forecaster, "forward", refuse)
    monkeypatch.setattr(Run, "fit", refuse)


EMPTY_CELL = r"gap.csv row 4, column 'y': expected a finite number, got '' \(an empty cell"
TOO_BIG = r"/dev/zero is larger than the limit of 67,108,864 bytes \(64 MiB\) for input files"


@pytest.mark.parametrize(
    "argv, match",
    [
        # 2. numerical failure
        ([*TRAIN, "--lr", "inf"], r"--lr must be a finite number > 0, got inf$"),
        ([*TRAIN, "--lr", "nan"], r"--lr must be a finite number > 0, got nan$"),
        ([*TRAIN, "--lr", "0"], r"--lr must be a finite number > 0, got 0.0$"),
        ([*TRAIN, "--lr", "-1"], r"--lr must be a finite number > 0, got -1.0$"),
        (
            ["evaluate", "{tmp}/nan.pt", "--out", "{tmp}/e"],
            r"nan.pt: model 'qlstm' parameter 'lstm.cell_l0.weight_q' holds NaN or infinite",
        ),
        (
            ["predict", "{tmp}/nan.pt", "--out", "{tmp}/p.csv"],
            r"nan.pt: model 'qlstm' parameter 'lstm.cell_l0.weight_q' holds NaN or infinite",
        ),
        # 3. inputs mean what they say
        (["train", "--csv", "{tmp}/gap.csv", "--column", "y", "--run-dir", "{tmp}/r"], EMPTY_CELL),
        (
            ["predict", "{run}", "--input", "{tmp}/gap.csv", "--column", "y", "--out", "{tmp}/p"],
            EMPTY_CELL,
        ),
        (
            ["train", "--csv", "{tmp}/underscore.csv", "--column", "y", "--run-dir", "{tmp}/r"],
            r"underscore.csv row 10, column 'y': expected a finite number, got '1_000'$",
        ),
        ([*TRAIN, "--missing", "drop"], r"--missing goes with --csv$"),
        (["predict", "{run}", "--missing", "drop"], r"--missing goes with --input$"),
        (
            ["predict", "{run}", "--backend", "fake_manila:shots=500", "--shots", "100"],
            r"--shots 100 and shots=500 in the backend spec 'fake_manila:shots=500' disagree",
        ),
        # 4. fragile edges
        (["evaluate", "{tmp}/empty.pt"], r"empty.pt is not a readable .* the file is empty$"),
        (["predict", "{tmp}/empty.pt"], r"empty.pt is not a readable .* the file is empty$"),
        (
            ["evaluate", "{tmp}/two.pt", "--out", "{tmp}/e"],
            r"two.pt does not match .*epoch must be an int, got str 'two'",
        ),
        (
            ["evaluate", "{run}", "--backends", "aer_shots:shots=1000000000000", "--out", "{tmp}"],
            r"shots must be in the range 1..10000000, got 1000000000000$",
        ),
        (
            ["predict", "{run}", "--backend", "aer_shots:shots=10000001", "--out", "{tmp}/p.csv"],
            r"shots must be in the range 1..10000000, got 10000001$",
        ),
        (
            [*TRAIN, "--seed", str(2**70)],
            rf"--seed must be in the range 0..{2**63 - 1} \(2\*\*63 - 1\), got {2**70}$",
        ),
        (["train", "--csv", "/dev/zero", "--column", "0", "--run-dir", "{tmp}/r"], TOO_BIG),
        (["predict", "{run}", "--input", "/dev/zero", "--column", "0"], TOO_BIG),
        (
            ["train", *TINY, "--run-dir", "{tmp}/file.txt"],
            r"--run-dir .*file.txt: expected a directory, got an existing file$",
        ),
        (
            ["train", *TINY, "--run-dir", "{tmp}/file.txt/run"],
            r"--run-dir .*file.txt/run: cannot be created, .*file.txt is a file",
        ),
        (["train", "--resume", "{tmp}/file.txt"], r"expected a run directory, got a file$"),
        (
            ["evaluate", "{run}", "--out", "{tmp}/file.txt"],
            r"--out .*file.txt: expected a directory, got an existing file$",
        ),
        (
            ["predict", "{run}", "--out", "{tmp}/folder"],
            r"--out .*folder: expected a file name, got a directory",
        ),
        (
            ["predict", "{run}", "--out", "{tmp}/file.txt/p.csv"],
            r"--out .*p.csv: .*file.txt is a file, not a directory$",
        ),
    ],
)
def test_command_line_errors(argv, match, trained, files, no_computation, capsys):
    if any("fake_" in arg for arg in argv):
        pytest.importorskip("qiskit_ibm_runtime")
    if "/dev/zero" in argv and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    argv = [arg.format(tmp=files, run=trained) for arg in argv]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.startswith("qlstm-qiskit: error: ") and err.count("\n") == 1, err
    assert re.search(match, err.strip()), err
    assert not (files / "new").exists() and not (files / "r").exists()  # nothing was made


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", *TINY, "--epochs", "3", "--batch-size", "2", "--run-dir", str(run_dir)]
    status = main([*argv, "--lr", "1e300"])  # the first step throws the weights to ~1e300
    err = capsys.readouterr().err
    assert status == 1, err
    assert re.fullmatch(
        r"qlstm-qiskit: error: model 'qlstm': the training loss is (inf|nan) in epoch 1, batch 2 "
        r"\(lr 1e\+300\); training diverged; training stopped: .*checkpoint.pt keeps the last "
        r"good state \(epoch 0\); a smaller learning rate may help\n",
        err,
    ), err
    run = Run.load(run_dir)  # the checkpoint taken before training, finite
    assert run.epoch == 0 and run.history["qlstm"]["train_mse"] == []
    assert not (run_dir / "loss.png").exists()
    assert main([*argv, "--lr", "0.01"]) == 1  # the directory holds that run...
    assert main(["train", "--resume", str(run_dir)]) == 1  # ...which diverges again
    assert "training loss is" in capsys.readouterr().err


def test_run_fit_checks_the_weights_after_every_epoch(tmp_path, monkeypatch):
    """A weight that turns non-finite without a non-finite batch loss is caught at the epoch's
    end, before the checkpoint is written."""
    from qlstm_qiskit.forecasting.datasets import generate

    config = ModelConfig(kind="lstm", hidden_size=2)
    run = Run.create(
        {"window": 3, "train_fraction": 0.67, "fit_on": "series"},
        generate("sine", 12),
        {"lstm": config},
        TrainConfig(epochs=2),
    )
    original = Run.train_epoch

    def poisoned(self, name, progress=None):
        loss = original(self, name, progress)
        with torch.no_grad():
            self.models[name].head.bias.fill_(math.inf)
        return loss

    monkeypatch.setattr(Run, "train_epoch", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"model 'lstm': parameter 'head.bias' is not finite"):
        run.fit(tmp_path, progress=False)
    assert Run.load(tmp_path).epoch == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": math.inf}, r"TrainConfig: lr must be a finite number, got inf"),
        ({"lr": math.nan}, r"TrainConfig: lr must be a finite number, got nan"),
        ({"lr": 0.0}, r"TrainConfig: lr must be > 0.0, got 0.0"),
        ({"seed": 2**70}, r"TrainConfig: seed must be in the range 0..9223372036854775807"),
        ({"seed": 2**63}, r"TrainConfig: seed must be in the range 0..9223372036854775807"),
    ],
)
def test_train_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_seeds_must_fit_in_64_bits():
    with pytest.raises(
        ValueError, match=r"QLSTM: seed must be in the range 0..9223372036854775807"
    ):
        QLSTM(1, 2, seed=2**70)
    with pytest.raises(ValueError, match=r"Forecaster: seed must be in the range 0..92233"):
        Forecaster(ModelConfig(seed=2**64))
    assert QLSTM(1, 2, seed=2**63 - 1).seed == 2**63 - 1


@pytest.mark.parametrize("make", ["empty", "two"])
def test_unreadable_checkpoints_name_the_file(make, files):
    path = files / f"{make}.pt"
    match = "the file is empty" if make == "empty" else "epoch must be an int, got str 'two'"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + match):
        Run.load(path)


def test_a_failed_set_backend_leaves_the_model_as_it_was():
    pytest.importorskip("qiskit_ibm_runtime")
    model = QLSTM(1, 2, n_qubits=6, seed=0, dtype=torch.float64)
    x = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(3, 2, 1)
    before = model(x)[0]
    backend, executors = model.backend, [cell.executor for cell in model.cells()]
    with pytest.raises(ValueError, match=r"6 qubits\) cannot run on backend 'fake_manila'"):
        model.set_backend("fake_manila")  # a 5-qubit device
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'nope'"):
        model.set_backend("aer_shots", nope=1)
    assert model.backend is backend and model.backend.name == "statevector"
    assert all(cell.backend is backend for cell in model.cells())
    assert [cell.executor for cell in model.cells()] == executors
    assert torch.equal(model(x)[0], before)
    with pytest.raises(ValueError, match=r"QLSTMCell.set_backend: the gate circuit"):
        model.cells()[0].set_backend("fake_manila")
    assert model.cells()[0].backend is backend


def test_shots_flag_and_spec_may_agree(tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    args = Namespace(
        shots=100,
        execution=None,
        run_name=None,
        ledger=None,
        dry_run=False,
        max_qpu_seconds=None,
        yes=False,
    )
    name, options = checked_backend(
        "fake_manila:shots=100", args, run_name="r", ledger=tmp_path / "ledger"
    )
    assert (name, options["shots"]) == ("fake_manila", 100)
    with pytest.raises(ValueError, match=r"--shots 100 and shots=500 in the backend spec"):
        checked_backend("fake_manila:shots=500", args, run_name="r", ledger=tmp_path / "l")
    # a saved backend (from a checkpoint) takes the flag: evaluating at other shots is the point
    name, options = checked_backend(("fake_manila", {"shots": 500}), args, run_name="r")
    assert options["shots"] == 100


def test_out_of_memory_is_one_line_naming_the_command(trained, monkeypatch, capsys):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Run, "load", exhausted)
    assert main(["evaluate", str(trained)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qlstm-qiskit: error: evaluate stopped: MemoryError: a size or number")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_predict_refuses_non_finite_predictions(trained, tmp_path, monkeypatch, capsys):
    import qlstm_qiskit.cli.predict as predict

    monkeypatch.setattr(
        predict, "predict_dataset", lambda model, x, batch_size: torch.full((len(x), 1), math.nan)
    )
    out = tmp_path / "p.csv"
    assert main(["predict", str(trained), "--out", str(out)]) == 1
    assert "model 'qlstm' predicted 9 NaN or infinite value(s)" in capsys.readouterr().err
    assert not out.exists()


def test_missing_values_on_request_and_new_output_folders(trained, files, capsys):
    run_dir = files / "filled"
    argv = ["train", "--csv", str(files / "gap.csv"), "--column", "y", "--window", "3"]
    argv += ["--hidden-size", "2", "--n-qubits", "2", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--missing", "interpolate", "--run-dir", str(run_dir)]) == 0
    run = Run.load(run_dir)
    assert run.series.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert run.data_config["missing"] == "interpolate"
    out = files / "new" / "folder" / "p.csv"  # missing folders of --out are created
    argv = ["predict", str(trained), "--input", str(files / "gap.csv"), "--column", "y"]
    assert main([*argv, "--missing", "drop", "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "index,target,qlstm" and len(rows) == 1 + 9 - 3


@pytest.mark.parametrize(
    "content, kwargs, expected",
    [
        ("y\n1\n\n3\n4\n", {"missing": "drop"}, [1, 3, 4]),
        ("y\n1\n\n3\n4\n", {"missing": "interpolate"}, [1, 2, 3, 4]),
        ("y\n1\n\n\n4\n\n\n", {"missing": "interpolate"}, [1, 2, 3, 4]),  # end: ignored
        ('y\n1\n""\n3\n', {"missing": "drop"}, [1, 3]),  # how the csv module writes it
        ("t,y\n0,1\n1,\n2,3\n3,4\n", {"missing": "interpolate"}, [1, 2, 3, 4]),
        ("t,y\n0,1\n1\n2,3\n", {"missing": "drop"}, [1, 3]),  # a short row
        ("t,y\n0,1\n\n2,3\n", {}, [1, 3]),  # a line with nothing on it in a 2-column file
        ("\n\ny\n+.5\n-2.\n3E+2\n 4 \n", {}, [0.5, -2.0, 300.0, 4.0]),  # plain decimals
    ],
)
def test_load_csv_column_fills_on_request(tmp_path, content, kwargs, expected):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert load_csv_column(path, "y", **kwargs).tolist() == expected


@pytest.mark.parametrize(
    "content, kwargs, match",
    [
        ("y\n1\n\n3\n", {}, r"row 3, column 'y': expected a finite number, got '' \(an empty"),
        ("t,y\n0,1\n1,\n2,3\n", {}, r"row 3, column 'y': expected a finite number, got ''"),
        ("y\n\n2\n3\n", {"missing": "interpolate"}, r"row 2, .* at the start of the series"),
        ("y\n1\n2\n,\n", {"missing": "interpolate"}, None),  # see below: a 2-field row
        ("y\n1\n1_000\n", {}, r"row 3, column 'y': expected a finite number, got '1_000'"),
        ("y\n1\n0x10\n", {}, r"got '0x10'"),
        ("y\n1\n\u0661\n", {}, r"got '\u0661'"),  # an Arabic-Indic digit: float() takes it
        ("y\n1\n1e\n", {}, r"got '1e'"),
        ("y\n1\ninf\n", {}, r"got 'inf'"),
        ("y\n1\n2\n", {"missing": "fill"}, r"missing must be one of 'error', 'drop'"),
        ("y\n1\n2\n3\n", {"max_bytes": 7}, r"larger than the limit of 7 bytes"),
    ],
)
def test_load_csv_column_errors(tmp_path, content, kwargs, match):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    if match is None:  # "," is two empty fields: a missing value at the end, not interpolated
        match = r"row 4, column 'y': a missing value at the end of the series"
    with pytest.raises(ValueError, match=match):
        load_csv_column(path, "y", **kwargs)
