"""INSERT ... ON CONFLICT DO NOTHING that SQLAlchemy's compiled cache can hold.

SQLAlchemy 2.0's dialect inserts (``sqlite.Insert``, ``postgresql.Insert``) declare
``inherit_cache = False`` and their ON CONFLICT clauses have no cache key, so every
execution of such a statement is compiled afresh (two per intent: its ``intents`` row and
its fill). The subclasses here give both a cache key. It covers exactly what the ledger
uses, ``on_conflict_do_nothing(index_elements=[column names])``: the conflict target is
part of the key, so two statements differing only in their target never share a compiled
form; anything else (``index_where``, column objects, DO UPDATE) is refused rather than
cached under a key that would not tell it apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import dml as pg_dml
from sqlalchemy.dialects.sqlite import dml as sqlite_dml
from sqlalchemy.sql.visitors import InternalTraversal


def _target(index_elements: Sequence[str] | None) -> list[str]:
    names = list(index_elements or ())
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"index_elements must be column names, got {index_elements!r}")
    return names


class _SqliteDoNothing(sqlite_dml.OnConflictDoNothing):
    _traverse_internals = [("_key_target", InternalTraversal.dp_string_list)]

    def __init__(self, index_elements: Sequence[str]):
        self._key_target = _target(index_elements)
        super().__init__(index_elements=self._key_target)


class _PgDoNothing(pg_dml.OnConflictDoNothing):
    _traverse_internals = [("_key_target", InternalTraversal.dp_string_list)]

    def __init__(self, index_elements: Sequence[str]):
        self._key_target = _target(index_elements)
        super().__init__(index_elements=self._key_target)


class SqliteInsert(sqlite_dml.Insert):
    """``sqlite.Insert`` with a cache key (its state is the base Insert's plus the
    ON CONFLICT clause, which the base Insert's traversal already names)."""

    inherit_cache = True

    def on_conflict_do_nothing(
        self, *args: Any, index_elements: Any = None, **kw: Any
    ) -> SqliteInsert:
        if args or any(v is not None for v in kw.values()):
            raise ValueError("only index_elements (column names) is supported")
        new = self._generate()
        new._post_values_clause = _SqliteDoNothing(index_elements)
        return new


class PgInsert(pg_dml.Insert):
    """``postgresql.Insert`` with a cache key (see ``SqliteInsert``)."""

    inherit_cache = True

    def on_conflict_do_nothing(self, *args: Any, index_elements: Any = None, **kw: Any) -> PgInsert:
        if args or any(v is not None for v in kw.values()):
            raise ValueError("only index_elements (column names) is supported")
        new = self._generate()
        new._post_values_clause = _PgDoNothing(index_elements)
        return new


def cached_insert(dialect_name: str, table: sa.Table) -> SqliteInsert | PgInsert:
    """An INSERT on ``table`` for the named backend whose ON CONFLICT DO NOTHING form is
    compiled once and then served from the cache."""
    if dialect_name == "postgresql":
        return PgInsert(table)
    return SqliteInsert(table)
