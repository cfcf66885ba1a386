"""Chapter 2's exercise checks: they pass the reference and give the right hint for typical wrong answers.

Every wrong implementation here is written independently of the checks' own Mistake functions (loops,
einsum, other masking idioms), so a hint is recognised by what a mistake computes, not by its code.
"""

from __future__ import annotations

import math

import pytest
import torch

from ava_edu.attention import attention_manual, causal_mask, repeat_kv
from ava_edu.checks import check_causal_attention, check_causal_mask, check_repeat_kv

# ---------------------------------------------------------------- causal_mask


def mask_reference(n):
    return causal_mask(n)


def mask_with_loops(n):
    return torch.tensor([[s <= t for s in range(n)] for t in range(n)])


def mask_strict_less(n):  # diagonal excluded
    return torch.tensor([[s < t for s in range(n)] for t in range(n)], dtype=torch.bool)


def mask_arange_strict(n):  # diagonal excluded, another idiom
    return torch.arange(n)[None, :] < torch.arange(n)[:, None]


def mask_one_future(n):  # one future token allowed
    return torch.arange(n)[None, :] <= torch.arange(n)[:, None] + 1


def mask_one_future_loops(n):
    return torch.tensor([[s <= t + 1 for s in range(n)] for t in range(n)])


def mask_transposed(n):  # sees the future
    return torch.arange(n)[:, None] <= torch.arange(n)[None, :]


def mask_inverted(n):  # True on the future
    return torch.arange(n)[None, :] > torch.arange(n)[:, None]


def mask_float(n):  # right shape and values, wrong dtype
    return torch.tril(torch.ones(n, n))


@pytest.mark.parametrize("fn", [mask_reference, mask_with_loops])
def test_check_causal_mask_passes_correct_masks(fn):
    assert check_causal_mask(fn, verbose=False)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (mask_strict_less, "diagonal is missing"),
        (mask_arange_strict, "diagonal is missing"),
        (mask_one_future, "sees the next token"),
        (mask_one_future_loops, "sees the next token"),
        (mask_transposed, "see the future, not the past"),
        (mask_inverted, "inverted"),
        (mask_float, "boolean tensor"),
    ],
)
def test_check_causal_mask_names_the_mistake(fn, hint):
    result = check_causal_mask(fn, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


def test_check_causal_mask_reports_an_unwritten_blank():
    def blank(n):
        raise NotImplementedError("your code here")

    result = check_causal_mask(blank, verbose=False)
    assert not result and "not written yet" in result.message


# ---------------------------------------------------------------- causal_attention


def attention_einsum(q, k, v, allowed=None, scale=None, fill=None, softmax_dim=-1):
    """A configurable attention written with einsum; the defaults are correct."""
    seq, d = q.shape[-2], q.shape[-1]
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * (1 / math.sqrt(d) if scale is None else scale(d))
    allowed = torch.ones(seq, seq).tril().bool() if allowed is None else allowed(seq)
    scores = fill(scores, allowed) if fill else torch.where(allowed, scores, torch.tensor(float("-inf")))
    return torch.einsum("bhqk,bhkd->bhqd", scores.softmax(softmax_dim), v)


def attention_loops_4d(q, k, v, offset=0, scaled=True):
    """Per-position loops over (batch, heads); `offset` lets the query see `offset` tokens into the future."""
    out = torch.zeros_like(v)
    d = q.shape[-1]
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for t in range(q.shape[2]):
                last = min(t + offset, q.shape[2] - 1)
                scores = k[b, h, : last + 1] @ q[b, h, t] / (math.sqrt(d) if scaled else 1.0)
                out[b, h, t] = torch.softmax(scores, 0) @ v[b, h, : last + 1]
    return out


def attn_reference(q, k, v):
    return attention_manual(q, k, v)[0]


@pytest.mark.parametrize(
    "fn", [attn_reference, attention_einsum, attention_loops_4d, lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)]
)
def test_check_causal_attention_passes_correct_versions(fn):
    assert check_causal_attention(fn, verbose=False)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda q, k, v: attention_loops_4d(q, k, v, offset=1), "sees the next token"),
        (lambda q, k, v: attention_einsum(q, k, v, allowed=lambda n: torch.ones(n, n).tril(1).bool()), "sees the next token"),
        (lambda q, k, v: attention_einsum(q, k, v, allowed=lambda n: torch.ones(n, n).tril(-1).bool()), "NaN"),
        (lambda q, k, v: attention_einsum(q, k, v, allowed=lambda n: torch.ones(n, n).tril(-1).bool(),
                                          fill=lambda s, m: s - 1e10 * (~m)), "diagonal is masked"),
        (lambda q, k, v: attention_einsum(q, k, v, softmax_dim=-2), "last axis"),
        (lambda q, k, v: attention_einsum(q, k, v, softmax_dim=2), "last axis"),
        (lambda q, k, v: attention_einsum(q, k, v, scale=lambda d: 1.0), "not scaled"),
        (lambda q, k, v: attention_loops_4d(q, k, v, scaled=False), "not scaled"),
        (lambda q, k, v: attention_einsum(q, k, v, scale=lambda d: 1 / d), "square root"),
        (lambda q, k, v: attention_einsum(q, k, v, fill=lambda s, m: s * m), "e^0 = 1"),
        (lambda q, k, v: attention_einsum(q, k, v, fill=lambda s, m: torch.where(m, s, torch.zeros_like(s))), "e^0 = 1"),
        (lambda q, k, v: attention_einsum(q, k, v, fill=lambda s, m: s), "no causal mask"),
        (lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v), "no causal mask"),
    ],
)
def test_check_causal_attention_names_the_mistake(fn, hint):
    result = check_causal_attention(fn, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


def test_check_causal_attention_asks_for_the_output_only():
    result = check_causal_attention(attention_manual, verbose=False)
    assert not result and "not a tuple" in result.message


# ---------------------------------------------------------------- repeat_kv


def repeat_kv_loops(x, n_rep):
    return torch.stack([x[:, h] for h in range(x.shape[1]) for _ in range(n_rep)], dim=1)


@pytest.mark.parametrize("fn", [repeat_kv, repeat_kv_loops, lambda x, n: x.repeat_interleave(n, dim=1)])
def test_check_repeat_kv_passes_correct_versions(fn):
    assert check_repeat_kv(fn, verbose=False)


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda x, n: torch.cat([x] * n, dim=1), "interleaved"),
        (lambda x, n: torch.stack([x[:, h] for _ in range(n) for h in range(x.shape[1])], dim=1), "interleaved"),
        (lambda x, n: torch.stack([x[:, :, s] for s in range(x.shape[2]) for _ in range(n)], dim=2), "sequence axis"),
        (lambda x, n: x[..., None].expand(*x.shape, n).reshape(*x.shape[:-1], -1), "last axis"),
    ],
)
def test_check_repeat_kv_names_the_mistake(fn, hint):
    result = check_repeat_kv(fn, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message
