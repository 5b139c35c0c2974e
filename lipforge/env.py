"""Offline-safe process environment, applied before Ray, huggingface_hub or ultralytics import.

Only sets variables that are unset: a user's explicit setting wins. RAY_USAGE_STATS_ENABLED=0
keeps Ray from probing a cloud metadata address; the HF/YOLO settings keep the hubs silent.
"""
from __future__ import annotations

import os
import tempfile

OFFLINE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "true",
    "DO_NOT_TRACK": "1",
}


def apply_offline_env() -> None:
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    base = os.path.join(tempfile.gettempdir(), "lipforge-runtime")  # not "lipforge": that folder in a cwd shadows the package
    os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(base, "ultralytics"))
    os.environ.setdefault("TORCH_HOME", os.path.join(base, "torch"))
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(base, "mpl"))
    for k in ("YOLO_CONFIG_DIR", "TORCH_HOME", "MPLCONFIGDIR"):
        os.makedirs(os.environ[k], exist_ok=True)
    # diffusers imports bitsandbytes (a pyiqa dependency) whenever it is installed, which warns
    # on every CPU-only start about an optional kernels package lipforge never uses
    import logging

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
