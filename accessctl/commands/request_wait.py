"""`--wait`: follow a request until it is decided, printing reviews as they arrive."""

from __future__ import annotations

from datetime import timedelta

from accessctl import output
from accessctl.commands.context import Context
from accessctl.commands.ids import short_id
from accessctl.commands.request_render import fetch, items, plural, review_key, reviewer, reviews
from accessctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_NO,
    EXIT_OK,
    CliError,
    NetworkError,
    ServerError,
)

FINAL_EXIT = {"APPROVED": EXIT_OK}
MAX_NETWORK_RETRIES = 5
# Without a terminal (CI logs, a pipe) progress is a plain line on stderr this often: a
# log shows the wait is alive without a line per poll.
PROGRESS_EVERY = 30.0
EXPIRY_GRACE = timedelta(seconds=30)  # the server's clock decides; allow for skew


def _review_line(ctx: Context, r: dict) -> str:
    state = str(r.get("state", ""))
    mark = "✓" if state == "APPROVED" else "✗" if state == "DENIED" else "•"
    enc = (getattr(ctx.stdout, "encoding", "") or "").lower()
    if "utf" not in enc:
        mark = "+" if state == "APPROVED" else "-" if state == "DENIED" else "*"
    verb = {"APPROVED": "approved", "DENIED": "denied"}.get(state, state.lower())
    reason = f": {r.get('reason')}" if r.get("reason") else ""
    created = output.parse_time(r.get("created"))
    at = f" ({output.absolute(created)})" if created else ""
    mark = ctx.style(mark, "green" if state == "APPROVED" else "red")
    return f"{mark} {reviewer(r)} {verb}{reason}{at}"


def _final(ctx: Context, req: dict) -> int:
    """Say how the request ended; 0 if approved, 3 otherwise."""
    state = str(req.get("state", ""))
    rid = req.get("id")
    now = output.now_utc()
    style = ctx.style
    if state == "APPROVED":
        ctx.note(
            f"Request {rid} {style.state('APPROVED')}: access to {', '.join(items(req))} "
            f"from {output.when(req.get('access_starts'), now)} "
            f"until {output.when(req.get('access_expires'), now)}."
        )
    elif state == "DENIED":
        why = f": {req.get('resolve_reason')}" if req.get("resolve_reason") else "."
        ctx.note(f"Request {rid} {style.state('DENIED')}{why}")
    elif state == "EXPIRED" or state == "PENDING":
        ctx.note(
            f"Request {rid} {style.state('EXPIRED')}: nobody decided before "
            f"{output.when(req.get('expires'), now)}."
        )
    elif state == "WITHDRAWN":
        ctx.note(f"Request {rid} was {style.state('WITHDRAWN')}.")
    else:
        ctx.note(f"Request {rid} is {style.state(state)}.")
    if ctx.json:
        ctx.dump(req)
    return FINAL_EXIT.get(state, EXIT_NO)


def _progress(req: dict) -> str:
    approvals = sum(1 for r in reviews(req) if r.get("state") == "APPROVED")
    expires = output.parse_time(req.get("expires"))
    left = f"; it expires {output.relative(expires)}" if expires else ""
    return f"waiting for reviewers of {req.get('id')}: {plural(approvals, 'approval')}{left}"


def _waiting_line(ctx: Context, req: dict, elapsed: float) -> str:
    approvals = sum(1 for r in reviews(req) if r.get("state") == "APPROVED")
    expires = output.parse_time(req.get("expires"))
    left = f"; it expires {output.relative(expires)}" if expires else ""
    enc = (getattr(ctx.stderr, "encoding", "") or "").lower()
    dots = "…" if "utf" in enc else "..."
    return (
        f"waiting for review of request {short_id(req.get('id'))} "
        f"({output.duration(elapsed)}){dots} {plural(approvals, 'approval')} so far{left}"
    )


def wait(ctx: Context, req: dict) -> int:
    """Poll the request until it leaves PENDING, printing reviews as they arrive.

    Ctrl-C stops waiting and leaves the request as it is (exit 130).
    """
    rid = req.get("id")
    spinner = output.Spinner(ctx.stderr, ctx.interactive)
    seen: set[tuple] = set()
    failures = 0
    started = ctx.clock()
    next_line = 0.0  # elapsed seconds at which the next plain progress line is due

    def progress(current: dict) -> None:
        nonlocal next_line
        if ctx.interactive:
            spinner.update(_progress(current))
            return
        elapsed = ctx.clock() - started
        if elapsed >= next_line:
            print(_waiting_line(ctx, current, elapsed), file=ctx.stderr, flush=True)
            next_line = (elapsed // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def report(current: dict) -> None:
        for r in reviews(current):
            key = review_key(r)
            if key not in seen:
                seen.add(key)
                spinner.clear()
                ctx.note(_review_line(ctx, r))

    try:
        report(req)
        while req.get("state") == "PENDING":
            expires = output.parse_time(req.get("expires"))
            if expires and output.now_utc() > expires + EXPIRY_GRACE:
                break  # no worker has marked it yet, but no review can land any more
            progress(req)
            ctx.sleep(ctx.poll_interval)
            try:
                req = fetch(ctx, str(rid))
                failures = 0
            except CliError as exc:
                # A dropped connection or a 502 during a deploy should not end a long wait.
                transient = isinstance(exc, NetworkError) or (
                    isinstance(exc, ServerError) and exc.status >= 500
                )
                failures += 1
                if not transient or failures > MAX_NETWORK_RETRIES:
                    follow = f"follow the request with: accessctl request show {rid} --wait"
                    exc.message = f"{exc.message.rstrip('.')}; stopped waiting"
                    exc.hint = f"{exc.hint}; then {follow}" if exc.hint else follow
                    raise
                problem = f"problem reaching the server, retrying: {exc.message}"
                if ctx.interactive:
                    spinner.update(problem)
                else:
                    print(problem, file=ctx.stderr, flush=True)
                continue
            report(req)
    except KeyboardInterrupt:
        spinner.clear()
        print(
            f"\nStopped waiting. Request {rid} is still in place; follow it with:\n"
            f"  accessctl request show {rid}",
            file=ctx.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        spinner.clear()
    return _final(ctx, req)
