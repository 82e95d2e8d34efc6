"""A private `redis-server` process on a free loopback port, for tests that inject broker
faults: stop it and start it again with its data (as a restarted or failed-over Redis
would come back), or freeze it with SIGSTOP (a hung broker: the port accepts connections,
nothing answers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import redis

from tests.server_process import ServerProcess, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
INSTALL_HINT = "needs redis-server: apt-get install redis-server (Debian/Ubuntu)"


def redis_server_installed() -> bool:
    return os.access(REDIS_SERVER, os.X_OK)


class RedisServer(ServerProcess):
    """One `redis-server` in its own session, data in `workdir` (saved only on `restart`)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = "redis-server"
        self.port = free_port()
        self.starts = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, **options)

    def start(self) -> None:
        self.starts += 1
        command = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--dbfilename", f"redis-{self.port}.rdb",
            "--save", "",  # no snapshots of its own: `restart` saves once, on purpose
            "--appendonly", "no",
        ]  # fmt: skip
        self.launch(command, self.workdir / f"redis-{self.port}-{self.starts}.log", self._pings)

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def shutdown_saving(self) -> None:
        """`SHUTDOWN SAVE`: clients lose their connections, the data is kept for `start`."""
        with contextlib.suppress(redis.ConnectionError):  # it hangs up as it exits
            self.client().shutdown(save=True)
        self.process.wait(20)

    def restart(self, down_for: float = 0) -> None:
        """Go away with the data saved and come back on the same port after `down_for` s."""
        self.shutdown_saving()
        time.sleep(down_for)
        self.start()
