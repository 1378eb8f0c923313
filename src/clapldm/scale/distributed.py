"""Several processes through Lightning Fabric (the engine training runs on).

`FabricRanks` starts or joins the run's processes with Fabric's DDP strategy: launched
plainly (`clapldm generate --devices 2 ...`) Fabric starts the other local processes
itself by running the same command again; under `torchrun`, SLURM (`srun`) or any
launcher that sets Lightning's variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE,
NODE_RANK, LOCAL_RANK) it joins the processes that launcher made. Generation needs no
gradient synchronisation, so the model is not wrapped: Fabric only gives each process
its rank, its device, a barrier and a broadcast. Imported only for runs of more than
one process, so that `lightning` stays an optional dependency.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import torch.distributed
from lightning.fabric import Fabric
from lightning.fabric.strategies import DDPStrategy
from lightning.fabric.utilities.exceptions import MisconfigurationException

from clapldm.errors import InvalidInputError

# A rank that finishes its share early waits at the final barrier for the slowest one;
# the usual 30 minutes would end a long, unevenly shared run with a timeout.
BARRIER_TIMEOUT = timedelta(hours=24)


class FabricRanks:
    """The processes of a distributed run (see the module docstring)."""

    def __init__(self, accelerator: str, devices: int, num_nodes: int) -> None:
        # Lightning's "Initializing distributed ..." banners only with `clapldm -v`.
        # (its rank-zero messages go through lightning.pytorch's logger once that is imported)
        quiet = not logging.getLogger("clapldm").isEnabledFor(logging.INFO)
        for name in ("lightning.fabric", "lightning.pytorch"):
            logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.INFO)
        try:
            self.fabric = Fabric(
                accelerator=accelerator,
                devices=devices,
                num_nodes=num_nodes,
                strategy=DDPStrategy(timeout=BARRIER_TIMEOUT),
            )
        except (MisconfigurationException, ValueError, RuntimeError) as exc:
            raise InvalidInputError(
                f"cannot start {devices} x {num_nodes} processes: {exc}"
            ) from None
        self.fabric.launch()
        self.rank = self.fabric.global_rank
        self.world_size = self.fabric.world_size
        self.device = str(self.fabric.device)

    def barrier(self) -> None:
        self.fabric.barrier()

    def broadcast(self, obj: Any) -> Any:
        return self.fabric.broadcast(obj, src=0)

    def close(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
