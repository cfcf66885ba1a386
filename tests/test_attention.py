"""Attention (chapter 2): loops, vectorised and fused paths agree; masks, GQA and causality; HF as a peer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaAttention
from transformers.models.llama.modeling_llama import repeat_kv as hf_repeat_kv

from ava_edu.attention import Attention, _combine, attention_loops, attention_manual, causal_mask, repeat_kv
from ava_edu.rope import alibi_bias, rope_cos_sin

HEAD_SHAPES = [(4, 4), (4, 2), (6, 3), (4, 1)]  # (n_heads, n_kv_heads): MHA, GQA, GQA, MQA


def _padding_mask(seq: int) -> torch.Tensor:
    """(2, 1, seq, seq) boolean mask: batch 0 unpadded, batch 1 with two left-padding tokens (that see themselves)."""
    keep = torch.tensor([[True] * seq, [False, False] + [True] * (seq - 2)])
    mask = (causal_mask(seq)[None] & keep[:, None, :]) | torch.eye(seq, dtype=torch.bool)
    return mask[:, None]


def test_loops_equal_vectorised_and_sdpa_for_one_head():
    q, k, v = torch.randn(3, 9, 16).unbind(0)
    loops = attention_loops(q, k, v)
    manual, _ = attention_manual(q, k, v)
    fused = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
    assert (loops - manual).abs().max() <= 1e-5
    assert (loops - fused).abs().max() <= 1e-5


def test_attention_manual_matches_an_independent_formula_per_head():
    q, k, v = torch.randn(3, 2, 3, 7, 8).unbind(0)
    out, weights = attention_manual(q, k, v)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(8)
    scores = scores + torch.full((7, 7), float("-inf")).triu(1)
    expected = scores.softmax(-1)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(out, torch.einsum("bhqk,bhkd->bhqd", expected, v), atol=1e-6)
    # head (1, 2) equals the loop version on that slice
    assert torch.allclose(out[1, 2], attention_loops(q[1, 2], k[1, 2], v[1, 2]), atol=1e-6)


@pytest.mark.parametrize(("n_heads", "n_kv_heads"), HEAD_SHAPES)
@pytest.mark.parametrize("masking", ["causal", "padding", "bias", "bias+padding"])
def test_module_sdpa_path_equals_manual_path(n_heads, n_kv_heads, masking):
    seq = 8
    attn = Attention(hidden_size=n_heads * 8, n_heads=n_heads, n_kv_heads=n_kv_heads)
    x = torch.randn(2, seq, n_heads * 8)
    positions = torch.arange(seq)
    kwargs = {}
    if "padding" in masking:
        kwargs["mask"] = _padding_mask(seq)
    if "bias" in masking:
        kwargs["bias"] = alibi_bias(n_heads, positions, positions)[None]
    fast, none = attn(x, **kwargs)
    slow, weights = attn(x, output_attentions=True, **kwargs)
    assert none is None and weights.shape == (2, n_heads, seq, seq)
    assert (fast - slow).abs().max() <= 1e-5
    assert torch.isfinite(fast).all()


def test_padding_mask_hides_padded_keys():
    attn = Attention(hidden_size=16, n_heads=2, n_kv_heads=1)
    _, weights = attn(torch.randn(2, 6, 16), mask=_padding_mask(6), output_attentions=True)
    assert (weights[1, :, 2:, :2] == 0).all(), "real tokens must give padding zero weight"
    assert (weights[0].triu(1) == 0).all()


def test_combine_turns_disallowed_positions_into_minus_infinity():
    mask = causal_mask(3)
    bias = torch.arange(9.0).view(3, 3)
    combined = _combine(mask, bias, torch.float32)
    assert torch.equal(combined[mask], bias[mask])
    assert torch.isneginf(combined[~mask]).all()
    assert _combine(mask, None, torch.float32) is mask
    assert _combine(None, None, torch.float32) is None


def test_causal_mask_square_and_with_a_longer_key_history():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    # two new queries at absolute positions 3 and 4 over five keys (a KV cache)
    assert torch.equal(causal_mask(2, 5), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).bool())
    for q_len, k_len in [(1, 7), (3, 4), (5, 5)]:
        mask = causal_mask(q_len, k_len)
        for i in range(q_len):
            position = k_len - q_len + i
            assert mask[i].tolist() == [j <= position for j in range(k_len)]


def test_cached_queries_attend_like_the_full_sequence():
    """Queries for the last 2 positions against all keys give the last 2 rows of the full attention."""
    q, k, v = torch.randn(3, 1, 2, 6, 8).unbind(0)
    full, _ = attention_manual(q, k, v)
    tail, _ = attention_manual(q[:, :, -2:], k, v)
    assert torch.allclose(tail, full[:, :, -2:], atol=1e-6)


@pytest.mark.parametrize("n_rep", [1, 2, 3, 4])
def test_repeat_kv_equals_transformers(n_rep):
    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(repeat_kv(x, n_rep), hf_repeat_kv(x, n_rep))


@pytest.mark.parametrize(("n_heads", "n_kv_heads"), HEAD_SHAPES)
def test_module_equals_transformers_llama_attention_with_rope(n_heads, n_kv_heads):
    hidden, seq = n_heads * 8, 9
    config = LlamaConfig(hidden_size=hidden, num_attention_heads=n_heads, num_key_value_heads=n_kv_heads)
    config._attn_implementation = "eager"
    peer = LlamaAttention(config, layer_idx=0).eval()
    ours = Attention(hidden, n_heads, n_kv_heads)
    ours.load_state_dict(peer.state_dict())
    x = torch.randn(2, seq, hidden)
    cos, sin = rope_cos_sin(torch.arange(seq).expand(2, seq), 8)
    additive = torch.zeros(seq, seq).masked_fill(~causal_mask(seq), float("-inf"))[None, None]
    with torch.no_grad():
        peer_out, peer_weights = peer(x, position_embeddings=(cos, sin), attention_mask=additive)
        fast, _ = ours(x, cos, sin)
        slow, weights = ours(x, cos, sin, output_attentions=True)
    assert (fast - peer_out).abs().max() <= 1e-5
    assert (slow - peer_out).abs().max() <= 1e-5
    assert torch.allclose(weights, peer_weights, atol=1e-6)


def test_weights_are_distributions_with_nothing_above_the_diagonal():
    attn = Attention(hidden_size=32, n_heads=4, n_kv_heads=2)
    _, weights = attn(torch.randn(3, 10, 32), output_attentions=True)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 10), atol=1e-6)
    assert (weights.triu(diagonal=1) == 0).all()
    assert (weights[..., causal_mask(10)] > 0).all(), "every allowed key gets some weight"


@settings(max_examples=25, deadline=None)
@given(
    seq=st.integers(2, 12),
    changed=st.data(),
    heads=st.sampled_from(HEAD_SHAPES),
    fused=st.booleans(),
)
def test_changing_a_future_token_leaves_earlier_outputs_unchanged(seq, changed, heads, fused):
    n_heads, n_kv_heads = heads
    torch.manual_seed(seq)
    attn = Attention(hidden_size=n_heads * 4, n_heads=n_heads, n_kv_heads=n_kv_heads)
    x = torch.randn(1, seq, n_heads * 4)
    t = changed.draw(st.integers(1, seq - 1), label="changed position")
    y = x.clone()
    y[0, t] += torch.randn(n_heads * 4) + 1.0
    with torch.no_grad():
        before, _ = attn(x, output_attentions=not fused)
        after, _ = attn(y, output_attentions=not fused)
    assert torch.allclose(before[0, :t], after[0, :t], atol=1e-6)
    assert not torch.allclose(before[0, t], after[0, t], atol=1e-6), "the changed token's own output must change"
