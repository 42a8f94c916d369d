"""Folders held by one process at a time (:mod:`qlstm_qiskit.locks`) and atomic writes from
several processes at once (:mod:`qlstm_qiskit.files`), with real processes."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_run import TINY

from qlstm_qiskit.cli import main
from qlstm_qiskit.files import atomic_write
from qlstm_qiskit.forecasting.training import Run
from qlstm_qiskit.locks import LOCK_FILE, FolderLocked, hold, holder

REPO = Path(__file__).resolve().parents[1]
# holds the folder argv[1] until its stdin closes (or it is killed)
HOLDER = """
import sys
from qlstm_qiskit.locks import hold
with hold(sys.argv[1], "run directory"):
    print("held", flush=True)
    sys.stdin.read()
"""


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def start_holder(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        env=subprocess_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "held\n"
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=60)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_a_second_process_is_refused_with_the_holders_pid_then_admitted(tmp_path):
    folder = tmp_path / "run"
    process = start_holder(folder)
    try:
        info = holder(folder)
        assert info["pid"] == process.pid and info["host"] == socket.gethostname()
        with pytest.raises(FolderLocked, match=rf"in use by process {process.pid} on ") as caught:
            with hold(folder, "run directory"):
                pass
        assert "the run directory" in str(caught.value) and "(started 20" in str(caught.value)
        assert caught.value.holder["pid"] == process.pid
        start = time.monotonic()
        with pytest.raises(FolderLocked, match=r"after waiting 0.3 s"):
            with hold(folder, "run directory", timeout=0.3):
                pass
        assert time.monotonic() - start >= 0.3
        process.stdin.close()  # the holder lets go; a waiting process gets the folder
        with hold(folder, "run directory", timeout=60):
            assert holder(folder)["pid"] == os.getpid()
        assert holder(folder) == {}  # released: the file no longer names a holder
    finally:
        stop(process)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / "run"
    process = start_holder(folder)
    os.kill(process.pid, signal.SIGKILL)
    stop(process)
    assert holder(folder)["pid"] == process.pid  # its details remain in the file...
    with hold(folder):  # ...but the operating system released the lock itself
        pass


def test_hold_is_reentrant_within_a_process_and_checks_its_timeout(tmp_path):
    with hold(tmp_path / "a", "job ledger") as folder:
        with hold(folder, "job ledger"):
            assert holder(folder)["what"] == "job ledger"
        assert holder(folder)["pid"] == os.getpid()  # still held after the inner block
    assert (tmp_path / "a" / LOCK_FILE).is_file()
    for timeout in (-1, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="timeout must be None or a finite number >= 0"):
            with hold(tmp_path / "b", timeout=timeout):
                pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"cannot lock the run directory .*file"):
        with hold(tmp_path / "file", "run directory"):
            pass


def test_two_trainings_on_one_run_directory_never_interleave(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "qlstm_qiskit", "train", *TINY, "--epochs", "100000"]
        + ["--run-dir", str(run_dir)],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if holder(run_dir).get("pid") == first.pid and (run_dir / "checkpoint.pt").exists():
                break
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read()[-2000:]
        second = subprocess.run(
            [sys.executable, "-m", "qlstm_qiskit", "train", *TINY, "--epochs", "1"]
            + ["--run-dir", str(run_dir)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 1, second.stderr
        assert second.stderr.startswith(
            f"qlstm-qiskit: error: the run directory {run_dir} is in use by process {first.pid} "
        )
        assert "Traceback" not in second.stderr
        assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 1  # this process
        assert f"in use by process {first.pid}" in capsys.readouterr().err
        assert first.poll() is None  # the first run goes on undisturbed
    finally:
        stop(first)
    run = Run.load(run_dir)  # what the killed first run left is a whole checkpoint
    assert run.epoch >= 0 and run.models["qlstm"].config.hidden_size == 2


WRITER = """
import sys
from qlstm_qiskit.files import atomic_write
path, letter, rounds = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
for _ in range(rounds):
    atomic_write(path, letter * (1 << 18))
"""


def test_concurrent_atomic_writes_to_one_path_never_crash_or_tear(tmp_path):
    path = tmp_path / "results" / "key.npz"
    path.parent.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), letter, "300"],
            env=subprocess_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for letter in "ab"
    ]
    seen = set()
    try:
        while any(writer.poll() is None for writer in writers):
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue
            assert len(content) == 1 << 18 and content in (b"a" * (1 << 18), b"b" * (1 << 18))
            seen.add(content[:1])
        errors = [writer.stderr.read() for writer in writers]
        assert [writer.returncode for writer in writers] == [0, 0], errors
    finally:
        for writer in writers:
            stop(writer)
    assert path.read_bytes() in (b"a" * (1 << 18), b"b" * (1 << 18))
    assert seen  # the reader saw the file while both wrote
    assert [p.name for p in path.parent.iterdir()] == ["key.npz"]  # no temporary file left


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_write(path, b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [path.name]
    torch.save({"x": 1}, tmp_path / "other.pt")  # unrelated files stay
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "other.pt"]
