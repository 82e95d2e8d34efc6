"""Exit codes and the errors that map to them.

Every error the user can cause (a refusal from the server, a bad argument, an unreachable
or wrong URL, a missing login) is a `CliError`: `main` prints its one-line message and
exits with its code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_SERVER = 1  # the server refused or failed (its message is printed)
EXIT_USAGE = 2  # bad arguments (argparse uses 2 as well)
EXIT_NO = 3  # the answer is no: a waited-for request ended unapproved; access check denied
EXIT_NETWORK = 4  # cannot reach the server, or the URL is not an Access Portal API
EXIT_AUTH = 5  # not logged in, or the token was refused
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES_HELP = """\
exit status:
  0    success
  1    the server refused or failed; its message is printed
  2    usage error (bad or missing arguments; a request id prefix that cannot begin an id or
       is shared by several requests)
  3    the answer is no: a request waited for with --wait was denied, expired or
       withdrawn; `access check` found no access
  4    network problem: the server cannot be reached, or the URL does not point at an
       Access Portal API
  5    not logged in, or the server refused the token (run `accessctl login`)
  130  interrupted (Ctrl-C)"""


class CliError(Exception):
    """An error meant for the user: one line, with an exit status."""

    exit_code = EXIT_SERVER

    def __init__(self, message: str, *, hint: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())
        self.hint = hint
        self.details = list(details)  # lines shown under the message (e.g. candidates)


class ServerError(CliError):
    """The server answered with an error; `status` is the HTTP status (0 if none)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        hint: str = "",
        code: str = "",
        retry_after: str | None = None,
        data: object = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        # The answer's JSON body (`{detail, code, field?, errors?}`), for commands that say
        # which of their flags a refusal is about (accessctl.commands.flags).
        self.data = data
        self.code = code  # the body's `code` (or RFC 8628 `error`), when it has one
        self.retry_after = retry_after  # the answer's Retry-After header, if any


class OutcomeUnknown(ServerError):
    """A write was sent, its answer lost, and the retries with its Idempotency-Key did not
    learn whether it was done: sending it again with a new key could do it twice."""

    def __init__(self, last: str) -> None:
        super().__init__(
            f"outcome unknown — check `accessctl request ls` before asking again ({last})"
        )


class UsageError(CliError):
    exit_code = EXIT_USAGE


class NetworkError(CliError):
    exit_code = EXIT_NETWORK
    # True when the request may have reached the server and its answer was lost (a POST
    # is then sent again with its Idempotency-Key: accessctl.client.ApiClient.post).
    answer_lost = False


class AuthError(CliError):
    exit_code = EXIT_AUTH


SESSION_EXPIRED = "your session expired, run accessctl login --sso"


class SessionExpired(AuthError):
    """The stored token from `accessctl login --sso` has run out (or the server says so)."""

    def __init__(self) -> None:
        super().__init__(SESSION_EXPIRED)
