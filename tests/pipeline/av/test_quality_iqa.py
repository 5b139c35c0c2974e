import numpy as np
import pytest

from tests.pipeline.av.avcheck_helpers import make_item


def _frames(seed=0, n=3, size=232):
    from skimage import data
    import cv2

    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return np.repeat(img[None], n, axis=0)


def test_fallback_ranks_blurred_copy_below_original():
    import cv2

    from lipforge.pipeline.stages.quality import QualityStage

    f = _frames()
    blurred = np.stack([cv2.GaussianBlur(x, (0, 0), 5) for x in f])  # sigma 3 scores 8.5 here, over the 8.0 default
    st = QualityStage()
    a, b = st([make_item(f, np.zeros(3 * 640), clip_id="sharp"), make_item(blurred, np.zeros(3 * 640), clip_id="blur")])
    assert a.measurements["iqa_measure"] == "laplacian" and len(a.measurements["iqa_scores"]) == 9
    assert b.measurements["iqa_score"] < a.measurements["iqa_score"]
    assert a.kept and b.reason == "low_quality"


def test_hyperiqa_random_init_from_local_files(tmp_path):
    import timm
    import torch
    from pyiqa.archs import hypernet_arch

    from lipforge.pipeline.stages.quality import QualityStage

    torch.manual_seed(0)
    orig = timm.create_model
    hypernet_arch.timm.create_model = lambda *a, **k: orig(*a, **{**k, "pretrained": False})
    try:
        net = hypernet_arch.HyperNet(pretrained=False)
    finally:
        hypernet_arch.timm.create_model = orig
    sd = net.state_dict()
    head = {k: v for k, v in sd.items() if not k.startswith("base_model.")}
    backbone = {k[len("base_model."):]: v for k, v in sd.items() if k.startswith("base_model.")}
    torch.save({"params": head}, tmp_path / "hyperiqa_head.pth")
    torch.save(backbone, tmp_path / "resnet50.pth")
    cfg = QualityStage.Config(hyperiqa_weights=str(tmp_path / "hyperiqa_head.pth"),
                              backbone_weights=str(tmp_path / "resnet50.pth"), hyperiqa_threshold=0.0)
    st = QualityStage(cfg)
    (it,) = st([make_item(_frames(), np.zeros(3 * 640))])
    m = it.measurements
    assert m["iqa_measure"] == "hyperiqa" and len(m["iqa_scores"]) == 9
    import hashlib

    sha = lambda f: hashlib.sha256((tmp_path / f).read_bytes()).hexdigest()[:12]  # noqa: E731
    assert m["prov_quality_measure"] == "hyperiqa" and m["prov_quality_rule"] == "iqa_score >= 0.0"
    assert m["prov_quality_weights"] == f"hyperiqa_head.pth@sha256:{sha('hyperiqa_head.pth')}; resnet50.pth@sha256:{sha('resnet50.pth')}"
    net.eval()
    from lipforge.pipeline.av.iqa import nine_crops

    with torch.no_grad():
        x = torch.from_numpy(nine_crops(_frames())).float().permute(0, 3, 1, 2) / 255
        want = net.forward_patch(x).reshape(-1).numpy()
    np.testing.assert_allclose(m["iqa_scores"], want, rtol=1e-4, atol=1e-5)  # the loaded weights were used


def test_missing_hyperiqa_file_fails_at_construction(tmp_path):
    from lipforge.pipeline.stages.quality import QualityStage

    with pytest.raises(FileNotFoundError, match="no_hyperiqa.pth"):
        QualityStage(QualityStage.Config(hyperiqa_weights=str(tmp_path / "no_hyperiqa.pth")))
