"""docker/: every kd-automl command in the compose file and the Dockerfile is a real one.

Each command's subcommand path is found in the CLI's own command tree, run with ``--help``
(exit 0), and its arguments are parsed by that command without running it, so a renamed
subcommand or option fails here rather than in a container on a GPU server.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from kd_automl.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose's ${VAR:-default} with every variable unset: the default (else 'x')."""
    def default(m):
        return m.group(3) if m.group(2) in (":-", "-") else "x"
    return _VAR.sub(default, text.replace("$$", "\0")).replace("\0", "$")


def as_argv(command) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return [interpolate(a) for a in argv]


def compose_commands() -> dict[str, list[str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: as_argv(svc["command"]) for name, svc in services.items()
            if svc.get("command") and as_argv(svc["command"])[0] == "kd-automl"}


def dockerfile_command() -> list[str]:
    """ENTRYPOINT + CMD (exec form) from the first kd-automl token on, or [] if none."""
    parts = {"ENTRYPOINT": [], "CMD": []}
    for line in DOCKERFILE.read_text().splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() in parts:
            parts[word.upper()] = json.loads(rest)  # exec form: hadolint wants it (DL3025)
    argv = parts["ENTRYPOINT"] + parts["CMD"]
    return argv[argv.index("kd-automl"):] if "kd-automl" in argv else []


def split_path(argv: list[str]) -> tuple[list[str], object, list[str]]:
    """kd-automl's subcommand path in argv, the command it names, and its arguments."""
    cmd = typer.main.get_command(app)
    path, rest = [], argv[1:]
    while rest and rest[0] in (getattr(cmd, "commands", None) or {}):  # a group's children
        cmd = cmd.commands[rest[0]]
        path.append(rest.pop(0))
    return path, cmd, rest


COMMANDS = {**compose_commands(), **({"Dockerfile": dockerfile_command()}
                                     if dockerfile_command() else {})}


def test_compose_runs_workers_and_the_dashboard():
    paths = {name: split_path(argv)[0] for name, argv in COMMANDS.items()}
    assert any(p and p[0] == "optuna" for n, p in paths.items() if n.startswith("worker"))
    assert paths.get("dashboard") == ["dashboard"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_parses(name):
    path, cmd, args = split_path(COMMANDS[name])
    if args in ([], ["--help"]):  # e.g. the image's default CMD, kd-automl --help
        return
    assert path, f"{name}: {COMMANDS[name]} names no kd-automl subcommand"
    try:
        cmd.make_context(" ".join(["kd-automl", *path]), list(args), resilient_parsing=False)
    except Exception as err:  # typer's (vendored) click: UsageError, BadParameter, ...
        why = err.format_message() if hasattr(err, "format_message") else repr(err)
        pytest.fail(f"{name}: kd-automl {shlex.join(path)} rejects {args}: {why}")
    for arg in args:  # a spec the image ships (search_spaces/...) must exist in the repository
        if arg.endswith((".yaml", ".yml", ".json")) and not arg.startswith("/"):
            assert (ROOT / arg).is_file(), f"{name}: {arg} is not in the repository"


@pytest.mark.parametrize("path", sorted({tuple(split_path(a)[0]) for a in COMMANDS.values()}))
def test_command_help_exits_0(path):
    proc = subprocess.run([sys.executable, "-m", "kd_automl", *path, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_dashboard_is_published_on_localhost_only():
    dashboard = yaml.safe_load(COMPOSE.read_text())["services"]["dashboard"]
    assert dashboard["ports"] and all(
        str(p).startswith("127.0.0.1:") for p in dashboard["ports"])


def test_workers_each_reserve_their_own_gpu():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    gpus = [tuple(dev["device_ids"]) for name, svc in services.items()
            if name.startswith("worker")
            for dev in svc["deploy"]["resources"]["reservations"]["devices"]]
    assert gpus and len(set(gpus)) == len(gpus)
