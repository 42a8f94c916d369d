"""Shared fixtures: the one quick benchmark report of a test session."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from test_example import load


@contextlib.contextmanager
def stdout_to(path: Path):
    """Meanwhile, file descriptor 1 (what child processes print to) writes to ``path``."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(path, "w") as log:
            os.dup2(log.fileno(), 1)
            try:
                yield
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
    finally:
        os.close(saved)


@dataclass(frozen=True)
class QuickReport:
    """``benchmarks/report.py --quick --docs DOCS``, run once: every section's QUICK_ARGS run in
    its own process, its results saved as ``DOCS/results/<section>.json``."""

    report: object  # the report.py module
    docs: Path
    path: Path  # what report.main returned: DOCS/BENCHMARKS.md
    text: str  # BENCHMARKS.md as written by that run
    stdout: str  # what the section processes printed

    def record(self, section: str) -> dict:
        return json.loads((self.docs / "results" / f"{section}.json").read_text())

    def results(self, section: str) -> dict:
        """What the section's ``main(QUICK_ARGS)`` returned (after a JSON round trip)."""
        return self.record(section)["results"]

    def printed(self, section: str) -> list[str]:
        """The lines the section's ``main(QUICK_ARGS)`` printed: those between report.py's
        ``=== section: command`` and ``=== section: N s, saved PATH`` lines."""
        lines = self.stdout.splitlines()
        start = next(
            i
            for i, line in enumerate(lines)
            if line == f"=== {section}: {self.record(section)['command']}"
        )
        end = next(
            i
            for i, line in enumerate(lines)
            if i > start and line.startswith(f"=== {section}: ") and " s, saved " in line
        )
        return lines[start + 1 : end]


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory) -> QuickReport:
    """The documented quick report, run once per session for every test of a section's quick
    run (about 45 s on 2 cores). Tests must not write into its folder."""
    report = load("benchmarks/report.py")
    docs = tmp_path_factory.mktemp("quick_report")
    log = tmp_path_factory.mktemp("quick_report_log") / "stdout.txt"
    try:
        with stdout_to(log):
            path = report.main(["--quick", "--docs", str(docs)])
    finally:
        print(log.read_text(), end="")  # in the test's captured output, shown if it fails
    return QuickReport(
        report=report, docs=docs, path=path, text=path.read_text(), stdout=log.read_text()
    )
