"""The corpus catalog: which sources make up the corpus in an output directory.

Batches accumulate: a run adds its ``--input`` to the catalog and publishes every source the
catalog holds, so sources of earlier runs stay published. A source leaves only when asked
(``--remove`` or ``--prune-missing``). Each entry records the source's path, its content
identity (:mod:`lipforge.pipeline.source.identity`) and the fingerprints of the config its stored
results were computed under (:mod:`lipforge.pipeline.store.fingerprint`).

Stored as ``<output>/work/corpus.json`` (written whole, fsynced, renamed). An output written
before the catalog existed is adopted from its ``work/sources/*.json`` records.

>>> cat = Catalog.load(WorkStore("corpus/"))        # doctest: +SKIP
>>> sorted(cat.entries)[:2]                          # doctest: +SKIP
['a_1f2e3d4c', 'b_9a8b7c6d']
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lipforge.pipeline.source.identity import ContentId


@dataclass
class Entry:
    source_id: str
    path: str
    content: ContentId | None = None
    fingerprints: dict = field(default_factory=dict)  # config its stored results come from ({} unknown)
    spec: dict = field(default_factory=dict)  # the input's other fields (range, dataset, box, labels)

    def to_dict(self) -> dict:
        return {"path": self.path, "content": self.content.to_dict() if self.content else None,
                "fingerprints": self.fingerprints, "spec": self.spec}

    @staticmethod
    def spec_of(source) -> dict:
        """What a :class:`~lipforge.pipeline.source.inputs.SourceInput` says besides path and id."""
        import dataclasses

        d = dataclasses.asdict(source)
        return {k: v for k, v in d.items() if k not in ("path", "source_id") and v is not None}


class Catalog:
    VERSION = 1

    def __init__(self, store, entries: dict[str, Entry] | None = None, adopted: bool = False) -> None:
        self.store = store
        self.entries: dict[str, Entry] = entries or {}
        self.adopted = adopted  # built from an output written before the catalog existed

    @property
    def path(self) -> Path:
        return self.store.work / "corpus.json"

    @classmethod
    def load(cls, store) -> Catalog:
        p = store.work / "corpus.json"
        if p.exists():
            body = json.loads(p.read_text())
            entries = {sid: Entry(sid, e["path"], ContentId.from_dict(e.get("content")), e.get("fingerprints") or {},
                                  e.get("spec") or {})
                       for sid, e in body["sources"].items()}
            return cls(store, entries)
        entries = {}
        d = store.work / "sources"
        if d.exists():  # an output from before the catalog: its recorded sources are the corpus
            for f in sorted(d.glob("*.json")):
                got = store.read_source(f.stem)
                if got is not None:
                    entries[f.stem] = Entry(f.stem, got[0].path)
        return cls(store, entries, adopted=bool(entries))

    def save(self) -> None:
        from lipforge.pipeline.store.atomic import atomic_write_bytes

        body = {"version": self.VERSION, "sources": {sid: self.entries[sid].to_dict() for sid in sorted(self.entries)}}
        atomic_write_bytes(self.path, json.dumps(body, indent=1, sort_keys=True).encode())

    def sources(self) -> list:
        """The corpus as run inputs, sorted by id."""
        return [self._input(sid, e) for sid, e in sorted(self.entries.items())]

    def invalid(self) -> dict[str, str]:
        """Entries no run can process (recorded before inputs were bounded, e.g. a range ending
        at 1e300 s whose id names no file): id -> why. ``--remove`` / ``--prune-missing`` drop them."""
        from lipforge.pipeline.source.inputs import check_source_input

        out = {}
        for sid, e in sorted(self.entries.items()):
            try:
                check_source_input(self._input(sid, e), f"corpus source {sid[:40]}")
            except (TypeError, ValueError) as err:
                out[sid] = str(err)
        return out

    @staticmethod
    def _input(sid: str, e: Entry):
        from lipforge.pipeline.source.inputs import SourceInput

        spec = dict(e.spec)
        if spec.get("box") is not None:
            spec["box"] = tuple(spec["box"])
        return SourceInput(e.path, sid, **spec)

    def resolve(self, names: list[str]) -> list[str]:
        """Source ids for ``names`` (ids or paths as recorded); raises ValueError on an unknown one."""
        by_path = {}
        for sid, e in self.entries.items():
            by_path[e.path] = sid
            by_path[str(Path(e.path).resolve())] = sid
        out = []
        for n in names:
            sid = n if n in self.entries else by_path.get(n) or by_path.get(str(Path(n).resolve()))
            if sid is None:
                raise ValueError(f"--remove: {n!r} is neither a source id nor a source path of this corpus")
            out.append(sid)
        return sorted(set(out))


def read_name_list(spec: str) -> list[str]:
    """``--remove`` argument: a .txt file (one source id or path per line, # comments) or a
    comma-separated list of ids."""
    p = Path(spec)
    if p.suffix == ".txt" and p.is_file():
        return [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if p.suffix == ".txt":
        raise FileNotFoundError(f"--remove {spec}: no such list file")
    return [x.strip() for x in spec.split(",") if x.strip()]
