"""Values written into SQL text (the predicates a MERGE reads, the queries of ``perfmon sql``),
quoted here and nowhere else. No Spark: ``perfmon sql`` fills its queries without a session."""

from __future__ import annotations


def sql_escaped(text: str) -> str:
    """``text`` for the inside of a single-quoted SQL string: each quote doubled."""
    return text.replace("'", "''")


def sql_string(text: str) -> str:
    """A SQL string literal of ``text``: ``'it''s'``."""
    return f"'{sql_escaped(text)}'"
