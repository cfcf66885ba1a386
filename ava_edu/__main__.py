"""Run the `ava-edu` command line (notebooks/99_cli.ipynb) as `python -m ava_edu`."""

from ava_edu.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
