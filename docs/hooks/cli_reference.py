"""The CLI reference page, generated from the typer app's command tree (so it cannot drift).

``cli_markdown()`` walks every command of ``kd_automl.cli.app`` (groups, subcommands and the
hidden ``optuna-worker``, shown as typed: ``kd-automl optuna worker``) and writes its usage,
help and a table of its arguments and options with their defaults.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from typer._click import Context
from typer.core import TyperArgument, TyperGroup
from typer.main import get_command

PROG = "kd-automl"
TYPED_AS = {"optuna-worker": "optuna worker"}  # commands typed under another name


@dataclass(frozen=True)
class CommandDoc:
    """One leaf or group command: its words after ``kd-automl``, and typer's command."""

    words: tuple[str, ...]
    command: object
    is_group: bool

    @property
    def name(self) -> str:
        return " ".join((PROG, *self.words))

    @property
    def anchor(self) -> str:
        return "-".join((PROG, *self.words)).replace("_", "-")


def commands(app=None) -> list[CommandDoc]:
    """Every command of the app, depth first, in the order ``--help`` lists them."""
    if app is None:
        from kd_automl.cli.app import app
    root = get_command(app)
    out: list[CommandDoc] = []

    def walk(group, words: tuple[str, ...]) -> None:
        ctx = Context(group, info_name=" ".join((PROG, *words)))
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            typed = tuple(TYPED_AS.get(name, name).split())
            is_group = isinstance(cmd, TyperGroup)
            out.append(CommandDoc((*words, *typed), cmd, is_group))
            if is_group:
                walk(cmd, (*words, *typed))

    walk(root, ())
    return out


def _cell(text: object) -> str:
    """Text for a Markdown table cell: one line, pipes and angle brackets escaped."""
    s = " ".join(str(text).split())
    return s.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _text(text: str) -> str:
    """A help text as Markdown paragraphs (click's ``\\b`` markers dropped)."""
    text = inspect.cleandoc(text).replace("\b\n", "").replace("\b", "")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _default(param) -> str:
    if param.required:
        return "required"
    default = param.default
    if callable(default) or default is None or (isinstance(default, (list, tuple))
                                                and not default):
        return ""
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return param.opts[0] if default else param.secondary_opts[0]
    if isinstance(default, bool) and getattr(param, "is_flag", False):
        return "on" if default else "off"
    return f"`{default}`"


def _flags(param) -> str:
    if isinstance(param, TyperArgument):
        return f"`{param.name.upper()}`"
    names = [*param.opts, *param.secondary_opts]
    return " / ".join(f"`{n}`" for n in names)


def _kind(param, ctx) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    kind = param.display_type(ctx).strip("<>")
    if getattr(param, "multiple", False):
        kind = kind.removeprefix("list[").removesuffix("]") + ", repeatable"
    return " | ".join(f"`{c}`" for c in kind.split("|")) if "|" in kind else kind


def command_markdown(doc: CommandDoc) -> str:
    cmd = doc.command
    ctx = Context(cmd, info_name=doc.name)
    lines = [f"## {doc.name} {{#{doc.anchor}}}", ""]
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    lines += ["```", f"{doc.name} {usage}".rstrip(), "```", ""]
    if not cmd.help:
        raise ValueError(f"{doc.name} has no help text: give the command a docstring")
    lines += [_text(cmd.help), ""]
    if doc.is_group:
        subs = cmd.list_commands(ctx)
        lines += ["Subcommands: " + ", ".join(
            f"[`{s}`](#{doc.anchor}-{s.replace('_', '-')})" for s in subs) + ".", ""]
    params = [p for p in cmd.params if not getattr(p, "hidden", False)]
    if params:
        lines += ["| argument / option | type | default | help |", "|---|---|---|---|"]
        for p in params:
            help_text = getattr(p, "help", None) or ""
            if getattr(p, "envvar", None):
                help_text += f" (env `{p.envvar}`)"
            lines.append(f"| {_flags(p)} | {_cell(_kind(p, ctx))} | {_cell(_default(p))} | "
                         f"{_cell(help_text)} |")
        lines.append("")
    return "\n".join(lines)


def cli_markdown(app=None) -> str:
    """The whole reference page."""
    docs = commands(app)
    head = [
        "# CLI reference",
        "",
        "Generated from the `kd-automl` typer app when the docs are built, so it lists every "
        "command and option as `kd-automl COMMAND --help` does. Every command also takes "
        "`--help`.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for d in docs:
        first = _text(d.command.help or "").split("\n\n")[0]
        head.append(f"| [`{d.name}`](#{d.anchor}) | {_cell(first)} |")
    return "\n".join(head + [""] + [command_markdown(d) for d in docs])
