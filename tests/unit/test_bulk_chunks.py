"""The SQLite bulk insert's statement sizes: every row once, and only a few distinct statements whatever the batch."""

from __future__ import annotations

from voltbill.adapters.store.bulk import _chunk_sizes


def test_statement_sizes_cover_every_row_once_with_a_dozen_distinct_sizes_at_most() -> None:
    most = 32_766 // 9  # the meter value table: 9 columns per row
    seen: set[int] = set()
    for rows in range(0, 10_000):
        sizes = list(_chunk_sizes(rows, most))
        assert sum(sizes) == rows
        assert all(size & (size - 1) == 0 and 0 < size <= most for size in sizes)
        assert sizes == sorted(sizes, reverse=True)
        seen.update(sizes)
    assert seen == {1 << k for k in range(12)}  # 1 .. 2,048
