"""``python -m qlstm_qiskit``: the ``qlstm-qiskit`` command."""

from .cli import main

raise SystemExit(main())
