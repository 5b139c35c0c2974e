"""The corpus store: atomic writes, the work store, catalog, content identity, fingerprints, lock, shards, release markers, generations and verify."""
