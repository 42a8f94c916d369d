"""Run the benchmark sections and write ``docs/BENCHMARKS.md`` with its figures.

Run (from the repository root, with the ``bench`` extra installed)::

    pip install ".[bench]"
    python benchmarks/report.py                         # every section (~80 minutes on 2 cores)
    python benchmarks/report.py --sections noise        # run one again; the others are re-rendered
    python benchmarks/report.py --sections              # only re-render from the saved results
    python benchmarks/report.py --quick --docs /tmp/b   # tiny sizes (what the test suite runs)

Sections, in the order of the document (each a script of this folder that can also run alone):

- ``speed``    ``bench_peers.py``: REF training step against nn.LSTM, PennyLane, Aer, stock Qiskit;
- ``configs``  ``bench_configs.py``: the training step across circuit configurations against
               nn.LSTM and PennyLane, with each step's estimated floating-point work and rate;
- ``scaling``  ``bench_scaling.py``: step time and peak memory against each hyperparameter;
- ``accuracy`` ``bench_accuracy.py``: QLSTM and its cell variants against parameter-matched
               classical LSTMs on the paper's tasks, lr and schedule chosen on validation;
- ``noise``    ``bench_noise.py``: ``qlstm-qiskit sweep examples/noise_sweep.toml``: trained
               models' test MSE on exact, sampled, noisy backends and fake devices, unmitigated
               and mitigated;
- ``noise_aware`` ``bench_noise_aware.py``: models trained exactly and under a fake device's
               noise model (``density_matrix``), evaluated on the device;
- ``density``  ``bench_density.py``: the ``density_matrix`` REF step against ``statevector`` and
               ``aer_noisy_exact``, and its step time and peak memory against qubits;
- ``cell_loop`` ``bench_cell_loop.py``: ``QLSTMCell`` against ``nn.LSTMCell`` in a user's
               step-by-step loop (PyTorch's time-sequence-prediction example, LBFGS).

Each section module provides ``main(argv) -> results`` (JSON-serialisable), ``render(results,
figures) -> markdown`` and ``QUICK_ARGS``. A run saves the raw results of every section it runs as
``<docs>/results/<section>.json`` (with the command, the date, the wall time and the machine), then
renders ``<docs>/BENCHMARKS.md`` from every saved section file, figures in ``<docs>/figures/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fresh_process import child_environment  # noqa: E402

DOCS = HERE.parent / "docs"
SECTIONS = {
    "speed": "bench_peers.py",
    "configs": "bench_configs.py",
    "scaling": "bench_scaling.py",
    "accuracy": "bench_accuracy.py",
    "noise": "bench_noise.py",
    "noise_aware": "bench_noise_aware.py",
    "density": "bench_density.py",
    "cell_loop": "bench_cell_loop.py",
}
PACKAGES = (
    "torch",
    "numpy",
    "qiskit",
    "qiskit-aer",
    "qiskit-machine-learning",
    "qiskit-ibm-runtime",
    "pennylane",
    "pennylane-lightning",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="*",
        choices=list(SECTIONS),
        default=list(SECTIONS),
        help="sections to run (default: all; none: only re-render the document "
        "from the saved results)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=DOCS,
        help="folder of BENCHMARKS.md, results/ and figures/ (default: docs/)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run each section with its tiny QUICK_ARGS (a smoke test)",
    )
    parser.add_argument(
        "--in-this-process", metavar="SECTION", choices=list(SECTIONS), help=argparse.SUPPRESS
    )  # the child process of one section
    return parser.parse_args(argv)


def load_section(name: str):
    """The section's script, imported by path (``benchmarks/`` is not a package)."""
    path = HERE / SECTIONS[name]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> dict:
    """What ran the benchmarks: CPU, cores, torch threads, Python and package versions."""
    import torch

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (``/proc/stat``; in a container
    this is the host's count, so the figure is only meaningful on a machine of one's own)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]  # steal: the hypervisor's
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished child processes."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_section(name: str, quick: bool, docs: Path) -> Path:
    """Run section ``name`` in a fresh Python process (its thread settings, memory and imports
    stay its own) and return the path of the results file it saved."""
    command = [sys.executable, __file__, "--in-this-process", name, "--docs", str(docs)]
    subprocess.run(command + ["--quick"] * quick, check=True, env=child_environment())
    return docs / "results" / f"{name}.json"


def run_section_here(name: str, quick: bool, docs: Path) -> Path:
    """Run section ``name`` in this process and save its results file; returns its path."""
    module = load_section(name)
    argv = list(module.QUICK_ARGS) if quick else []
    command = " ".join(["python", f"benchmarks/{SECTIONS[name]}", *argv])
    print(f"\n=== {name}: {command}", flush=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    busy_before, own_before = machine_busy_seconds(), own_cpu_seconds()
    start = time.perf_counter()
    results = module.main(argv)
    wall = time.perf_counter() - start
    others = (machine_busy_seconds() - busy_before) - (own_cpu_seconds() - own_before)
    record = {
        "section": name,
        "command": command,
        "started": started,
        "wall_seconds": round(wall, 1),
        "other_processes_cores": round(max(others, 0.0) / wall, 2),
        "machine": machine(),
        "results": results,
    }
    path = docs / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"=== {name}: {record['wall_seconds']} s, saved {path}", flush=True)
    return path


def render_document(docs: Path) -> Path:
    """Write ``docs/BENCHMARKS.md`` from every saved section results file."""
    records = {
        name: json.loads(path.read_text())
        for name in SECTIONS
        if (path := docs / "results" / f"{name}.json").is_file()
    }
    lines = [
        "# Benchmarks",
        "",
        "Produced by `python benchmarks/report.py` (see its docstring; `--sections` runs "
        "some sections again and re-renders the rest from their saved results). Raw "
        "measurements: [results/](results/). Timings are only comparable within one section "
        "run; every section below names its command, date, wall time and machine, and how "
        "many cores other processes kept busy meanwhile (timings taken beside other work "
        "on this 2-core machine are not comparable).",
        "",
    ]
    missing = [name for name in SECTIONS if name not in records]
    if missing:
        lines += [f"Not yet run: {', '.join(missing)}.", ""]
    for name, record in records.items():
        body = load_section(name).render(record["results"], docs / "figures")
        heading, _, rest = body.partition("\n")
        lines += [heading, "", _provenance(record), rest.rstrip("\n"), ""]
    path = docs / "BENCHMARKS.md"
    path.write_text("\n".join(lines))
    return path


def _provenance(record: dict) -> str:
    m = record["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    return (
        f"*`{record['command']}`, started {record['started']}, {record['wall_seconds']:.0f} s "
        f"wall, other processes busy {record['other_processes_cores']:.2f} cores on "
        f"average meanwhile; {m['processor']}, {m['cpu_count']} cores, default torch threads "
        f"{m['torch_threads']}; Python {m['python']}; {versions}.*"
    )


def main(argv=None) -> Path:
    args = parse_args(argv)
    if args.quick and args.docs == DOCS:
        raise SystemExit(
            "report.py: --quick needs --docs DIR (a folder other than docs/): its "
            "tiny results would replace the measured report"
        )
    if args.in_this_process:
        return run_section_here(args.in_this_process, args.quick, args.docs)
    for name in args.sections:
        run_section(name, args.quick, args.docs)
    path = render_document(args.docs)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
