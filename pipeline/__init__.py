"""Curation, one floor per folder: measures (media, models, faces/, av/, source/) <- stages/, datasets/ <- store/ <- report/ <- run/ <- cli; no Ray here but run/runners/ray_runner."""
