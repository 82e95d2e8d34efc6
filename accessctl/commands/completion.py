"""`accessctl completion SHELL`: print a completion script for bash, zsh or fish."""

from __future__ import annotations

from accessctl import completion
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_OK

HELP = """\
Print a shell completion script for accessctl's commands, options and their values
(it asks nothing of the server). --output json prints {"shell": ..., "script": ...}.

examples:
  accessctl completion fish > ~/.config/fish/completions/accessctl.fish
  source <(accessctl completion bash)                  # in ~/.bashrc
  source <(accessctl completion zsh)                   # in ~/.zshrc, after compinit"""


def register(sub, common) -> None:
    p = sub.add_parser(
        "completion",
        parents=[common],
        help="print a shell completion script (bash, zsh, fish)",
        description=HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("shell", metavar="SHELL", choices=completion.SHELLS, help="bash, zsh or fish")
    p.set_defaults(func=run, parser=p)


def run(ctx: Context, args) -> int:
    root = args.root_parser
    text = completion.script(root, args.shell)
    if ctx.json:
        ctx.dump({"shell": args.shell, "script": text})
    else:
        ctx.stdout.write(text)
    return EXIT_OK
