"""Data-parallel training (examples/ddp_train.py under torchrun, gloo on localhost) equals one
process training on the concatenated batch."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DistributedSampler, TensorDataset

from qlstm_qiskit.forecasting.datasets import generate, make_windows

from test_example import load

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "--dataset",
    "sine",
    "--max-steps",
    "1",
    "--batch-per-process",
    "3",
    "--hidden",
    "3",
    "--n-qubits",
    "2",
    "--lr",
    "0.05",
    "--seed",
    "4",
]


def test_two_gloo_processes_equal_one_process_on_the_concatenated_batch(tmp_path):
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(REPO / "examples" / "ddp_train.py"),
            *ARGS,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # replicas stay identical

    # the same step in one process on the two shards' batches together
    example = load("examples/ddp_train.py")
    args = example.parse_args(ARGS)
    data = make_windows(generate(args.dataset))
    train = TensorDataset(data.x_train, data.y_train)
    indices = []
    for rank in range(2):
        sampler = DistributedSampler(
            train, num_replicas=2, rank=rank, shuffle=True, seed=args.seed, drop_last=True
        )
        sampler.set_epoch(0)
        indices += list(sampler)[: args.batch_per_process]
    x, y = train[indices]
    model = example.Forecaster(args.hidden, args.n_qubits, args.seed)
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr)
    nn.MSELoss()(model(x), y).backward()
    optimizer.step()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rank0[key], value, rtol=0, atol=1e-10)
        assert not torch.equal(value, initial[key]), f"{key} did not change"
