"""The built-in series, CSV columns and the windowing / scaling / split protocol."""

import math

import numpy as np
import pytest
import torch

from qlstm_qiskit.forecasting import datasets
from qlstm_qiskit.forecasting.datasets import DATASETS, generate, load_csv_column, make_windows

LENGTHS = {
    "damped_shm": 240,
    "bessel_j2": 256,
    "delayed_control": 2201,
    "population_inversion": 2500,
    "narma5": 300,
    "narma5_smooth": 300,
    "narma10": 300,
    "sine": 240,
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_generators_have_their_reference_length(name):
    series = generate(name)
    assert series.shape == (LENGTHS[name],) and series.dtype == np.float64
    assert np.all(np.isfinite(series)) and series.max() > series.min()
    assert generate(name, 50).shape == (50,)


def test_generator_values():
    assert datasets.damped_shm()[0] == pytest.approx(3.0)  # theta'(0) = 3
    assert datasets.bessel_j2()[0] == pytest.approx(0.35283402861563773, abs=1e-12)  # J2(2)
    x = np.linspace(-2.0, 20.0, 2201)
    assert x[200] == pytest.approx(0.0) and datasets.delayed_control()[200] == pytest.approx(1.0)
    assert datasets.population_inversion()[0] == pytest.approx(1.0, abs=1e-12)  # sum P_n = 1
    assert datasets.sine()[0] == 0.0 and datasets.sine()[-1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("order", [5, 10])
def test_narma_follows_its_recursion(order):
    y = datasets.narma(order, 60, seed=3)
    u = np.random.default_rng(3).uniform(0.0, 0.5, 60)
    t = 40
    expected = (
        0.3 * y[t]
        + 0.05 * y[t] * y[t - order + 1 : t + 1].sum()
        + 1.5 * u[t - order + 1] * u[t]
        + 0.1
    )
    assert y[t + 1] == pytest.approx(expected)
    np.testing.assert_array_equal(y, datasets.narma(order, 60, seed=3))


def test_narma_smooth_drive_follows_chens_formula():
    u = datasets.narma_drive("smooth", 300)
    t = np.arange(300)
    expected = 0.1 * (
        np.sin(2 * np.pi * 2.11 * t / 300)
        * np.sin(2 * np.pi * 3.73 * t / 300)
        * np.sin(2 * np.pi * 4.11 * t / 300)
        + 1
    )
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-15)
    assert 0.0 <= u.min() and u.max() <= 0.2
    y = datasets.generate("narma5_smooth")
    s = 150
    assert y[s + 1] == pytest.approx(
        0.3 * y[s] + 0.05 * y[s] * y[s - 4 : s + 1].sum() + 1.5 * u[s - 4] * u[s] + 0.1
    )
    assert not np.allclose(y, datasets.narma5())  # not the uniform drive
    with pytest.raises(ValueError, match="drive"):
        datasets.narma(5, drive="sine")


def test_make_windows_protocol():
    series = datasets.sine()
    data = make_windows(series)
    n = len(series) - 4
    assert data.x_train.shape == (int(0.67 * n), 4, 1) and data.y_train.shape == (int(0.67 * n), 1)
    assert len(data.x_train) + len(data.x_test) == n
    assert data.x_train.dtype == torch.float64
    scaled = data.scaler.transform(series)
    assert scaled.min() == -1.0 and scaled.max() == 1.0  # fitted on the whole series
    i = data.split  # the first test window follows the last training window
    np.testing.assert_array_equal(data.x_test[0, :, 0].numpy(), scaled[i : i + 4])
    assert data.y_test[0, 0].item() == scaled[i + 4]
    np.testing.assert_allclose(data.scaler.inverse_transform(scaled), series, atol=1e-12)


def test_make_windows_fit_on_train():
    series = np.concatenate([np.linspace(0, 1, 70), np.linspace(1, 3, 30)])
    data = make_windows(series, fit_on="train")
    seen = torch.cat([data.x_train.flatten(), data.y_train.flatten()])
    assert seen.min() == -1.0 and seen.max() == 1.0 and data.y_test.max() > 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"series": np.arange(5.0)}, "too few"),
        ({"series": np.arange(50.0), "window": 0}, "window must be in the range >= 1"),
        ({"series": np.arange(50.0), "train_fraction": 1.0}, "train_fraction"),
        ({"series": np.arange(50.0), "fit_on": "test"}, "fit_on must be one of"),
        ({"series": np.full(50, 2.0)}, "constant"),
        ({"series": np.array([1.0, np.nan] * 20)}, "finite"),
    ],
)
def test_make_windows_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_windows(**kwargs)


def test_load_csv_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("time,value\n0,1.5\n1,2.5\n\n2,-3e-1\n")
    np.testing.assert_array_equal(load_csv_column(path, "value"), [1.5, 2.5, -0.3])
    np.testing.assert_array_equal(load_csv_column(path, "0"), [0.0, 1.0, 2.0])
    bare = tmp_path / "bare.csv"
    bare.write_text("1,10\n2,20\n3,30\n")
    np.testing.assert_array_equal(load_csv_column(bare, "1"), [10.0, 20.0, 30.0])


@pytest.mark.parametrize(
    "content, column, match",
    [
        (None, "value", "no such file"),
        ("", "value", "is empty"),
        ("time,value\n0,1\n1,2\n", "price", r"no column 'price'; columns: 'time', 'value'"),
        (
            "time,value\n0,1\n1,abc\n2,3\n",
            "value",
            r"row 3, column 'value': expected a finite "
            r"number, got 'abc'",
        ),
        (
            "time,value\n0,1\n1\n",
            "value",
            r"row 3, column 'value': expected a finite number, got ''",
        ),
        ("time,value\n0,1\n1,nan\n", "value", "row 3"),
        ("time,value\n0,1\n", "value", "has 1 value"),
    ],
)
def test_load_csv_column_errors(tmp_path, content, column, match):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_csv_column(path, column)


def test_generate_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of 'damped_shm'"):
        generate("airline")
    assert math.isfinite(generate("narma5", 10)[-1])


def test_csv_errors_name_the_line_of_the_file_and_a_bom_is_not_part_of_a_name(tmp_path):
    blank = tmp_path / "blank.csv"
    blank.write_text("time,value\n1,2\n\n\n2,x\n")
    with pytest.raises(
        ValueError,
        match=r"blank.csv row 5, column 'value': expected a finite "
        r"number, got 'x'",
    ):
        load_csv_column(blank, "value")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbftime,value\n1,2\n2,3\n")
    assert load_csv_column(bom, "time").tolist() == [1.0, 2.0]
