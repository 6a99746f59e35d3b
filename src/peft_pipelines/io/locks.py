"""One run at a time on a folder two runs could otherwise write at once (a Trainer's checkpoints).

The lock is an advisory ``flock`` on ``<folder>.lock`` beside the folder (the
folder itself stays the library's): the operating system
releases it when its process ends, however it ends, so a lock left by a
killed run is never in the way. The file also says who holds it (pid, host,
start time, command), for the message a second run stops with, and for the
warning of the run that takes a killed run's place. POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from peft_pipelines.errors import UserError

logger = logging.getLogger(__name__)


class FolderLockedError(UserError, RuntimeError):
    """Another running process holds the folder's lock."""


def _holder(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except ValueError:
        return {}


def describe_holder(holder: dict[str, Any]) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {when}"


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block, or raise :class:`FolderLockedError` at once.

    The error names the run that holds it. Taking over the lock of a run that
    was killed logs a warning naming that run.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    handle = folder.with_name(f"{folder.name}.lock").open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderLockedError(
                f"{folder} is in use by another run ({describe_holder(_holder(handle))}): "
                "wait for it to finish, or stop it"
            ) from None
        previous = _holder(handle)
        if previous:
            logger.warning(
                "Taking over the lock on %s left by a run that ended without releasing it (%s)",
                folder,
                describe_holder(previous),
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.time(),
                    "command": " ".join(sys.argv),
                }
            )
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # released cleanly: nothing left to take over
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
