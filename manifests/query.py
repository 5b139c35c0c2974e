"""Select clips by an SQL condition over ``clips.parquet``: one home for every ``where``.

``lipforge refilter --where`` and a training config's ``data.where`` both mean the same thing: a
DuckDB SQL boolean expression over the columns of ``clips.parquet`` (docs/manifests.md), applied
to kept clips only (a dropped clip has no shard sample). NULL counts as false, as in SQL: a clip
a stage never measured does not pass a condition on that stage's score.

>>> kept_ids_where("out/manifests/clips.parquet", "sync_conf >= 5 and iqa_score >= 0.5")  # doctest: +SKIP
['talk_1a2b3c4d-00000000-00', ...]
"""
from __future__ import annotations

from pathlib import Path

DUCKDB_HINT = "the --where / data.where filter needs duckdb: pip install 'lipforge[sql]' (or duckdb)"


def _duckdb():
    try:
        import duckdb
    except ImportError as e:  # a missing optional dependency fails with the exact install hint
        raise ImportError(DUCKDB_HINT) from e
    return duckdb


def check_where(where: str) -> str:
    """The expression, stripped; refuses what is not one expression (empty, ';', comments)."""
    w = (where or "").strip()
    if not w:
        raise ValueError("where: empty condition")
    for bad in (";", "--", "/*"):
        if bad in w:
            raise ValueError(f"where {where!r}: {bad!r} is not allowed; give one SQL condition over clips.parquet")
    return w


def kept_ids_where(clips_path: str | Path, where: str) -> list[str]:
    """Ids of the kept clips of ``clips_path`` for which ``where`` is true, in id order.

    An unknown column or a syntax error raises ValueError with DuckDB's first line (it names the
    column and lists close candidates).
    """
    w = check_where(where)
    duckdb = _duckdb()
    # No extension is ever fetched: an operator that needs one fails here instead of downloading.
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    try:
        rows = con.execute(
            f"SELECT clip_id FROM read_parquet(?) WHERE status = 'kept' AND ({w}) ORDER BY clip_id",
            [str(clips_path)]).fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"where {where!r}: {first}") from None
    finally:
        con.close()
    return [r[0] for r in rows]
