"""Where a sweep's tasks run: this process, local worker processes, or a Ray cluster.

Each executor has ``submit(function, *args) -> concurrent.futures.Future`` and ``shutdown()``;
the tasks (:mod:`.sweep_tasks`) are module-level functions of plain arguments, so each way runs
the same code on the same inputs and writes the same files:

- :class:`InlineExecutor`: one task after another in this process (``workers=1``);
- ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (torch and ``fork``
  do not mix: a forked child inherits torch's thread pools and locks in whatever state they
  were), ``workers`` processes (:func:`local_executor`);
- :class:`RayExecutor`: each task a Ray task (``ray.remote(num_cpus=threads)``: it reserves the
  CPUs its torch threads use), its ``ObjectRef`` turned into a future; Ray schedules them over
  the cluster's CPUs.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import torch

from ..checks import import_optional

#: how to install Ray, the optional dependency of ``--ray``
RAY_INSTALL = 'pip install "qlstm-qiskit[ray]" (or: pip install ray)'


class InlineExecutor:
    """Runs each task at once, in this process, when it is submitted (torch's thread count,
    which a task sets, restored after it)."""

    def submit(self, function, *args: Any) -> Future:
        future: Future = Future()
        threads = torch.get_num_threads()
        try:
            future.set_result(function(*args))
        except Exception as exc:  # the task failed: its future holds why (as a pool's would)
            future.set_exception(exc)
        finally:
            torch.set_num_threads(threads)
        return future

    def shutdown(self) -> None:
        pass


def local_executor(workers: int):
    """This process (``workers == 1``) or a pool of ``workers`` spawned processes."""
    if workers == 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def import_ray():
    """The ``ray`` module, or an ``ImportError`` with the command that installs it."""
    return import_optional("qlstm-qiskit sweep --ray", "ray", RAY_INSTALL)


class RayExecutor:
    """Tasks as Ray tasks on the cluster at ``address``: ``"local"`` starts a Ray instance in
    this process with ``num_cpus`` CPUs (None: all of this machine's), ``"auto"`` connects to the
    cluster this machine is part of (``ray start``), anything else is the address of its head
    (``HOST:PORT`` or ``ray://HOST:10001``). Each task reserves ``threads`` CPUs (the torch
    threads it runs). Every node must have qlstm-qiskit installed and see the sweep folder (a
    shared file system) at the same path.
    """

    def __init__(self, address: str, num_cpus: int | None = None, threads: int = 1) -> None:
        ray = import_ray()
        if address != "local" and num_cpus is not None:
            raise ValueError(
                f"RayExecutor: num_cpus applies only to a local Ray instance (address 'local'); "
                f"the cluster at {address!r} has its own, got num_cpus={num_cpus}"
            )
        settings: dict[str, Any] = {"logging_level": logging.WARNING}
        settings["address"] = address  # "local": a new instance, whatever RAY_ADDRESS says
        if address == "local":
            settings |= {"num_cpus": num_cpus, "include_dashboard": False}
        try:
            ray.init(**settings)
        except ConnectionError as exc:
            raise ConnectionError(
                f"--ray {address}: cannot connect to a Ray cluster ({exc}); start one with "
                "`ray start --head`, give its address, or use --ray local"
            ) from exc
        self.ray = ray
        self.threads = threads
        self._remote: dict[Any, Any] = {}

    def submit(self, function, *args: Any) -> Future:
        if function not in self._remote:
            self._remote[function] = self.ray.remote(num_cpus=self.threads)(function)
        return self._remote[function].remote(*args).future()

    def shutdown(self) -> None:
        self.ray.shutdown()


def task_error(exc: BaseException) -> str:
    """One line saying why a task failed (a Ray task's error is its cause's)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else 'no details'}"
