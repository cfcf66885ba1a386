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
from nbdev.maker import ModuleMaker

ROOT = Path(__file__).resolve().parent.parent
INIT = '''"""Ava-Edu: build Ava, a Llama-style causal language model, from scratch.

The modules of this package are exported from the course notebooks in `notebooks/`;
edit the notebook, then run `make export`.
"""

__version__ = "0.1.0"
'''
MAIN = '''"""Run the `ava-edu` command line (notebooks/99_cli.ipynb) as `python -m ava_edu`."""

from ava_edu.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
'''


def _keep_absolute_imports(cells, lib_path=None) -> None:
    """Replace nbdev's relative-import rewriting: the exported code keeps the notebook's imports."""


class _ModuleMaker(ModuleMaker):
    """nbdev appends `#| export othermodule` cells to an existing file; here the first such cell creates it.

    That lets one notebook export two modules (chapter 4: `model` and `config`). A module made this way
    takes its docstring from its first exported cell, which starts with a string literal.
    """

    def __init__(self, dest, name, nb_path, is_new=True, **kwargs):
        exists = (Path(dest) / (name.replace(".", "/") + ".py")).exists()
        super().__init__(dest, name, nb_path, is_new=is_new or not exists, **kwargs)


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
        nb_export(notebook, lib_path=package, mod_maker=_ModuleMaker)
    (package / "__init__.py").write_text(INIT, encoding="utf-8")
    (package / "__main__.py").write_text(MAIN, encoding="utf-8")
    return sorted(package.glob("*.py"))


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    for path in export(root):
        print(f"exported {path.relative_to(root)}")
