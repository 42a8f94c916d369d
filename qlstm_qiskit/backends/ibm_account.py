"""The IBM Quantum account behind ``ibm_<device>`` backends: the active instance's plan, its
remaining usage, which execution modes the plan allows, and ``ibm_least_busy``.

- :func:`active_plan`: the plan of the active instance (``service.instances()`` matched on
  ``service.active_instance()``), e.g. ``"open"``, ``"pay-as-you-go"``, ``"premium"``.
- :func:`account_usage`: ``service.usage()`` as an :class:`AccountUsage` (seconds consumed, the
  limit, what remains; no limit at all on some plans).
- :func:`check_execution_mode`: ``execution="session"`` on the Open Plan is an error that names the
  plan and suggests ``"batch"`` or ``"job"`` (the Open Plan has no sessions); the same suggestion
  wraps a ``Session`` the service refuses (:func:`mode_refused`). Never a silent fallback.
- :func:`least_busy_device`: ``ibm_least_busy`` (option ``min_qubits``) resolved with
  ``service.least_busy(min_num_qubits=..., operational=True, simulator=False)``; the backend then
  carries the resolved device's name, which keys its ledger's jobs and its transpilations.

Nothing here reads, prints or stores credentials: the service object is built by
:func:`~qlstm_qiskit.backends.ibm_runtime.runtime_service`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ibm_runtime import runtime_service

__all__ = [
    "LEAST_BUSY",
    "LEAST_BUSY_DESCRIPTION",
    "OPEN_PLAN",
    "AccountUsage",
    "account_usage",
    "active_plan",
    "check_account_options",
    "check_execution_mode",
    "least_busy_device",
    "mode_refused",
]

#: the backend name resolved to the least busy operational device of the account
LEAST_BUSY = "ibm_least_busy"
LEAST_BUSY_DESCRIPTION = (
    "the least busy operational IBM Quantum device of the account (service.least_busy; option "
    "min_qubits), resolved when the backend is built; otherwise as ibm_<device>"
)
#: the plan (as ``service.instances()`` spells it) that has no sessions
OPEN_PLAN = "open"
#: execution mode -> the modes to suggest when the service refuses it
_ALTERNATIVES = {"session": ("batch", "job"), "batch": ("job",)}


def check_account_options(owner: str, name: str, family: str | None, opts: dict[str, Any]) -> None:
    """The device options about the account: ``service`` (ibm only, a ``QiskitRuntimeService``)
    and ``min_qubits`` (``ibm_least_busy`` only, an int >= 1 or ``None``)."""
    service = opts["service"]
    if service is not None:
        if family != "ibm":
            raise ValueError(
                f"{owner}: service applies only to ibm_<device> backends (IBM Quantum), "
                f"got it for a {family!r} device"
            )
        if not callable(getattr(service, "backend", None)):
            raise TypeError(
                f"{owner}: service must be a qiskit_ibm_runtime QiskitRuntimeService, got "
                f"{type(service).__name__}"
            )
    min_qubits = opts["min_qubits"]
    if min_qubits is None:
        return
    if name != LEAST_BUSY:
        raise ValueError(
            f"{owner}: min_qubits applies only to {LEAST_BUSY} (the least busy device with at "
            f"least that many qubits), got it for {name!r}"
        )
    if isinstance(min_qubits, bool) or not isinstance(min_qubits, int):
        raise TypeError(
            f"{owner}: min_qubits must be an int >= 1 or None, got "
            f"{type(min_qubits).__name__} {min_qubits!r}"
        )
    if min_qubits < 1:
        raise ValueError(f"{owner}: min_qubits must be >= 1, got {min_qubits}")


# -- the plan --------------------------------------------------------------------------------
def active_plan(service) -> str | None:
    """The plan of the service's active instance, lower case (``"open"``, ``"pay-as-you-go"``,
    ...); ``None`` when the service does not say (no such instance, no plan, ``"unknown"``)."""
    crn = service.active_instance()
    for instance in service.instances():
        if instance.get("crn") == crn:
            plan = str(instance.get("plan") or "").strip().lower()
            plan = plan.removesuffix(" plan").strip()
            return plan if plan and plan != "unknown" else None
    return None


def check_execution_mode(owner: str, service, execution: str) -> str | None:
    """Refuse ``execution="session"`` where the active instance's plan has no sessions (the Open
    Plan): a ``ValueError`` that names the plan and suggests ``"batch"`` or ``"job"``. Returns the
    plan (``None`` when unknown, or not looked up because ``execution`` is not a session).

    Where the plan cannot be read (the instance listing fails), the session is requested as asked
    and a refusal by the service is reported by :func:`mode_refused` with the same suggestion."""
    if execution != "session":
        return None
    try:
        plan = active_plan(service)
    except Exception:  # the listing of instances failed: the service itself will decide
        return None
    if plan == OPEN_PLAN:
        raise ValueError(
            f"{owner}: execution='session' is not available on the Open Plan of this IBM "
            "Quantum instance (it has no sessions); use execution='batch' (jobs submitted "
            "together) or execution='job' (each job on its own), or an instance whose plan "
            "has sessions"
        )
    return plan


def mode_refused(device_name: str, execution: str, exc: Exception) -> ValueError:
    """The error for a ``Batch``/``Session`` that the service refused to open on
    ``device_name``: what was refused, why (the service's message) and the modes to use
    instead."""
    others = " or ".join(f"execution={m!r}" for m in _ALTERNATIVES.get(execution, ()))
    kind = "Session" if execution == "session" else "Batch"
    plans = " (the Open Plan has no sessions)" if execution == "session" else ""
    return ValueError(
        f"backend {device_name!r}: IBM Quantum refused to open a {kind} "
        f"({type(exc).__name__}: {exc}); plans without this execution mode{plans} take "
        f"{others or 'another execution mode'}"
    )


# -- usage -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountUsage:
    """The active instance's usage (``service.usage()``), in seconds of QPU time.

    ``limit_seconds`` and ``remaining_seconds`` are ``None`` where the plan sets no limit;
    ``limit_reached`` is the service's own flag (then nothing more runs, whatever the figures)."""

    consumed_seconds: float
    limit_seconds: float | None
    remaining_seconds: float | None
    limit_reached: bool

    @property
    def available_seconds(self) -> float | None:
        """What may still run: ``0`` once the limit is reached, ``None`` without a limit."""
        if self.limit_reached:
            return 0.0
        return self.remaining_seconds

    def covers(self, seconds: float) -> bool:
        """Whether ``seconds`` of estimated QPU time fit in what remains."""
        available = self.available_seconds
        return available is None or seconds <= available

    def describe(self) -> str:
        """One line for the cost preview."""
        used = f"{self.consumed_seconds:.1f} s used"
        if self.limit_reached:
            return f"usage:     limit reached on this instance ({used}): nothing more runs"
        if self.remaining_seconds is None:
            return f"usage:     no usage limit on this instance ({used})"
        return (
            f"usage:     remaining on this instance: {self.remaining_seconds:.1f} s of "
            f"{self.limit_seconds:g} s ({used})"
        )


def account_usage(service) -> AccountUsage:
    """The usage of the service's active instance; an unreadable answer is a ``ValueError``."""
    try:
        usage = service.usage()
        consumed = float(usage.get("usage_consumed_seconds") or 0.0)
        limit = usage.get("usage_limit_seconds") or usage.get("usage_allocation_seconds")
        remaining = usage.get("usage_remaining_seconds")
        if limit and remaining is None:
            remaining = max(float(limit) - consumed, 0.0)
        return AccountUsage(
            consumed_seconds=consumed,
            limit_seconds=float(limit) if limit else None,
            remaining_seconds=float(remaining) if limit else None,
            limit_reached=bool(usage.get("usage_limit_reached")),
        )
    except Exception as exc:  # network, account and parsing errors alike
        raise ValueError(
            f"could not read the IBM Quantum instance's usage with service.usage() "
            f"({type(exc).__name__}: {exc})"
        ) from exc


# -- ibm_least_busy --------------------------------------------------------------------------
def least_busy_device(service, min_qubits: int | None = None):
    """``(service, device)``: the least busy operational (non-simulator) device of ``service``
    (``None``: :func:`~qlstm_qiskit.backends.ibm_runtime.runtime_service`) with at least
    ``min_qubits`` qubits; a ``ValueError`` when none matches."""
    service = runtime_service() if service is None else service
    try:
        device = service.least_busy(min_num_qubits=min_qubits, operational=True, simulator=False)
    except Exception as exc:  # QiskitBackendNotFoundError, network errors
        wanted = f" with at least {min_qubits} qubits" if min_qubits is not None else ""
        raise ValueError(
            f"get_backend: {LEAST_BUSY}: no operational IBM Quantum device{wanted} for this "
            f"account ({type(exc).__name__}: {exc}); "
            + ("lower min_qubits or " if min_qubits is not None else "")
            + "name a device (ibm_<device>)"
        ) from exc
    return service, device
