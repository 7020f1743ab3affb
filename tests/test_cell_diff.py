"""The runs panel's refresh decision (``dashboard.cell_diff``): the table is rebuilt only when
its rows change, otherwise only cells whose value changed are sent."""

from kd_automl.dashboard.cell_diff import digest, plan_refresh

CELLS = {"a|state": "running", "a|done": "1/4", "b|state": "running", "b|done": "0/4"}
ASKED = list(CELLS)


def test_the_first_refresh_builds_the_table_and_records_what_it_sent():
    plan = plan_refresh(None, ["a", "b"], CELLS, [])
    assert plan.rebuild and not plan.unchanged
    assert plan.shown == {"ids": ["a", "b"], "cells": {k: digest(v) for k, v in CELLS.items()}}


def test_only_the_changed_cell_is_sent():
    shown = plan_refresh(None, ["a", "b"], CELLS, []).shown
    now = {**CELLS, "b|done": "1/4"}
    plan = plan_refresh(shown, ["a", "b"], now, ASKED)
    assert not plan.rebuild and not plan.unchanged
    assert plan.send == (False, False, False, True)
    assert plan.shown["cells"]["b|done"] == digest("1/4")
    again = plan_refresh(plan.shown, ["a", "b"], now, ASKED)  # the page now holds it
    assert again.unchanged and not any(again.send)


def test_rows_that_come_go_or_reorder_rebuild_the_table():
    shown = plan_refresh(None, ["a", "b"], CELLS, []).shown
    assert plan_refresh(shown, ["c", "a", "b"], CELLS, ASKED).rebuild
    assert plan_refresh(shown, ["a"], CELLS, ASKED).rebuild
    assert plan_refresh(shown, ["b", "a"], CELLS, ASKED).rebuild


def test_a_cell_the_page_has_but_the_rows_lack_is_not_sent():
    shown = plan_refresh(None, ["a", "b"], CELLS, []).shown
    plan = plan_refresh(shown, ["a", "b"], CELLS, [*ASKED, "a|gone"])
    assert plan.send == (False, False, False, False, False) and plan.unchanged


def test_components_and_dicts_digest_by_value():
    from dash import html

    assert digest(html.A("log", href="/x")) == digest(html.A("log", href="/x"))
    assert digest(html.A("log", href="/x")) != digest(html.A("log", href="/y"))
    assert digest({"display": "none"}) != digest({})
