"""A curation run: list inputs and plan (curate, plan), run it (runners/, threads), publish it (finalize), its lifecycle, and refilter."""
