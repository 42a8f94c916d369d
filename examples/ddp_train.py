"""Data-parallel training of a QLSTM forecaster with ``torch.distributed`` (DDP).

Launch one process per worker with ``torchrun``, e.g. two processes on this machine::

    torchrun --nproc_per_node 2 examples/ddp_train.py --epochs 5

or across machines (same command on each, with ``--nnodes``, ``--node_rank`` and
``--rdzv_endpoint HOST:PORT``). Every process builds the same model (same ``seed``), wraps it in
``DistributedDataParallel`` and trains on its shard of each batch (``DistributedSampler``); DDP
averages the gradients over the processes after every backward pass, so all replicas stay equal
and one step on ``W`` processes with ``B`` windows each equals one step on one process with the
``W * B`` windows together. The ``gloo`` backend runs on CPUs (``nccl`` is the choice on GPUs).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from qlstm_qiskit import QLSTM
from qlstm_qiskit.forecasting.datasets import generate, make_windows


class Forecaster(nn.Module):
    """QLSTM over ``(B, window, 1)`` and a linear read-out of the last step: ``(B, 1)``."""

    def __init__(self, hidden_size: int, n_qubits: int, seed: int) -> None:
        super().__init__()
        self.qlstm = QLSTM(
            1, hidden_size, batch_first=True, n_qubits=n_qubits, seed=seed, dtype=torch.float64
        )
        generator = torch.Generator().manual_seed(seed)
        self.head = nn.Linear(hidden_size, 1, dtype=torch.float64)
        with torch.no_grad():
            for param in self.head.parameters():
                param.copy_(
                    0.1 * torch.randn(param.shape, generator=generator, dtype=torch.float64)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.qlstm(x)
        return self.head(output[:, -1])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sine", help="a built-in dataset (default: sine)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many optimizer steps (default: all epochs)",
    )
    parser.add_argument("--batch-per-process", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=5)
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write each process's final state_dict to OUT/rank<r>.pt",
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if "RANK" not in os.environ:
        raise SystemExit(
            "ddp_train.py: start it with torchrun, e.g. "
            "`torchrun --nproc_per_node 2 examples/ddp_train.py`"
        )
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    try:
        data = make_windows(generate(args.dataset))
        train = TensorDataset(data.x_train, data.y_train)
        sampler = DistributedSampler(
            train, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True
        )
        loader = DataLoader(
            train, batch_size=args.batch_per_process, sampler=sampler, drop_last=True
        )
        model = DistributedDataParallel(Forecaster(args.hidden, args.n_qubits, args.seed))
        optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr)
        loss_fn = nn.MSELoss()
        steps, loss = 0, torch.zeros((), dtype=torch.float64)
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            for x, y in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()  # DDP averages the gradients over all processes here
                optimizer.step()
                steps += 1
                if args.max_steps is not None and steps >= args.max_steps:
                    break
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            if rank == 0:
                print(
                    f"epoch {epoch + 1}: loss {mean_loss.item() / world:.5f} "
                    f"({world} processes, {steps} steps)"
                )
            if args.max_steps is not None and steps >= args.max_steps:
                break
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            torch.save(model.module.state_dict(), args.out / f"rank{rank}.pt")
        # every process reaches this point before any tears its connections down: a process
        # that exits while a peer still talks to it can abort that peer in gloo's threads
        dist.barrier()
        return {"rank": rank, "world": world, "steps": steps}
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
