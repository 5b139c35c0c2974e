"""Curation: stages that turn raw talking videos into clips (no Ray here but runners/ray_runner)."""
