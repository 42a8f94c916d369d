"""The IBM runtime package and service: importing qiskit-ibm-runtime, listing and building fake
devices, and ``QiskitRuntimeService`` from the user's saved account or environment (credentials
are read here and never written anywhere)."""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

from ..checks import import_optional

#: the qiskit-ibm-runtime versions the device backends support (setup.cfg's extras say the same)
RUNTIME_REQUIREMENT = "qiskit-ibm-runtime>=0.40,<0.52"
IBM_INSTALL = 'pip install "qlstm-qiskit[ibm]"'
TOKEN_VAR = "QISKIT_IBM_TOKEN"
INSTANCE_VAR = "QISKIT_IBM_INSTANCE"
CHANNEL_VAR = "QISKIT_IBM_CHANNEL"
DEFAULT_CHANNEL = "ibm_quantum_platform"
SAVE_ACCOUNT_HINT = (
    "save an account once with: from qiskit_ibm_runtime import QiskitRuntimeService; "
    'QiskitRuntimeService.save_account(channel="ibm_quantum_platform", token="<API key>", '
    'instance="<CRN or instance name>"), or set the environment variables '
    f"{TOKEN_VAR} (and {INSTANCE_VAR}, optionally {CHANNEL_VAR})"
)


def runtime(owner: str):
    """The ``qiskit_ibm_runtime`` module, or an ``ImportError`` with the pip command."""
    return import_optional(owner, "qiskit_ibm_runtime", IBM_INSTALL)


def runtime_available() -> bool:
    """Whether qiskit-ibm-runtime can be imported."""
    try:
        runtime("")
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def fake_device_names() -> tuple[str, ...]:
    """Names of every fake device of ``qiskit_ibm_runtime.fake_provider`` (sorted)."""
    runtime("fake devices")
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():  # some fake devices warn that their error values are made up
        warnings.simplefilter("ignore", UserWarning)
        return tuple(sorted(b.name for b in FakeProviderForBackendV2().backends()))


def fake_device(name: str):
    """The fake device ``name`` (e.g. ``"fake_manila"``); the error lists the valid names."""
    names = fake_device_names()
    if name not in names:
        raise ValueError(
            f"get_backend: unknown fake device {name!r}; valid fake devices: {', '.join(names)}"
        )
    from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return FakeProviderForBackendV2().backend(name)


def runtime_service():
    """``QiskitRuntimeService`` from the environment variables (``QISKIT_IBM_TOKEN``,
    ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_CHANNEL``) when the token is set, else from the saved
    account. Any failure is a ``ValueError`` that says how to save an account and never contains
    the token."""
    runtime("ibm devices")
    from qiskit_ibm_runtime.qiskit_runtime_service import QiskitRuntimeService

    token = os.environ.get(TOKEN_VAR)
    try:
        if token:
            return QiskitRuntimeService(
                channel=os.environ.get(CHANNEL_VAR) or DEFAULT_CHANNEL,
                token=token,
                instance=os.environ.get(INSTANCE_VAR) or None,
            )
        return QiskitRuntimeService()
    except Exception as exc:  # the runtime raises account, network and parsing errors alike
        raise credentials_error(exc) from (None if _shows_token(exc) else exc)


def _shows_token(exc: Exception) -> bool:
    token = os.environ.get(TOKEN_VAR)
    return bool(token) and token in f"{exc}"


def credentials_error(exc: Exception) -> ValueError:
    """The ``ValueError`` for a service that could not be built or reached: where the
    credentials came from, the reason (the token, if the runtime quoted it, replaced by
    ``***``) and how to save an account."""
    token = os.environ.get(TOKEN_VAR)
    reason = f"{type(exc).__name__}: {exc}"
    if token:
        reason = reason.replace(token, "***")
    source = f"the environment variable {TOKEN_VAR}" if token else "the saved account"
    return ValueError(
        f"IBM Quantum credentials from {source} did not work ({reason}); {SAVE_ACCOUNT_HINT}"
    )


def redact(text: str) -> str:
    """``text`` with the token of ``QISKIT_IBM_TOKEN`` (if set) replaced by ``***``: for messages
    that quote what the service said."""
    token = os.environ.get(TOKEN_VAR)
    return text.replace(token, "***") if token else text


def ibm_device(name: str, service=None):
    """``service.backend(name)`` (``service``: :func:`runtime_service` by default). A device the
    account does not have is a ``ValueError`` saying so; any other failure (older runtimes build
    the service without contacting IBM, so bad credentials or no network show up here) is the
    credentials error of :func:`credentials_error` (a given ``service``'s failure is reported as
    such)."""
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    given = service is not None
    service = runtime_service() if service is None else service
    try:
        return service.backend(name)
    except Exception as exc:
        if isinstance(exc, (QiskitBackendNotFoundError, LookupError)):
            raise ValueError(
                f"get_backend: IBM Quantum has no device {name!r} for this account "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if given:
            raise ValueError(
                f"get_backend: the given service could not return the device {name!r} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        raise credentials_error(exc) from (None if _shows_token(exc) else exc)
