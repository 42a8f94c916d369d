"""The command's name and its user errors."""

PROG = "qlstm-qiskit"


class CommandError(ValueError):
    """A user error of the command line that argparse cannot see."""
