"""`accessctl reviews ls|keep|remove|report`: access reviews of standing roles."""

from __future__ import annotations

from accessctl import output
from accessctl.commands import flags
from accessctl.commands.context import HELP_FORMAT, Context, not_found_as
from accessctl.errors import ServerError

HELP = """\
Access reviews: keep or remove standing role memberships waiting for your decision
(a reason is required; nobody decides their own), and download a run's report
(auditors).

examples:
  accessctl reviews ls
  accessctl reviews keep 12 --reason "still on call"
  accessctl reviews remove 13 --reason "left the team"
  accessctl reviews report 4 --csv > review-4.csv
  accessctl reviews report 4 --pdf --file review-4.pdf"""

DECISION = {"reason": "--reason"}


def register(sub, common) -> None:
    group = sub.add_parser(
        "reviews",
        help="access reviews of standing roles",
        description=HELP,
        formatter_class=HELP_FORMAT,
    )
    rsub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = rsub.add_parser("ls", parents=[common], help="items waiting for your decision")
    p.add_argument("--all", action="store_true", help="every item you may see, decided too")
    p.set_defaults(func=ls, parser=p)
    for name, verb in (("keep", "keep"), ("remove", "remove")):
        p = rsub.add_parser(name, parents=[common], help=f"{verb} a membership (reason required)")
        p.add_argument("item", type=int, metavar="ITEM", help="the item id (reviews ls)")
        p.add_argument("--reason", required=True, help="why")
        p.set_defaults(func=decide, parser=p, decision=name)
    p = rsub.add_parser("report", parents=[common], help="a run's report (auditors)")
    p.add_argument("run", type=int, metavar="RUN", help="the run id")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="as CSV")
    fmt.add_argument("--pdf", action="store_true", help="as PDF (needs --file)")
    p.add_argument("--file", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=report, parser=p)


def ls(ctx: Context, args) -> int:
    rows = ctx.client.get_list("access-reviews/items/", {"scope": "all" if args.all else ""})
    if ctx.json:
        ctx.dump(rows)
        return 0
    if not rows:
        ctx.print("Nothing waits for your review.")
        return 0
    table = [
        [
            str(r.get("id")),
            str(r.get("user", "")),
            str(r.get("role", "")),
            str(r.get("access_review", "")),
            output.short_when(r.get("deadline")),
            str(r.get("outcome") or "undecided"),
            ", ".join(r.get("returns_from") or []),
        ]
        for r in rows
        if isinstance(r, dict)
    ]
    headers = ["ITEM", "USER", "ROLE", "REVIEW", "DEADLINE", "OUTCOME", "IDP GIVES IT BACK"]
    ctx.print(output.table(headers, table, ctx.style))
    return 0


def decide(ctx: Context, args) -> int:
    try:
        with flags.named_flags(DECISION):
            item = ctx.client.post(
                f"access-reviews/items/{args.item}/{args.decision}/", {"reason": args.reason}
            )
    except ServerError as exc:
        raise not_found_as(exc, f"review item {args.item}") from None
    if ctx.json:
        ctx.dump(item)
        return 0
    ctx.print(f"{item['outcome']}: {item['user']} / {item['role']}")
    if item.get("note"):
        ctx.warn(item["note"])
    return 0


def report(ctx: Context, args) -> int:
    path = f"access-reviews/runs/{args.run}/report/"
    try:
        if args.csv or args.pdf:
            data = ctx.client.download(path, "text/csv" if args.csv else "application/pdf")
        else:
            rows = ctx.client.get(path)
    except ServerError as exc:
        raise not_found_as(exc, f"access review run {args.run}") from None
    if args.csv or args.pdf:
        if args.file:
            with open(args.file, "wb") as fh:
                fh.write(data)
        elif args.pdf:
            ctx.warn("a PDF goes to a file: give --file FILE")
            return 2
        else:
            ctx.print(data.decode("utf-8").rstrip("\n"))
        return 0
    if ctx.json:
        ctx.dump(rows)
        return 0
    table = [
        [
            r["user"],
            r["role"],
            r["decision"],
            r["outcome"],
            r["decided_by"],
            output.short_when(r["decided_at"]) if r["decided_at"] else "",
            output.truncate(r["reason"], 40),
        ]
        for r in rows
    ]
    ctx.print(
        output.table(
            ["USER", "ROLE", "DECISION", "OUTCOME", "BY", "WHEN", "REASON"], table, ctx.style
        )
    )
    return 0
