"""The tutorial notebook, examples/qlstm_tutorial.ipynb, runs from top to bottom.

The notebook is the test: its cells assert what they show (the loss decreased, the exact backends
agree to 1e-6, the weights survive every backend switch, the cost preview counts one job per time
step and submits nothing). ``test_notebook_executes`` runs a fresh copy (stored outputs removed)
with nbclient in a temporary folder, on a kernel that runs this interpreter and imports the
``qlstm_qiskit`` this test imports.

The committed notebook carries its outputs (plots included) so that it reads as a tutorial on
GitHub; ``python tests/test_notebook.py`` executes it and writes them back after a change.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "qlstm_tutorial.ipynb"
KERNEL = "qlstm-tutorial-test"
MAX_BYTES = 300_000  # the stored notebook, plots included
CELL_TIMEOUT_S = 300  # per cell; the whole notebook takes seconds on one core


def package_parent() -> Path:
    """The folder from which this process imports ``qlstm_qiskit`` (a checkout or site-packages)."""
    import qlstm_qiskit

    return Path(qlstm_qiskit.__file__).resolve().parent.parent


def kernel_manager(folder: Path):
    """A kernel manager whose kernel runs ``sys.executable`` and imports the ``qlstm_qiskit`` of
    this process: a kernelspec written into ``folder`` puts :func:`package_parent` first on
    ``PYTHONPATH`` (the rest of the environment is inherited), selects matplotlib's inline
    backend, and keeps IPython's files and the connection file in ``folder``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    path = [str(package_parent()), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "qlstm-qiskit tutorial test",
        "language": "python",
        "env": {
            "PYTHONPATH": os.pathsep.join(p for p in path if p),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "IPYTHONDIR": str(folder / "ipython"),
        },
    }
    spec_dir = folder / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(
        kernel_name=KERNEL,
        kernel_spec_manager=specs,
        connection_file=str(folder / "connection.json"),
    )


def fresh_copy(notebook):
    """``notebook`` without outputs and execution counts."""
    copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return copy


def execute(notebook, folder: Path):
    """Run every cell of ``notebook`` (in place) with ``folder/run`` as the working directory."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("qiskit_ibm_runtime")  # the notebook's fake device
    workdir = folder / "run"
    workdir.mkdir()
    client = nbclient.NotebookClient(
        notebook,
        km=kernel_manager(folder),
        timeout=CELL_TIMEOUT_S,
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def text_of(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def plotting_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code" and "plt.subplots" in c.source]


def has_png(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.outputs)


def test_notebook_executes(tmp_path):
    stored = nbformat.read(NOTEBOOK, as_version=4)
    notebook = fresh_copy(stored)
    probe = "import qlstm_qiskit, sys\nprint(qlstm_qiskit.__file__)\nprint(sys.executable)"
    notebook.cells.append(nbformat.v4.new_code_cell(probe))

    execute(notebook, tmp_path)  # a failing assert in a cell raises CellExecutionError

    import qlstm_qiskit

    where, executable = text_of(notebook.cells[-1]).split()
    assert Path(where).resolve() == Path(qlstm_qiskit.__file__).resolve()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert plotting_cells(notebook) and all(has_png(c) for c in plotting_cells(notebook))
    # the preview cell printed the breakdown, and the guarded IBM cell did not reach IBM Quantum
    printed = "\n".join(text_of(c) for c in code)
    assert "cost preview for fake_manila (dry run: nothing submitted)" in printed
    assert "skipped the IBM Quantum preview" in printed
    # it wrote nothing into its working directory, and the repository's copy is untouched
    assert list((tmp_path / "run").iterdir()) == []
    assert nbformat.read(NOTEBOOK, as_version=4) == stored


def test_stored_notebook_is_a_clean_run():
    """The committed outputs come from one top-to-bottom run (no stale or missing cells), show
    the plots, carry no errors or local paths, and keep the file small."""
    assert NOTEBOOK.stat().st_size < MAX_BYTES
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert all(c.outputs for c in code), "a code cell without its output"
    outputs = [out for c in code for out in c.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert all(has_png(c) for c in plotting_cells(notebook))
    text = NOTEBOOK.read_text()
    for local in (str(ROOT), str(Path.home()), "/tmp/"):
        assert local not in text
    assert notebook.metadata.kernelspec.name == "python3"


def write_outputs() -> None:
    """Execute the notebook and store its outputs in the file (run after editing it)."""
    import tempfile

    notebook = fresh_copy(nbformat.read(NOTEBOOK, as_version=4))
    with tempfile.TemporaryDirectory() as folder:
        execute(notebook, Path(folder))
    notebook.metadata.kernelspec = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nbformat.write(notebook, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({NOTEBOOK.stat().st_size} bytes)")


if __name__ == "__main__":
    write_outputs()
