"""Checking a spec given as text: the messages ``kd-automl check`` prints, each placed on the
line of the field it names, and the searched fields with their ranges.

>>> result = check_text("name: x\\nstudent: {arch: mlp}\\ntrain: {epochs: 0}\\n")
>>> [(p.field, p.line) for p in result.problems]
[('train.epochs', 2)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kd_automl.errors import KDAutoMLError
from kd_automl.spec import ExperimentSpec, parse_spec

_PATH = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[\w-]+)*)(?=:|\s+can sample)")


@dataclass(frozen=True)
class Problem:
    """One message of ``kd-automl check``; ``field`` is the dotted path it names (None: the
    spec as a whole), ``line`` its 0-based line in the text (None: no line)."""

    message: str
    field: str | None = None
    line: int | None = None


@dataclass
class SpecCheck:
    """The outcome: the valid spec, or the problems; the ``search`` entries either way."""

    spec: ExperimentSpec | None
    problems: list[Problem] = field(default_factory=list)
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.spec is not None


def check_text(text: str, source: str = "pasted spec") -> SpecCheck:
    """Validate ``text`` (YAML or JSON) exactly as ``kd-automl check`` validates a file."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        return SpecCheck(None, [Problem(f"{source}: not valid YAML: {err}", None,
                                        mark.line if mark else None)])
    search = data.get("search") if isinstance(data, dict) else None
    search = search if isinstance(search, dict) else {}
    try:
        return SpecCheck(parse_spec(data, source), [], search)
    except KDAutoMLError as err:
        return SpecCheck(None, _problems(str(err), source, root), search)


def search_ranges(search: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, type, range)`` for each searched field, as written in the spec."""
    rows = []
    for key, entry in search.items():
        if isinstance(entry, dict):
            rows.append((str(key), str(entry.get("_type", "?")), _range(entry.get("_value"))))
        else:
            rows.append((str(key), "?", _range(entry)))
    return rows


def _range(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return " | ".join(str(v.get("_name", v)) for v in value)  # a nested choice
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _problems(message: str, source: str, root: yaml.Node | None) -> list[Problem]:
    """Split a check message into one problem per field line (pydantic lists several)."""
    head, *rest = message.split("\n")
    lines = [f"{head}\n  {r.strip()}" for r in rest] if rest else [head]
    in_search = head.startswith(f"{source} (search)")
    out = []
    for text in lines:
        body = text.removeprefix(source).lstrip(" :").removeprefix("(search):").strip()
        if rest:
            body = text.removeprefix(head).strip()  # the field's own line
        searched = in_search or body.startswith("(search) ")  # the search's default point
        path, line = _locate(body.removeprefix("(search) "), root, searched)
        out.append(Problem(text, path, line))
    return out


def _locate(body: str, root: yaml.Node | None, in_search: bool) -> tuple[str | None, int | None]:
    """The most specific dotted path named in ``body`` that the text has, and its line."""
    best: tuple[str | None, int | None, int] = (None, None, -1)
    for path in _PATH.findall(body):
        candidates = [f"search.{path}", path] if in_search else [path]
        for p in candidates:
            found = _find(root, p)
            if found and found[1] > best[2]:
                best = (p, found[0], found[1])
    if best[0] is None:
        return None, 0 if root is not None else None
    return best[0], best[1]


def _find(root: yaml.Node | None, path: str) -> tuple[int, int] | None:
    """Line of the deepest key of ``path`` present in the text, and how many parts it
    matched; keys may hold dots (search keys), so the longest matching key wins."""
    parts, node, line, depth = path.split("."), root, None, 0
    while parts and isinstance(node, yaml.MappingNode):
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            hit = next(((k, v) for k, v in node.value
                        if isinstance(k, yaml.ScalarNode) and k.value == key), None)
            if hit:
                line, node, parts, depth = hit[0].start_mark.line, hit[1], parts[n:], depth + n
                break
        else:
            break
    return (line, depth) if line is not None else None
