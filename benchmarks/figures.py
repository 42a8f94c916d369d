"""The report's figures: matplotlib without a display, and one way to write them.

Every section writes its PNGs into the report's ``figures/`` folder (next to BENCHMARKS.md) and
links them as ``figures/<name>.png``.
"""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: Path) -> str:
    """Lay out, write (PNG, 110 dpi) and close ``figure``; returns its markdown link target,
    ``<folder name>/<file name>`` (``figures/...``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot().close(figure)
    return f"{path.parent.name}/{path.name}"
