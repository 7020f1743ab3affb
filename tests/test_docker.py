"""docker/: every kd-automl command in the compose file and the Dockerfile is a real one.

Each command goes through the real entry point with the commands' bodies stubbed out (so
its arguments are parsed exactly as in the container, and nothing runs), and its
subcommand words are run with ``--help`` (exit 0): a renamed subcommand or option fails
here rather than in a container on a GPU server.
"""

import functools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from kd_automl.cli import app, main

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


def help_path(argv: list[str]) -> list[str]:
    """The leading subcommand words of argv (``optuna``, ``worker``, ...), before any
    option or value (a spec path, a URL, a number)."""
    words = []
    for arg in argv[1:]:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", arg):
            break
        words.append(arg)
    return words


def commands_of(typer_app):
    yield from typer_app.registered_commands
    for group in typer_app.registered_groups:
        yield from commands_of(group.typer_instance)


def parse_only(monkeypatch, argv: list[str]) -> tuple[int, list[str]]:
    """Run argv through the real entry point with every command's body stubbed out, so
    the arguments are parsed (argv rewriting, types, required and unknown options) and
    nothing runs; return the exit code and the functions reached."""
    reached = []
    for info in commands_of(app):
        def stub(*_a, _name=info.callback.__name__, **_kw):
            reached.append(_name)
        monkeypatch.setattr(info, "callback", functools.wraps(info.callback)(stub))
    with pytest.raises(SystemExit) as exit_info:
        main(argv[1:])
    return exit_info.value.code or 0, reached


COMMANDS = {**compose_commands(), **({"Dockerfile": dockerfile_command()}
                                     if dockerfile_command() else {})}


def test_compose_runs_workers_and_the_dashboard():
    paths = {name: help_path(argv) for name, argv in COMMANDS.items()}
    assert any(p[:1] == ["optuna"] for n, p in paths.items() if n.startswith("worker"))
    assert paths.get("dashboard") == ["dashboard"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_parses(monkeypatch, capsys, name):
    argv = COMMANDS[name]
    code, reached = parse_only(monkeypatch, argv)
    err = capsys.readouterr().err
    assert code == 0, f"{name}: kd-automl rejects {shlex.join(argv[1:])}:\n{err}"
    if argv[1:] != ["--help"]:
        assert len(reached) == 1, f"{name}: {shlex.join(argv)} ran no command"
        if name.startswith("worker"):
            assert "optuna" in reached[0], reached
    for arg in argv[1:]:  # a spec the image ships (search_spaces/...) is in the repository
        if arg.endswith((".yaml", ".yml", ".json")) and not arg.startswith("/"):
            assert (ROOT / arg).is_file(), f"{name}: {arg} is not in the repository"


@pytest.mark.parametrize("path", sorted({tuple(help_path(a)) for a in COMMANDS.values()}))
def test_command_help_exits_0(path):
    proc = subprocess.run([sys.executable, "-m", "kd_automl", *path, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_every_published_port_but_the_databases_is_on_localhost_only():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = {name: [interpolate(str(p)) for p in svc.get("ports", [])]
                 for name, svc in services.items()}
    assert published["nni"] == ["127.0.0.1:8080:8080"]  # NNI's web UI
    assert "--host" in COMMANDS["nni"] and COMMANDS["nni"][COMMANDS["nni"].index("--port") + 1] \
        == "8080"  # the container's listener is the published one
    for name, ports in published.items():  # the db's LAN address is opt-in, 127.0.0.1 default
        assert all(p.startswith("127.0.0.1:") for p in ports), (name, ports)


def test_dashboard_is_published_on_localhost_only_and_has_its_token():
    dashboard = yaml.safe_load(COMPOSE.read_text())["services"]["dashboard"]
    assert dashboard["ports"] and all(
        str(p).startswith("127.0.0.1:") for p in dashboard["ports"])
    params = {opt: p for p in typer.main.get_command(app).commands["dashboard"].params
              for opt in p.opts}
    if "--token" in params:  # the dashboard can ask for a token: the compose file gives one
        env = params["--token"].envvar
        assert "--token" in COMMANDS["dashboard"] or (
            f"{env}_FILE" in dashboard["environment"]
            and f'{env}="$(cat "${env}_FILE")"' in (ROOT / "docker" / "entrypoint.sh").read_text())


def test_gpu_services_started_together_each_reserve_their_own_gpu():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    by_profile = {}
    for name, svc in services.items():
        for dev in svc.get("deploy", {}).get("resources", {}).get("reservations", {}).get(
                "devices", []):
            assert "count" not in dev, f"{name}: replicas of `count` GPUs all get the same"
            for profile in svc.get("profiles", [None]):
                by_profile.setdefault(profile, []).extend(dev["device_ids"])
    default = by_profile.get(None, [])
    assert len(default) > 1 and len(set(default)) == len(default), by_profile
