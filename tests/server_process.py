"""A server a test starts on loopback (redis-server, slapd, nginx, gunicorn...): launched in
its own session with its output in a log file, waited for until it answers, frozen and
thawed to play a hung peer, killed when the test is done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT = 20  # seconds a server has to answer after it starts (a safety net)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int) -> bool:
    """A TCP connection to 127.0.0.1:`port` is accepted."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """One server process at a time; `launch` starts it and waits until `ready()`."""

    name = "server"
    process: subprocess.Popen | None = None

    def launch(
        self, command: list[str], log_path: Path, ready: Callable[[], bool], **popen
    ) -> None:
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **popen
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = log_path.read_text(errors="replace")[-2000:]
                raise AssertionError(f"{self.name} exited at start:\n{output}")
            if ready():
                return
            time.sleep(0.03)
        raise AssertionError(f"{self.name} did not answer within {START_TIMEOUT} s")

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts connections on the port; nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Always safe: thaws a frozen server and kills it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.kill()
        self.process.wait(20)
