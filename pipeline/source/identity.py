"""Content identity of an input file: what a stored verdict was computed from.

A source is its id *and* its content. The identity is the file's size and mtime plus a SHA-256
of its size, first MiB and last MiB (reads at most 2 MiB, however large the file). A rerun
compares the recorded identity with the file on disk: equal size and mtime means unchanged
(one ``stat``, no read); otherwise the digest decides, so a file that was only touched or
copied (new mtime, same bytes) is not curated again, while one that finished downloading or
was replaced is. A change that keeps the size and touches neither end nor the mtime is not
seen (the price of not hashing whole videos).

>>> cid = content_id("talk.mp4")                      # doctest: +SKIP
>>> cid.size, cid.digest[:8]                          # doctest: +SKIP
(318370, '5f1c2a9e')
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass

EDGE_BYTES = 1 << 20


@dataclass(frozen=True)
class ContentId:
    size: int
    mtime_ns: int
    digest: str  # sha256 of size, first and last EDGE_BYTES

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> ContentId | None:
        return cls(int(d["size"]), int(d["mtime_ns"]), str(d["digest"])) if d else None


def edge_digest(path: str | os.PathLike, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(EDGE_BYTES))
        if size > EDGE_BYTES:
            f.seek(max(EDGE_BYTES, size - EDGE_BYTES))
            h.update(f.read(EDGE_BYTES))
    return h.hexdigest()


def content_id(path: str | os.PathLike, known: ContentId | None = None) -> ContentId | None:
    """The identity of ``path`` (None when it is not a readable regular file). With ``known``
    (the recorded identity) an unchanged size and mtime return ``known`` without reading."""
    try:
        st = os.stat(path)
        if not os.path.isfile(path):
            return None
        if known is not None and (st.st_size, st.st_mtime_ns) == (known.size, known.mtime_ns):
            return known
        return ContentId(st.st_size, st.st_mtime_ns, edge_digest(path, st.st_size))
    except OSError:
        return None


def same_content(a: ContentId | None, b: ContentId | None) -> bool:
    """Same bytes as far as the identity can tell (the mtime alone does not count)."""
    if a is None or b is None:
        return a is b
    return (a.size, a.digest) == (b.size, b.digest)
