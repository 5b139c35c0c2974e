"""ray_cluster.yaml validates against the cluster-launcher schema of the installed Ray."""
from pathlib import Path

import yaml


def test_ray_cluster_yaml_matches_ray_schema():
    import json

    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "ray_cluster.yaml").read_text())
    jsonschema.validate(cfg, schema)
    types = cfg["available_node_types"]
    assert {"cpu_worker", "gpu_worker"} <= set(types)
    setup = " ".join(cfg["setup_commands"])
    assert "ffmpeg" in setup and "espeak-ng" in setup and "lipforge" in setup
    assert any("env.sh" in c for c in cfg["worker_start_ray_commands"])  # RAY_USAGE_STATS_ENABLED=0 on every node
