"""The smallest training run the command-line tests use: 9 windows of 3 values of a 12-point sine
(6 for training, 3 for testing), hidden size 2, 2 qubits, no progress bar."""

TINY = [
    "--dataset",
    "sine",
    "--n-points",
    "12",
    "--window",
    "3",
    "--hidden-size",
    "2",
    "--n-qubits",
    "2",
    "--no-progress",
]
