"""Curation, one floor per folder: measures (media, models, source/, faces/, av/, datasets/) <- stages/ <- store/ <- report/ <- run/ <- cli (no Ray here but run/runners/ray_runner)."""
