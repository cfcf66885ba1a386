"""The learner's exercise notebooks run as shipped: every blank reports "not written yet", nothing else breaks."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def _run(path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return "".join(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_blank_exercise_notebook_points_to_its_blanks(path):
    nb = _run(path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    unexpected = [f"{e.ename}: {e.evalue}" for e in errors if e.ename != "NotImplementedError"]
    assert not unexpected, f"{path.name}: cells fail for another reason than a blank: {unexpected}"
    printed = "\n".join(_text(o) for cell in code for o in cell.outputs)
    assert "not written yet" in printed, f"{path.name}: no check reported the blanks"
    assert "✅" not in printed, f"{path.name}: a check passed although nothing was written"
    assert "raise NotImplementedError" in "\n".join(cell.source for cell in code), f"{path.name} has no blanks"
