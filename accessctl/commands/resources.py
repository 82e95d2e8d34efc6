"""`accessctl resources search`: the resources you may request."""

from __future__ import annotations

from accessctl import output
from accessctl.commands import args as types
from accessctl.commands import flags
from accessctl.commands.context import HELP_FORMAT, Context

SEARCH_HELP = """\
List the resources you may request (through your search-as roles), optionally
filtered by kind, labels and a text query on their names.

examples:
  accessctl resources search
  accessctl resources search --kind node --label env=prod db
  accessctl resources search --label team=pay --json"""


def register(sub, common) -> None:
    group = sub.add_parser(
        "resources",
        help="find resources you may request",
        description="Find resources you may request.\n\n" + SEARCH_HELP.split("\n\n", 1)[1],
        formatter_class=HELP_FORMAT,
    )
    rsub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = rsub.add_parser(
        "search",
        aliases=["ls"],
        parents=[common],
        help="search resources by kind, label and name",
        description=SEARCH_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("--kind", metavar="KIND", help="only this kind, e.g. node, db")
    p.add_argument(
        "--label",
        dest="labels",
        type=types.label,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only resources with this label (repeatable; all must match)",
    )
    p.add_argument("query", nargs="?", default="", metavar="QUERY", help="text in the name")
    p.set_defaults(func=search, parser=p)


def resource_id(item: dict) -> str:
    if item.get("id") and "/" in str(item["id"]):
        return str(item["id"])
    return f"{item.get('kind', '')}/{item.get('name', '')}"


def labels_text(labels: object) -> str:
    if isinstance(labels, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return str(labels or "")


def search(ctx: Context, args) -> int:
    params: list[tuple[str, object]] = [("kind", args.kind), ("search", args.query)]
    params += [("label", label) for label in args.labels]
    with flags.named_flags(flags.RESOURCES):
        rows = ctx.client.get_list("resources/", params)
    if ctx.json:
        ctx.dump(rows)
        return 0
    if not rows:
        ctx.print("No resources you may request match.")
        return 0
    table = [
        [
            resource_id(r),
            output.truncate(labels_text(r.get("labels")), 50),
            output.truncate(r.get("description") or "", 50),
        ]
        for r in rows
        if isinstance(r, dict)
    ]
    ctx.print(output.table(["RESOURCE", "LABELS", "DESCRIPTION"], table, ctx.style))
    return 0
