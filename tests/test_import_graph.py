"""No package of lipforge has an import circle (import-linter's layers contract covers only the
folders of pipeline/), and the script that draws the picture finds a circle when there is one."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)


@pytest.mark.parametrize("folder", ["manifests", "pipeline", "infer", "train", "lipforge"])
def test_no_import_circles(folder):
    prefix = "lipforge" if folder == "lipforge" else f"lipforge.{folder}"
    graph = import_graph.edges(ROOT / folder, prefix)
    assert import_graph.circles(graph) == []
    assert import_graph.back_edges(graph) == []


def test_pipeline_folders_stand_on_floors():
    graph = import_graph.rooms(import_graph.edges(ROOT / "pipeline", "lipforge.pipeline"), "lipforge.pipeline")
    level = import_graph.floors(graph, [])
    p = "lipforge.pipeline."
    order = ["media", "faces", "source", "stages", "store", "report", "run", "cli"]
    assert [level[p + r] for r in order] == sorted(level[p + r] for r in order)
    assert level[p + "store"] < level[p + "report"] < level[p + "run"]


def test_a_planted_circle_and_its_arrow_up_are_found(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import c  # lazy, still an arrow\n")
    (pkg / "c.py").write_text("from . import a\nimport os\n")
    (pkg / "d.py").write_text("from pkg.sub.b import f\n")
    graph = import_graph.edges(pkg, "pkg")
    assert graph["pkg.d"] == {"pkg.sub.b"}
    assert import_graph.circles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    up = import_graph.back_edges(graph)
    assert up == [("pkg.c", "pkg.a")]
    level = import_graph.floors(graph, up)
    assert level["pkg.a"] == 2 and level["pkg.d"] == 2 and level["pkg.c"] == 0
