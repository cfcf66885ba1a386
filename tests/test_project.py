"""The project's own guarantees: notebooks and package in sync, notebooks executed and clean, deps agree."""

from __future__ import annotations

import ast
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbdev.clean import clean_nb

from tests.conftest import ROOT
from tools.run_notebooks import CELL_METADATA

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the check needs to run on one version only

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _export_into(tmp: Path) -> Path:
    """Export the committed notebooks into a scratch copy of the repository; return its package folder."""
    shutil.copytree(ROOT / "notebooks", tmp / "notebooks")
    shutil.copytree(ROOT / "tools", tmp / "tools")
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    subprocess.run([sys.executable, "tools/export.py"], cwd=tmp, check=True, capture_output=True)
    return tmp / "ava_edu"


def _package_differences(expected: Path, actual: Path) -> list[str]:
    """Names of the modules that differ between two package folders (missing, extra or changed)."""
    names = {p.name for p in expected.glob("*.py")} | {p.name for p in actual.glob("*.py")}
    return sorted(
        name
        for name in names
        if not (expected / name).exists()
        or not (actual / name).exists()
        or (expected / name).read_bytes() != (actual / name).read_bytes()
    )


def test_package_is_exported_from_the_notebooks(tmp_path):
    fresh = _export_into(tmp_path)
    differences = _package_differences(fresh, ROOT / "ava_edu")
    assert not differences, f"ava_edu/ is out of sync with notebooks/ in {differences}: run `make export`"


def test_sync_check_catches_a_hand_edit(tmp_path):
    fresh = _export_into(tmp_path / "export")
    edited = tmp_path / "edited"
    shutil.copytree(ROOT / "ava_edu", edited)
    module = edited / "course.py"
    module.write_text(module.read_text() + "\nHAND_EDIT = True\n")
    assert _package_differences(fresh, edited) == ["course.py"]


def test_every_module_has_a_docstring_and_absolute_imports():
    for module in sorted((ROOT / "ava_edu").glob("*.py")):
        text = module.read_text()
        assert ast.get_docstring(ast.parse(text)), f"{module.name} has no module docstring"
        assert not re.search(r"^\s*from \.", text, re.M), f"{module.name} uses a relative import"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_executed_top_to_bottom(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(code)}; "
        "run `python tools/run_notebooks.py` on it and commit the outputs"
    )
    assert any(cell.outputs for cell in code), f"{path.name} carries no outputs"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_metadata_noise(path):
    nb = nbformat.read(path, as_version=4)
    cleaned = copy.deepcopy(nb)
    clean_nb(cleaned, allowed_cell_metadata_keys=CELL_METADATA)
    for cell in nb.cells:  # nbdev-clean also drops execution counts, which we keep on purpose
        if cell.cell_type == "code":
            cell.execution_count = None
    assert nbformat.writes(nb) == nbformat.writes(cleaned), f"{path.name}: run nbdev-clean (tools/run_notebooks.py does)"


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    pattern = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")
    return {pattern.match(r).group(1).lower(): pattern.match(r).group(2).replace(" ", "") for r in requirements}


def _conda_dependencies_section() -> str:
    return (ROOT / "environment.yml").read_text().split("\ndependencies:\n", 1)[1]


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"] + project["optional-dependencies"]["dev"])
    wanted["pytorch"] = wanted.pop("torch")  # conda-forge's name for the same package
    listed = re.findall(r"^\s+- (?!-e )([A-Za-z0-9_.\-]+[^\n]*)$", _conda_dependencies_section(), re.M)
    conda = {k: v for k, v in _requirement_names(listed).items() if k not in {"python", "pip"}}
    assert conda == wanted
