"""``one_of``: the rows of ``IN (values)``, with one SQL text for any number of values, on both stores;
``pair_of_param``: the same for ``(a, b) IN (pairs)``."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.one_of import one_of, one_of_param, pair_of_param

_metadata = sa.MetaData()
_things = sa.Table(
    "one_of_things",
    _metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("n", sa.Integer),
    sa.Column("kind", sa.String(16)),
)
IDS = [f"CP-{i:04d}" for i in range(2_500)] + ["O'Brien", "Zürich-1", ""]
KIND = {i: ("odd", "even")[n % 2 == 0] for n, i in enumerate(IDS)}


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    _metadata.create_all(database.engine)
    with database.uow() as uow:
        uow.session.execute(_things.insert(), [{"id": i, "kind": KIND[i]} for i in IDS])
        uow.commit()
    return database


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    return seen


def test_the_rows_of_in_values_with_one_statement_text_for_every_length(db: Database) -> None:
    statements = _statements(db)
    wanted_lists = [
        [],
        ["CP-0007"],
        ["CP-0001", "nobody", "CP-0001", "O'Brien"],  # a duplicate, a missing id and a quote
        [*IDS[::2], "Zürich-1", ""],  # 1,252 values
    ]
    for wanted in wanted_lists:
        with db.read_uow() as uow:
            found = uow.session.scalars(sa.select(_things.c.id).where(one_of(_things.c.id, wanted))).all()
        assert sorted(found) == sorted(set(wanted) & set(IDS))
    assert len(statements) == len(wanted_lists)
    assert len(set(statements)) == 1, statements


def test_values_given_at_execution(db: Database) -> None:
    query = sa.select(_things.c.id).where(one_of_param(_things.c.id, "ids"))
    with db.read_uow() as uow:
        assert uow.session.scalars(query, {"ids": ["CP-0002", "CP-0003"]}).all() == ["CP-0002", "CP-0003"]
        assert uow.session.scalars(query, {"ids": []}).all() == []


def test_in_a_delete(db: Database) -> None:
    with db.uow() as uow:
        uow.session.execute(sa.delete(_things).where(one_of(_things.c.id, IDS[:2_000])))
        uow.commit()
    with db.read_uow() as uow:
        assert sorted(uow.session.scalars(sa.select(_things.c.id)).all()) == sorted(IDS[2_000:])


def test_pairs_match_both_columns_of_the_same_pair_only(db: Database) -> None:
    statements = _statements(db)
    query = sa.select(_things.c.id).where(pair_of_param(_things.c.id, _things.c.kind, "pairs"))
    pair_lists = [
        [],
        [("CP-0000", "even")],
        # each id is in the other pair's kind too: a match of each column separately would return all four
        [("CP-0001", "odd"), ("CP-0002", "even"), ("CP-0001", "even"), ("CP-0002", "odd")],
        [("O'Brien", "odd"), ("nobody", "even"), ("Zürich-1", "even")],
        [(i, "even") for i in IDS[::2]],  # 1,252 pairs
    ]
    for pairs in pair_lists:
        with db.read_uow() as uow:
            found = uow.session.scalars(query, {"pairs": pairs}).all()
        assert sorted(found) == sorted({i for i, kind in pairs if KIND.get(i) == kind})
    assert len(set(statements)) == 1, statements


def test_only_for_text_columns() -> None:
    with pytest.raises(TypeError, match="text columns"):
        one_of(_things.c.n, ["1"])
    with pytest.raises(TypeError, match="text columns"):
        pair_of_param(_things.c.id, _things.c.n, "pairs")
