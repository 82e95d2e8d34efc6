"""Shell completion scripts for bash, zsh and fish, generated from the argparse tree.

One walk of the parser (`tree`) gives, for each command path (`""`, `"request"`,
`"request create"`), the words that may follow: subcommands, options, and the values of
options and positionals that have choices. Each shell gets the same table in its own
syntax: a script finds the command path typed so far (the words that are subcommands,
skipping options and their values) and offers what follows it. Nothing is asked of the
server, so completion works offline and before `accessctl login`.

Why not a library: shtab (the maintained generator for argparse) writes bash, zsh and
tcsh but not fish, so fish would need this walk anyway; the three renderers are small.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Option:
    flags: list[str]
    help: str
    takes_value: bool
    choices: list[str]


@dataclass
class Node:
    path: str
    # (name, help, path it leads to): aliases too, leading to their command's path
    commands: list[tuple[str, str, str]] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # choices of a positional (SHELL)


def _help(action: argparse.Action) -> str:
    text = action.help if isinstance(action.help, str) else ""
    return " ".join(text.split()).replace("%(default)s", str(action.default))


def tree(parser: argparse.ArgumentParser, path: str = "") -> list[Node]:
    """Every command path of `parser`, depth first, with what may be typed after it."""
    node = Node(path)
    nodes = [node]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: _help(a) for a in action._choices_actions}
            seen: dict[int, str] = {}
            for name, sub in action.choices.items():
                primary = seen.setdefault(id(sub), name)
                target = f"{path} {primary}".strip()
                node.commands.append((name, helps.get(primary, ""), target))
                if primary == name:  # an alias completes, but its subtree is the same
                    nodes += tree(sub, target)
        elif action.option_strings:
            if action.help == argparse.SUPPRESS:
                continue
            node.options.append(
                Option(
                    flags=list(action.option_strings),
                    help=_help(action),
                    takes_value=action.nargs != 0,
                    choices=[str(c) for c in action.choices or []],
                )
            )
        elif action.choices:
            node.values += [str(c) for c in action.choices]
    return nodes


def _transitions(nodes: list[Node]) -> list[tuple[str, str, str]]:
    """(path so far, word, new path) for every subcommand word; an alias leads to the path
    of the command it stands for."""
    return [(node.path, name, target) for node in nodes for name, _, target in node.commands]


def _words(node: Node) -> list[str]:
    return [
        *node.values,
        *(name for name, _, _ in node.commands),
        *(flag for o in node.options for flag in o.flags),
    ]


def _value_options(nodes: list[Node]) -> list[tuple[str, str, list[str]]]:
    """(path, flag, choices) for every option that takes a value."""
    return [
        (node.path, flag, o.choices)
        for node in nodes
        for o in node.options
        if o.takes_value
        for flag in o.flags
    ]


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def bash(nodes: list[Node], prog: str) -> str:
    func = f"_{prog}_complete"
    lines = [
        f"# bash completion for {prog}: source it, e.g. from ~/.bashrc:",
        f"#   source <({prog} completion bash)",
        f"{func}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath="" w i words=""',
        '    (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        w="${COMP_WORDS[i]}"',
        '        case "$cmdpath|$w" in',
    ]
    for path, word, new in _transitions(nodes):
        lines.append(f"            {_sh_quote(f'{path}|{word}')}) cmdpath={_sh_quote(new)} ;;")
    lines += ["        esac", "    done", '    case "$cmdpath|$prev" in']
    for path, flag, choices in _value_options(nodes):
        action = (
            f'COMPREPLY=($(compgen -W {_sh_quote(" ".join(choices))} -- "$cur")); return 0'
            if choices
            else "COMPREPLY=(); return 0"
        )
        lines.append(f"        {_sh_quote(f'{path}|{flag}')}) {action} ;;")
    lines += ["    esac", '    case "$cmdpath" in']
    for node in nodes:
        lines.append(
            f"        {_sh_quote(node.path)}) words={_sh_quote(' '.join(_words(node)))} ;;"
        )
    lines += [
        "    esac",
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
        f"complete -F {func} {prog}",
        "",
    ]
    return "\n".join(lines)


def zsh(nodes: list[Node], prog: str) -> str:
    func = f"_{prog}"
    lines = [
        f"#compdef {prog}",
        f"# zsh completion for {prog}: source it after compinit, e.g. from ~/.zshrc:",
        f"#   source <({prog} completion zsh)",
        f"# or save it as {func} in a directory of $fpath.",
        f"{func}() {{",
        '    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}" cmdpath="" w i',
        "    local -a cands",
        "    for ((i = 2; i < CURRENT; i++)); do",
        '        w="${words[i]}"',
        '        case "$cmdpath|$w" in',
    ]
    for path, word, new in _transitions(nodes):
        lines.append(f"            ({_sh_quote(f'{path}|{word}')}) cmdpath={_sh_quote(new)} ;;")
    lines += ["        esac", "    done", '    case "$cmdpath|$prev" in']
    for path, flag, choices in _value_options(nodes):
        values = " ".join(_sh_quote(c) for c in choices)
        lines.append(f"        ({_sh_quote(f'{path}|{flag}')}) compadd -- {values}; return ;;")
    lines += ["    esac", '    case "$cmdpath" in']
    for node in nodes:
        words = " ".join(_sh_quote(w) for w in _words(node))
        lines.append(f"        ({_sh_quote(node.path)}) cands=({words}) ;;")
    lines += [
        "    esac",
        '    compadd -- "${cands[@]}"',
        "}",
        'if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then',
        f'    {func} "$@"',
        "elif (( $+functions[compdef] )); then",
        f"    compdef {func} {prog}",
        "fi",
        "",
    ]
    return "\n".join(lines)


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish(nodes: list[Node], prog: str) -> str:
    path_func, at_func = f"__{prog}_path", f"__{prog}_at"
    lines = [
        f"# fish completion for {prog}: save it as ~/.config/fish/completions/{prog}.fish:",
        f"#   {prog} completion fish > ~/.config/fish/completions/{prog}.fish",
        f"function {path_func} --description 'the {prog} command typed so far'",
        "    set -l cmdpath ''",
        "    for w in (commandline -opc)[2..-1]",
        '        switch "$cmdpath|$w"',
    ]
    for path, word, new in _transitions(nodes):
        lines += [
            f"            case {_fish_quote(f'{path}|{word}')}",
            f"                set cmdpath {_fish_quote(new)}",
        ]
    lines += [
        "        end",
        "    end",
        "    echo $cmdpath",
        "end",
        f"function {at_func}",
        f"    set -l cmdpath ({path_func})",
        '    test "$cmdpath" = "$argv[1]"',
        "end",
        f"complete -c {prog} -f",
    ]
    for node in nodes:
        cond = f"-n {_fish_quote(f'{at_func} {_fish_quote(node.path)}')}"
        for value in node.values:
            lines.append(f"complete -c {prog} {cond} -a {_fish_quote(value)}")
        for name, help_text, _ in node.commands:
            lines.append(
                f"complete -c {prog} {cond} -a {_fish_quote(name)} -d {_fish_quote(help_text)}"
            )
        for option in node.options:
            parts = [f"complete -c {prog} {cond}"]
            for flag in option.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if option.choices:
                parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
            elif option.takes_value:
                parts.append("-r")
            parts.append(f"-d {_fish_quote(option.help)}")
            lines.append(" ".join(parts))
    lines.append("")
    return "\n".join(lines)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    nodes = tree(parser)
    prog = parser.prog
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](nodes, prog)
