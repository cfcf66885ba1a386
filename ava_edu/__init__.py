"""Ava-Edu: build Ava, a Llama-style causal language model, from scratch.

The modules of this package are exported from the course notebooks in `notebooks/`;
edit the notebook, then run `make export`.
"""

__version__ = "0.1.0"
