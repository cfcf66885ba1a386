"""Export the course notebooks into the `ava_edu` package with nbdev.

This is the only way `ava_edu/*.py` is written. Run it as `make export` after editing a notebook.

Two deliberate differences from `nbdev-export`:
* imports stay absolute (`from ava_edu.rope import apply_rope`), so every module reads like a
  hand-written one and can be copied out of the package; nbdev would rewrite them as relative imports;
* no `_modidx.py` or `llms.txt` is written: the course has no nbdev documentation site.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbdev.maker
from nbdev.export import nb_export

ROOT = Path(__file__).resolve().parent.parent
INIT = '''"""Ava-Edu: build Ava, a Llama-style causal language model, from scratch.

The modules of this package are exported from the course notebooks in `notebooks/`;
edit the notebook, then run `make export`.
"""

__version__ = "0.1.0"
'''


def _keep_absolute_imports(cells, lib_path=None) -> None:
    """Replace nbdev's relative-import rewriting: the exported code keeps the notebook's imports."""


def export(root: Path = ROOT) -> list[Path]:
    """Write every exported module of `root/notebooks/*.ipynb` into `root/ava_edu`; return the files written.

    The package is rebuilt from scratch, so a module whose notebook is gone disappears too.
    """
    nbdev.maker._import2relative = _keep_absolute_imports
    package = root / "ava_edu"
    package.mkdir(exist_ok=True)
    for old in package.glob("*.py"):
        old.unlink()
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        nb_export(notebook, lib_path=package)
    (package / "__init__.py").write_text(INIT, encoding="utf-8")
    return sorted(package.glob("*.py"))


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    for path in export(root):
        print(f"exported {path.relative_to(root)}")
