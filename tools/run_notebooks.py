"""Execute course notebooks top to bottom and save them with their outputs, cleaned the nbdev way.

    python tools/run_notebooks.py notebooks/01_tokenizer.ipynb [...]

This is how committed outputs are made: a real run at the learner's sizes (unset `AVA_EDU_FAST`
for that), in a fresh kernel, in order. Execution counts are kept (the tests check they run 1..N);
every other piece of metadata that `nbdev-clean` removes is removed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbdev.clean import clean_nb

ROOT = Path(__file__).resolve().parent.parent
CELL_METADATA = ["tags"]  # nbval reads cell tags such as `nbval-ignore-output`


def clean_keeping_counts(nb: nbformat.NotebookNode) -> None:
    """Apply `nbdev.clean.clean_nb` but keep cell execution counts (evidence of a top-to-bottom run)."""
    counts = [cell.get("execution_count") for cell in nb.cells]
    clean_nb(nb, allowed_cell_metadata_keys=CELL_METADATA)
    for cell, count in zip(nb.cells, counts, strict=True):
        if cell.cell_type == "code":
            cell.execution_count = count


def run_notebook(path: Path, timeout: int = 1800) -> float:
    """Execute `path` in place from a fresh kernel; return the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    clean_keeping_counts(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name in sys.argv[1:]:
        seconds = run_notebook(Path(name))
        print(f"{name}: executed in {seconds:.1f} s")
