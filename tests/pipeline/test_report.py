"""The report is a curation tool: it renders in a real browser with no console error, has its plots,
threshold lines, banner, contact sheets with boxes and playable clips, fits 1400 px, links nothing."""
from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from lipforge.testing.tiny_corpus import curate_local, run_config, talking_inputs

    base = tmp_path_factory.mktemp("report")
    inputs = talking_inputs(base / "in")
    cfg = run_config({"speech": {"min_speech_ratio": 0.5}, "faces": {"min_face_px": 60.0}, "landmarks": {},
                      "crop": {"crop_size": 256}, "quality": {}, "asd": {}, "sync": {}})
    summary = curate_local(inputs, base / "out", cfg)
    assert summary["clips"]["kept"] >= 1 and summary["clips"]["dropped"]
    return base / "out", summary


def _images(doc: str) -> list[np.ndarray]:
    import cv2

    out = []
    for b64 in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', doc):
        img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        out.append(img[..., ::-1])  # RGB
    return out


def test_report_content_without_a_browser(corpus, tmp_path):
    out, summary = corpus
    doc = (out / "report.html").read_text()
    # the banner names the skipped check and both stand-ins, before any chart
    banner = doc[doc.index('id="attention"'):doc.index("<h2>")]
    assert "asd: SKIPPED" in banner and "quality: decided by a weight-free stand-in" in banner
    assert "sync: decided by a weight-free stand-in" in banner
    assert doc.count('class="chart hist"') == 6 and doc.count('class="threshold"') >= 3
    assert "laplacian (weight-free stand-in)" in doc  # where the stand-in's scores are shown
    for reason in summary["clips"]["dropped"]:
        assert f"<h3>{reason} (dropped by" in doc
    # contact sheets: kept clips have their face box drawn (green), dropped ones in red
    imgs = _images(doc)
    assert len(imgs) >= 2
    green = [((im[..., 1] > 170) & (im[..., 0] < 60) & (im[..., 2] < 60)).sum() for im in imgs]
    assert max(green) > 100
    assert doc.count('src="data:video/mp4;base64,') >= 2
    # self-contained: nothing is linked, so a moved copy is the same page
    srcs = re.findall(r'(?:src|href|poster)="([^"]*)"', doc)
    assert srcs and all(s.startswith("data:") for s in srcs)
    moved = tmp_path / "elsewhere" / "r.html"
    moved.parent.mkdir()
    shutil.copy(out / "report.html", moved)
    assert moved.read_text() == doc


def test_report_renders_in_headless_chromium(corpus, tmp_path):
    from tests.pipeline.headless import Page, chromium

    exe = chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): the browser check did not run")
    out, _ = corpus
    page = Page(exe, tmp_path / "profile", width=1400, height=1000)
    try:
        page.open((out / "report.html").resolve().as_uri())
        n_svg = page.evaluate("document.querySelectorAll('svg.chart').length")
        n_hist_bars = page.evaluate("document.querySelectorAll('svg.hist rect').length")
        width = page.evaluate("document.documentElement.scrollWidth")
        imgs_ok = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        n_img = page.evaluate("document.images.length")
        vids = page.evaluate("Array.from(document.querySelectorAll('video')).map(v => v.error ? v.error.code : 0)")
        banner = page.evaluate("document.getElementById('attention').getBoundingClientRect().top")
        shot = page.screenshot(tmp_path / "report.png")
    finally:
        log = page.close()
    assert page.errors == [], page.errors
    assert not [ln for ln in log.splitlines() if "CONSOLE" in ln and "ERROR" in ln]
    assert n_svg >= 9 and n_hist_bars > 0  # funnel, 2 verdict charts, 6 histograms
    assert width <= 1400, f"the page is {width} px wide"
    assert imgs_ok and n_img >= 2
    assert vids and all(code == 0 for code in vids), vids
    assert banner < 200  # at the top
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"


def test_report_survives_sources_that_moved(corpus, tmp_path):
    """Contact sheets are read back from the sources: a moved source is a note, not a failed run."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from lipforge.pipeline.report.html import write_report
    from lipforge.pipeline.store.work import WorkStore

    out, _ = corpus
    copy = tmp_path / "corpus"
    shutil.copytree(out / "manifests", copy / "manifests")
    src = pq.read_table(copy / "manifests" / "sources.parquet").to_pylist()
    for s in src:
        s["path"] = str(tmp_path / "gone" / Path(s["path"]).name)
    pq.write_table(pa.Table.from_pylist(src, schema=pq.read_schema(out / "manifests" / "sources.parquet")),
                   copy / "manifests" / "sources.parquet")
    summary = json.loads((out / "summary.json").read_text())
    rows = pq.read_table(copy / "manifests" / "clips.parquet").to_pylist()
    doc = write_report(copy, summary, rows, WorkStore(copy), 2).read_text()
    assert "source not readable" in doc and doc.count('class="chart hist"') == 6
    assert "data:video/mp4" not in doc
