"""What a table refresh sends: the whole table when its rows change, else only the cells whose
value changed since the page last got them (a pure function: data in, decision out).

A page holds what it was sent as ``{"ids": [row ids], "cells": {"row|column": digest}}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plotly.utils import PlotlyJSONEncoder


def digest(value: Any) -> str:
    """A short fingerprint of a cell's value (Dash components included)."""
    return hashlib.sha256(json.dumps(value, cls=PlotlyJSONEncoder).encode()).hexdigest()[:16]


def cell_key(row: str, column: str) -> str:
    return f"{row}|{column}"


@dataclass(frozen=True)
class Refresh:
    """The decision for one refresh."""

    rebuild: bool  # rows came or went: send the whole table
    send: tuple[bool, ...]  # per asked cell (when not rebuilding): send its new value
    shown: dict[str, Any]  # what the page holds afterwards
    unchanged: bool  # nothing at all changed (the page's record need not be sent either)


def plan_refresh(shown: Mapping[str, Any] | None, ids: Sequence[str],
                 cells: Mapping[str, Any], asked: Sequence[str]) -> Refresh:
    """Compare the page's record ``shown`` with the rows ``ids`` and their ``cells``
    (``{"row|column": value}``); ``asked`` are the cell keys on the page, in its order."""
    now = {"ids": list(ids), "cells": {k: digest(v) for k, v in cells.items()}}
    if not shown or list(shown.get("ids", [])) != list(ids):
        return Refresh(True, (False,) * len(asked), now, False)
    before = shown.get("cells", {})
    send = tuple(k in now["cells"] and before.get(k) != now["cells"][k] for k in asked)
    return Refresh(False, send, now, before == now["cells"])
