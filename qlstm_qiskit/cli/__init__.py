"""The ``qlstm-qiskit`` command (also ``python -m qlstm_qiskit``).

Subcommands: ``train`` (a forecaster on a built-in series or a CSV column, with checkpoints,
``--resume``, metrics and plots), ``evaluate`` (a checkpoint's test MSE on several backends),
``predict`` (batch inference to CSV), ``backends`` (the names), ``circuit`` (draw a gate
circuit) and ``jobs`` (list, refresh, rebuild or cancel the device jobs of a ledger).
``main(argv)`` returns the exit status: 0 on success, 2 for a bad command line (argparse), 1 for
any other user error (printed as ``qlstm-qiskit: error: ...``, no traceback; also an
out-of-memory or overflow error, named with the subcommand it stopped).

Modules: :mod:`.command` (the parser and :func:`main`), one per subcommand (:mod:`.train`,
:mod:`.evaluate`, :mod:`.predict`, :mod:`.info` for backends and circuit, :mod:`.jobs`), and
their helpers: :mod:`.specs` (backend specs), :mod:`.flags` (flags several subcommands share),
:mod:`.device_flags` (the device flags and what they do around a run), :mod:`.guards` (checks
of output paths, numbers and shots before a computation starts), :mod:`.tables` (CSV files and
text tables) and :mod:`.errors`.
"""

from .command import main

__all__ = ["main"]
