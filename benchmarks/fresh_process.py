"""Run a benchmark script's measurement in a fresh Python process, and read resident memory.

Shared by ``bench_scale.py``, ``bench_scaling.py`` and ``report.py``: each size (or section) runs in
its own process so that
its peak resident memory (``ru_maxrss``) is its own. The child is the same script, called with a
hidden option that makes it measure one configuration and print one JSON object as its last line
of standard output.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path


def run_in_fresh_process(script: str | Path, args: list[str]) -> dict:
    """Run ``python script *args`` with this process's import path; return the JSON object the
    child printed last. Raises ``CalledProcessError`` (with the child's stderr) if it fails."""
    result = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        env=child_environment(),
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_environment() -> dict[str, str]:
    """This process's environment, with its import path as ``PYTHONPATH`` (same imports)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, sys.path)))


def peak_rss_gib() -> float:
    """This process's peak resident memory so far, GiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def current_rss_gib() -> float:
    """This process's resident memory now, GiB (``/proc/self/statm``, Linux)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**30
