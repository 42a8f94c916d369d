"""The benchmark report (benchmarks/report.py), at tiny sizes: the smoke tests read the session's
one quick report (the `quick_report` fixture of conftest.py)."""

import json
import shutil

import pytest

from test_example import assert_png, load


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
