"""Adapter training sees its rows in a fresh order every epoch, all of them each time."""

from quorum.adapters.training import EpochShuffledBatches


class ListHooks:
    @staticmethod
    def batches(base_model, rows, batch_size):
        return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]


def test_every_epoch_has_every_row_once_in_a_new_order():
    batches = EpochShuffledBatches(ListHooks(), "base", list(range(10)), batch_size=4, seed=3)
    assert len(batches) == 3
    first, second = [row for b in batches for row in b], [row for b in batches for row in b]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second
