"""The constructed stores of :mod:`helpers.stores` hold what they say."""

from helpers.stores import fill

from kd_automl.store import Store


def test_fill_writes_what_it_says(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    fill(store, 5, failed=1, pruned=2)
    states = [t.state for t in store.trials(role="search")]
    assert states.count("complete") == 5 and states.count("pruned") == 2
    assert states.count("failed") == 1
