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
