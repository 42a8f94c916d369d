"""The README's Python snippets run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippets_run():
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert snippets, "README has no python snippet"
    for snippet in snippets:
        exec(compile(snippet, str(README), "exec"), {})


def test_readme_drawing_is_the_default_circuit():
    from qlstm_qiskit import QLSTM

    drawing = re.search(r"```text\n(.*?)```", README.read_text(), flags=re.S).group(1)
    actual = str(QLSTM(1, 17).draw(fold=-1))

    def normalise(text):
        return [line.rstrip() for line in text.strip("\n").splitlines()]

    assert normalise(drawing) == normalise(actual)


def test_readme_experiment_file_plans(tmp_path):
    """The experiment file of "Noise sweeps" is valid: read, checked and planned (not run)."""
    from qlstm_qiskit.forecasting.sweep_plan import plan_sweep

    section = README.read_text().split("## Noise sweeps", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    path = tmp_path / "sweep.toml"
    path.write_text(block)
    plan = plan_sweep(path)
    assert len(plan.trainings) == 2 * 2  # (statevector, density_matrix) x seeds 0, 1
    assert len(plan.points) == 4 * (2 + 2 + 2 * 3)
    assert plan.axis_values("train_backend") == [
        "statevector",
        "density_matrix:noise_from=aer_noisy",
    ]


def test_readme_first_block_is_the_two_set_up_lines():
    """The README's first code block is exactly two copy-paste lines for a fresh machine: one
    installs the package and runs the main job, one installs the test extra and runs the tests
    (the command `.ci/run` runs)."""
    first = re.search(r"```\w*\n(.*?)```", README.read_text(), flags=re.S).group(1)
    lines = [line for line in first.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    install, test = lines
    assert install.startswith("pip install ") and install.endswith("&& qlstm-qiskit train")
    assert '".[test]"' in test and test.endswith("&& python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q\n" in ci and '".[test,bench]"' in ci
