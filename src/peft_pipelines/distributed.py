"""Which process of a multi-process job this is (torchrun / ``accelerate launch``).

Both launchers export ``RANK`` (the process's index in the whole job),
``LOCAL_RANK`` (its index on this machine) and ``WORLD_SIZE``; a plain
``kedro run`` has none of them and is rank 0 of 1.
"""

from __future__ import annotations

import os


def process_rank() -> int:
    """This process's global rank: 0 outside a distributed job."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its machine, which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """How many processes the job runs: 1 outside a distributed job."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_rank_zero() -> bool:
    """Whether this process writes the job's outputs: only rank 0 does."""
    return process_rank() == 0
