"""The folder layout is the architecture: the data plane never imports the control plane."""

from __future__ import annotations

import ast
from pathlib import Path

import maas_dataplane

DATAPLANE = Path(maas_dataplane.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_data_plane_imports_nothing_of_the_control_plane():
    offenders = {
        str(path.relative_to(DATAPLANE.parent)): sorted(m for m in _imported_modules(path) if m.split(".")[0] == "maas_iac")
        for path in DATAPLANE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_layout_check_sees_the_data_plane_sources():
    # Guards the test above against walking an empty or wrong folder.
    files = {p.relative_to(DATAPLANE).as_posix() for p in DATAPLANE.rglob("*.py")}
    assert {"model_server/server.py", "probe.py", "load_check.py"} <= files
