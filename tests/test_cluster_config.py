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


def test_training_is_capped_to_the_train_worker_nodes():
    """The preset's per-rank custom resource exists on train_worker nodes only: training never takes
    the gpu_worker GPUs curation and inference use (README, "On the Ray cluster")."""
    from lipforge.train.config import TrainConfig

    root = Path(__file__).resolve().parents[1]
    types = yaml.safe_load((root / "ray_cluster.yaml").read_text())["available_node_types"]
    cluster = TrainConfig.from_yaml(root / "configs" / "train" / "sayanything.yaml").cluster
    assert cluster.gpus_per_worker == 1 and cluster.resources
    for name in cluster.resources:
        assert [t for t, v in types.items() if name in v["resources"]] == ["train_worker"]


def test_ray_cluster_installs_what_batch_inference_needs():
    """The nodes get diffusers / transformers / pandas (lipforge[infer], via [all]), pinned."""
    import re
    import tomllib

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "ray_cluster.yaml").read_text())
    pins = [c for c in cfg["setup_commands"] if "pip install" in c and "/opt/lipforge" in c]
    extras = set(re.search(r"/opt/lipforge\[([^\]]+)\]", pins[0]).group(1).split(","))
    assert "constraints.txt" in pins[0]
    py = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    opt = py["optional-dependencies"]
    closure = set(extras)
    for e in extras:
        for x in opt.get(e, []):
            if x.startswith("lipforge["):
                closure |= set(x.split("[")[1].rstrip("]").split(","))
    got = {d for e in closure for d in opt.get(e, [])} | set(py["dependencies"])
    for pkg in ("diffusers", "transformers", "pandas"):
        assert any(d.startswith(pkg) for d in got), (pkg, extras)
