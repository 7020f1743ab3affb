"""The generated reference pages (docs/hooks/) cover the code: every command of the typer app
with every option, every field of the spec's models; and the generators refuse to build a
page that has drifted (a command without help, a spec field without its meaning)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel
from test_docker import parse_only
from typer._click import Context
from typer.main import get_command

from kd_automl.cli.app import app
from kd_automl.spec import ExperimentSpec

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "docs" / "hooks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cli_reference = _load("cli_reference")
spec_schema = _load("spec_schema")


def _leaf_commands(group, words=()):
    """(words as typed, command) of every command below ``group``, hidden ones included."""
    ctx = Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        typed = (*words, *("optuna worker" if name == "optuna-worker" else name).split())
        yield typed, cmd
        if hasattr(cmd, "list_commands"):
            yield from _leaf_commands(cmd, typed)


def _sections(markdown: str) -> dict[str, str]:
    """The page's ``## heading`` sections by heading text (anchors dropped)."""
    parts = re.split(r"^## (.+?)(?: \{#[^}]*\})?$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_cli_page_has_every_command_with_every_option():
    sections = _sections(cli_reference.cli_markdown())
    commands = list(_leaf_commands(get_command(app)))
    assert {"optuna worker", "nni start", "cluster status", "export"} <= {
        " ".join(w) for w, _ in commands}
    for words, cmd in commands:
        title = " ".join(("kd-automl", *words))
        assert title in sections, f"no section for {title}"
        body = sections[title]
        for param in cmd.params:
            if getattr(param, "hidden", False):
                continue
            names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
            shown = (names if param.param_type_name == "option" else [param.name.upper()])
            for name in shown:
                assert f"`{name}`" in body, f"{title}: {name} missing"
    assert len(sections) == len(commands)


def test_cli_page_shows_defaults_choices_and_help():
    body = _sections(cli_reference.cli_markdown())["kd-automl optuna"]
    row = next(line for line in body.splitlines() if line.startswith("| `--trials`"))
    assert "`-n`" in row and "`16`" in row and "Trials to run" in row
    fresh = next(line for line in body.splitlines() if line.startswith("| `--fresh`"))
    assert "`--no-fresh`" in fresh and "flag" in fresh


def test_cli_page_refuses_a_command_without_help():
    bare = typer.Typer()

    @bare.command()
    def first() -> None:
        """Has help."""

    @bare.command()
    def second() -> None:
        pass

    with pytest.raises(ValueError, match="kd-automl second has no help text"):
        cli_reference.cli_markdown(bare)


def _spec_models(model, seen=None):
    seen = {} if seen is None else seen
    seen.setdefault(model, None)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            a = stack.pop()
            if isinstance(a, type) and issubclass(a, BaseModel):
                if a not in seen:
                    _spec_models(a, seen)
            else:
                stack.extend(getattr(a, "__args__", ()))
    return list(seen)


def test_schema_page_names_every_field_of_every_model():
    markdown = spec_schema.schema_markdown()
    sections = list(_sections(markdown).values())
    models = _spec_models(ExperimentSpec)
    assert {m.__name__ for m in models} >= {"TrainSpec", "PrunerSpec", "ArtifactsSpec"}
    for model in models:
        anchor = f"{{#{model.__name__.lower()}}}"
        assert anchor in markdown, f"no section for {model.__name__}"
        body = next(s for s, h in zip(sections, re.findall(r"^## .*$", markdown, flags=re.M),
                                      strict=True) if anchor in h)
        for name in model.model_fields:
            assert f"| `{name}` |" in body, f"{model.__name__}.{name} missing"
    train = _sections(markdown)["`train`, `teacher_train`: train"]
    assert "| `lr` | float | `0.05` | > 0 |" in train


def test_schema_page_refuses_a_field_without_meaning_and_a_stale_one(monkeypatch):
    meanings = dict(spec_schema.MEANING)
    del meanings["TrainSpec.lr"]
    meanings["TrainSpec.learning_rate"] = "gone"
    monkeypatch.setattr(spec_schema, "MEANING", meanings)
    with pytest.raises(ValueError, match=r"no meaning for TrainSpec\.lr.*"
                                         r"TrainSpec\.learning_rate is no field"):
        spec_schema.schema_markdown()


def _documented_commands() -> list[tuple[str, str]]:
    """(file, command) for every ``kd-automl ...`` line in the README's and the docs' shell
    blocks (continuations joined, comments dropped; the pages other helpers own left out)."""
    pages = [ROOT / "README.md", *(p for p in (ROOT / "docs").rglob("*.md")
                                   if p.name not in ("methods.md", "ray.md"))]
    out = []
    for page in pages:
        for block in re.findall(r"```(?:bash|console)\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").split("\n"):
                m = re.search(r"(?:^|&& |\$\()(?:uv run )?(kd-automl .*)",
                              line.strip().removeprefix("$ "))
                if m:
                    command = re.sub(r"\s+#.*$", "", m.group(1)).split(" && ")[0]
                    out.append((page.relative_to(ROOT).as_posix(), command.rstrip(")")))
    return out


PLACEHOLDERS = {"$DB": "postgresql+psycopg://kd@dbhost/kd", "$JOB": "123", "ID": "abc123"}


def _argv(command: str) -> list[str]:
    command = re.sub(r"\[(--[^]]+)\]", r"\1", command)  # [--optional flags] as given
    return [PLACEHOLDERS.get(w, w) for w in command.split()]


DOCUMENTED = _documented_commands()


def test_the_docs_show_commands_of_every_kind():
    assert len(DOCUMENTED) > 50
    assert {c.split()[1] for _, c in DOCUMENTED} >= {"demo", "optuna", "confirm", "export",
                                                      "nni", "cluster", "dashboard"}


@pytest.mark.parametrize(("page", "command"), DOCUMENTED,
                         ids=[f"{p}:{c[:60]}" for p, c in DOCUMENTED])
def test_every_documented_command_parses(monkeypatch, capsys, page, command):
    code, reached = parse_only(monkeypatch, _argv(command))
    assert code == 0, f"{page}: {command}\n{capsys.readouterr().err}"
    assert len(reached) == 1 or command.endswith("--help")


@pytest.mark.slow
def test_site_builds_strict_and_loads_nothing_from_outside(tmp_path):
    """``mkdocs build --strict`` passes, and no page loads a script, a style sheet or a font
    from the network (the site is read offline, from file://)."""
    root = HOOKS.parent.parent
    site = tmp_path / "site"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(site)], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    pages = list(site.rglob("*.html"))
    assert {"reference/cli.html", "reference/spec.html", "reference/python.html",
            "methods.html"} <= {p.relative_to(site).as_posix() for p in pages}
    remote = re.compile(r"<(?:script|img)[^>]+src=\"https?://|<link[^>]+href=\"https?://"
                        r"|fonts\.googleapis|url\(https?://")
    loads = {p.name for p in pages if remote.search(p.read_text())}
    assert loads == set()
    assert "kd-automl optuna worker" in (site / "reference" / "cli.html").read_text()
