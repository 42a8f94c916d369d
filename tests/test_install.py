"""The installed package (not the source tree) imports from outside the repository and ships the
built-in backend profiles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed non-editably (no dependencies) into a fresh folder."""
    target = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def run_outside(installed, tmp_path, code):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QLSTM_QISKIT_BACKENDS")}
    env["PYTHONPATH"] = str(installed)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_installed_package_imports_outside_the_repository(installed, tmp_path):
    code = (
        "import qlstm_qiskit, torch; print(qlstm_qiskit.__file__); "
        "m = qlstm_qiskit.QLSTM(1, 2, n_qubits=2); "
        "print(tuple(m(torch.zeros(3, 1, 1))[0].shape))"
    )
    stdout = run_outside(installed, tmp_path, code)
    location, shape = stdout.split()[0], stdout.strip().splitlines()[-1]
    assert Path(location).is_relative_to(installed) and not Path(location).is_relative_to(REPO)
    assert shape == "(3, 1, 2)"


def test_installed_package_lists_the_builtin_profiles(installed, tmp_path):
    code = (
        "import json, qlstm_qiskit.backends.profile_files as p, qlstm_qiskit as q; "
        "print(json.dumps([str(p.builtin_dir()), sorted(q.list_backends())]))"
    )
    folder, names = json.loads(run_outside(installed, tmp_path, code))
    assert Path(folder).is_relative_to(installed) and not Path(folder).is_relative_to(REPO)
    named = {path.stem for path in (REPO / "backends").glob("*.toml")} - {
        "fake_device",
        "ibm_device",
    }
    ibm = {"ibm_<device>", "ibm_least_busy"}
    assert named | ibm | {"fake_manila", "fake_brisbane"} <= set(names)
    assert {n for n in names if not n.startswith("fake_")} == named | ibm
    assert {"statevector", "aer_statevector", "aer_shots", "aer_noisy"} <= set(names)


def test_installed_package_runs_the_command(installed, tmp_path):
    code = (
        "import sys, qlstm_qiskit.cli, qlstm_qiskit.forecasting.training as t; "
        "print(t.__file__); sys.exit(qlstm_qiskit.cli.main(['circuit', '--n-qubits', '2']))"
    )
    stdout = run_outside(installed, tmp_path, code)
    assert Path(stdout.split()[0]).is_relative_to(installed)
    assert (tmp_path / "circuit_input.txt").is_file() and (tmp_path / "circuit_input.png").is_file()
