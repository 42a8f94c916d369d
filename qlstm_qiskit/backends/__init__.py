"""The backends: what executes a gate circuit, selected by name or passed as an object.

This subpackage is the library's code; the top-level ``backends/`` folder of the repository holds
the profile files (TOML, one per named backend) that :mod:`.profiles` reads and that ship in the
package as ``qlstm_qiskit.profiles_data``.

Layers: :mod:`.base` (:class:`QuantumBackend` and the executor contract), :mod:`.profiles`,
:mod:`.statevector` (the torch simulator of :mod:`qlstm_qiskit.sim`), the primitive path
(:mod:`.network`, :mod:`.estimators`, :mod:`.primitive`, :mod:`.aer`, :mod:`.noise`,
:mod:`.user_objects`), the devices (:mod:`.ibm_runtime`, :mod:`.ibm_account`, :mod:`.cost`,
:mod:`.ledger`, :mod:`.jobs`, :mod:`.devices`) and, on top, :mod:`.registry`.
"""

from .base import QuantumBackend
from .registry import backend_profile, get_backend, list_backends, resolve_backend

__all__ = ["QuantumBackend", "backend_profile", "get_backend", "list_backends", "resolve_backend"]
