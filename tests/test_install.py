"""The installed package (not the source tree) imports from outside the repository."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_installed_package_imports_outside_the_repository(tmp_path):
    code = ("import qlstm_qiskit, torch; print(qlstm_qiskit.__file__); "
            "m = qlstm_qiskit.QLSTM(1, 2, n_qubits=2); print(tuple(m(torch.zeros(3, 1, 1))[0].shape))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    location, shape = result.stdout.split()[0], result.stdout.strip().splitlines()[-1]
    assert "site-packages" in location and not Path(location).is_relative_to(REPO), location
    assert shape == "(3, 1, 2)"
