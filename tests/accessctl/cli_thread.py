"""`accessctl` running in a thread, for tests where something else must act meanwhile (a
browser confirming a sign-in, a person approving a code)."""

from __future__ import annotations

import io
import threading

from accessctl.main import main


class CliThread:
    """`main(argv)` in a daemon thread; `.code` once joined, `.stdout`/`.stderr` so far."""

    def __init__(self, argv, environ, **kwargs) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.code: int | None = None

        def target():
            self.code = main(
                argv,
                stdout=self.out,
                stderr=self.err,
                stdin=io.StringIO(),
                environ=environ,
                **kwargs,
            )

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()

    def join(self) -> None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "accessctl did not finish"
