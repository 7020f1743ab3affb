"""The dashboard: read-only opening, clear errors, and a real headless-browser session on a
database filled by a real small Optuna search plus an NNI experiment."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest
from helpers.browser import ARTIFACTS
from helpers.browser import rows as _rows
from helpers.browser import wait as _wait
from helpers.stores import fill, real_search, result
from sqlalchemy import text

from kd_automl.dashboard import DashboardServer
from kd_automl.errors import KDAutoMLError
from kd_automl.store import Store


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_missing_database_or_tables_is_a_clear_error_and_nothing_is_created(tmp_path):
    with pytest.raises(KDAutoMLError, match="no database at"):
        DashboardServer(f"sqlite:///{tmp_path / 'none.db'}", port=0)
    assert not (tmp_path / "none.db").exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(KDAutoMLError, match="no kd-automl tables"):
        DashboardServer(f"sqlite:///{other}", port=0)
    assert _tables(other) == {"notes"}  # no migration ran


def test_port_in_use_and_read_only_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(url)
    fill(store, 2)
    store.dispose()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(KDAutoMLError, match=f"127.0.0.1:{port}.*--port"):
            DashboardServer(url, port=port)
    server = DashboardServer(url, port=0)
    try:
        with server.store.session() as s, pytest.raises(Exception, match="readonly"):
            assert s.execute(text("SELECT count(*) FROM kd_trials")).scalar() == 3
            s.execute(text("DELETE FROM kd_trials"))  # reads work, writes do not
        assert len(server.store.trials()) == 3
    finally:
        server.shutdown()


def test_cli_dashboard_errors(tmp_path, capsys):
    from kd_automl.cli import main

    with pytest.raises(SystemExit) as info:
        main(["dashboard", "--db", f"sqlite:///{tmp_path / 'missing.db'}"])
    assert info.value.code == 1 and "no database at" in capsys.readouterr().err


# -- the browser ---------------------------------------------------------------------------


def test_dashboard_in_a_real_browser(driver, tmp_path):
    from selenium.webdriver.common.by import By

    db = real_search(tmp_path)
    server = DashboardServer(db, port=0, refresh_s=1).start()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        driver.get(server.url)
        # both backends listed; 3 Optuna + 2 NNI completed trials on the leaderboard
        exps = _wait(lambda: len(_rows(driver, "#experiments")) == 2
                     and _rows(driver, "#experiments"), what="experiments")
        assert {r["backend"] for r in exps} == {"optuna", "nni"}
        rows = _wait(lambda: len(_rows(driver)) == 5 and _rows(driver), what="5 rows")
        assert {r["backend"] for r in rows} == {"optuna", "nni"}
        assert all(r["state"] == "complete" for r in rows)
        # a gain keeps its sign; the hyperparameters wrap instead of being cut
        assert all(r["gain"][:1] in "+-" for r in rows if r.get("gain")), rows
        cell = driver.find_element(By.CSS_SELECTOR, '#leaderboard .ag-center-cols-container '
                                                    '[col-id="hyperparameters"]')
        assert driver.execute_script("return arguments[0].scrollWidth <= "
                                     "arguments[0].clientWidth + 1", cell)

        # sorting by clicking a header: ascending, then descending
        header = driver.find_element(
            By.CSS_SELECTOR, '#leaderboard .ag-header-cell[col-id="test_acc"] '
                             '.ag-header-cell-label')

        def test_accs():
            return [float(r["test_acc"]) for r in _rows(driver)]

        header.click()
        _wait(lambda: test_accs() == sorted(test_accs()), what="ascending sort")
        header.click()
        _wait(lambda: test_accs() == sorted(test_accs(), reverse=True), what="descending")

        # open a trial: its hyperparameters, results (in %), curve and loss terms
        top = _rows(driver)[0]
        driver.find_element(By.CSS_SELECTOR, '#leaderboard .ag-center-cols-container '
                                             '.ag-row[row-index="0"] [col-id="trial"]').click()
        _wait(lambda: "trial" in driver.find_element(By.ID, "trial-title").text,
              what="trial panel")
        assert "method.temperature" in driver.find_element(By.ID, "trial-params").text
        results = driver.find_element(By.ID, "trial-results").text  # accuracies in %
        assert "student test acc %" in results and top["test_acc"] in results
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#trial-losses .main-svg"),
              what="loss-term figure")

        # failed trials on demand, with their error
        driver.find_element(By.CSS_SELECTOR, '#states input[value="failed"]').click()
        failed = _wait(lambda: [r for r in _rows(driver) if r.get("state") == "failed"],
                       what="failed row")
        assert failed[0]["backend"] == "nni"
        driver.find_element(
            By.CSS_SELECTOR, f'#leaderboard .ag-row[row-id="{_row_id(driver, "failed")}"] '
                             '[col-id="trial"]').click()
        err = _wait(lambda: driver.find_element(By.ID, "trial-error").text, what="error")
        assert "diverged" in err

        # figures for the selected experiments
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#fig-history .main-svg"),
              what="figures")
        # 3 + 2 completed trials: importance is not ranked, the page says why
        _wait(lambda: "too few trials to rank" in driver.find_element(By.ID, "figures").text,
              what="importance: too few trials")
        assert not driver.find_elements(By.CSS_SELECTOR, "#fig-importance")

        # a search still running: a new trial shows up without reloading the page
        store = Store(db)
        exp = store.experiments(["tiny-nni"])[0].id
        store.finish_trial(store.start_trial(exp, "nni-9", {"method.temperature": 3.0,
                                                            "method.alpha": 0.6}), result(0.99))
        store.dispose()
        _wait(lambda: any(r.get("trial") == "nni-9" for r in _rows(driver)), what="refresh")
        driver.set_window_size(1600, 3400)  # the whole page: tables, trial, figures
        time.sleep(1)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    except BaseException:
        driver.save_screenshot(str(ARTIFACTS / "dashboard-failure.png"))
        raise
    finally:
        server.shutdown()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def _row_id(drv, state: str) -> str:
    return drv.execute_script(
        "return [...document.querySelectorAll('#leaderboard .ag-center-cols-container .ag-row')]"
        ".find(r => r.querySelector('[col-id=state]').innerText.trim() === arguments[0])"
        ".getAttribute('row-id')", state)


_HEADERS_JS = r"""
return [...document.querySelectorAll(arguments[0] + ' .ag-header-cell[col-id]')]
    .map(h => {const t = h.querySelector('.ag-header-cell-text');
               const lines = t ? Math.round(t.getBoundingClientRect().height /
                                            parseFloat(getComputedStyle(t).lineHeight)) : 0;
               const words = t ? t.innerText.trim().split(/\s+/).length : 0;
               return {col: h.getAttribute('col-id'), text: t ? t.innerText.trim() : '',
                       cut: t ? t.scrollWidth > t.clientWidth + 1 || lines > words : false,
                       tip: h.getAttribute('title') ||
                            (h.querySelector('[title]') || {}).title || ''};});
"""


def test_column_headers_are_readable_at_1400px(driver, tmp_path):
    """Every header shows its whole text at 1400 px (wrapped between words when narrow,
    never inside one), and hovering it gives the column's full name."""
    url = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(url)
    fill(store, 3)
    store.dispose()
    server = DashboardServer(url, port=0, refresh_s=1).start()
    try:
        driver.set_window_size(1400, 1000)
        driver.get(server.url)
        _wait(lambda: len(_rows(driver)) == 3, what="3 rows")
        for grid, n in (("#experiments", 13), ("#leaderboard", 14)):
            heads = [h for h in driver.execute_script(_HEADERS_JS, grid) if h["text"]]
            assert len(heads) == n, heads
            assert not [h for h in heads if h["cut"]], heads
            assert all(h["tip"] for h in heads), heads
        heads = {h["col"]: h for h in driver.execute_script(_HEADERS_JS, "#leaderboard")}
        assert heads["val_acc"]["text"] == "val %"
        assert heads["val_acc"]["tip"] == "student validation accuracy (%)"
        driver.save_screenshot(str(ARTIFACTS / "dashboard-1400.png"))
    finally:
        server.shutdown()
