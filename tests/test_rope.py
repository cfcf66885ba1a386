"""Rotary position embeddings and ALiBi: parity with Hugging Face, the relative-position property, offsets."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LlamaConfig
from transformers.models.bloom.modeling_bloom import build_alibi_tensor
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

from ava_edu.attention import Attention
from ava_edu.config import AvaConfig
from ava_edu.model import AvaForCausalLM
from ava_edu.rope import (
    RopeError,
    RotaryEmbedding,
    alibi_bias,
    alibi_slopes,
    apply_rope,
    rope_cos_sin,
    rope_inverse_frequencies,
    rotate_half,
)


def _hf_rotary(head_dim: int, theta: float) -> LlamaRotaryEmbedding:
    n_heads = 3
    config = LlamaConfig(hidden_size=head_dim * n_heads, num_attention_heads=n_heads, rope_theta=theta)
    assert config.rope_parameters["rope_theta"] == theta, "transformers did not take our theta"
    return LlamaRotaryEmbedding(config)


# --- parity with Hugging Face Llama -------------------------------------------------------------


@pytest.mark.parametrize("head_dim", [2, 8, 32, 64, 128])
@pytest.mark.parametrize("theta", [10000.0, 500000.0, 100.0])
def test_cos_sin_and_rotation_equal_hugging_face(head_dim, theta):
    position_ids = torch.stack([torch.arange(12), torch.arange(1000, 1012), torch.randint(0, 4096, (12,))])
    q, k = torch.randn(3, 5, 12, head_dim), torch.randn(3, 5, 12, head_dim)
    hf_cos, hf_sin = _hf_rotary(head_dim, theta)(q, position_ids)
    cos, sin = RotaryEmbedding(head_dim, theta)(position_ids)
    assert cos.shape == (3, 12, head_dim) and cos.dtype == torch.float32
    torch.testing.assert_close(cos, hf_cos, rtol=0, atol=1e-6)
    torch.testing.assert_close(sin, hf_sin, rtol=0, atol=1e-6)
    hf_q, hf_k = apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    torch.testing.assert_close(apply_rope(q, cos, sin), hf_q, rtol=0, atol=1e-6)
    torch.testing.assert_close(apply_rope(k, cos, sin), hf_k, rtol=0, atol=1e-6)


def test_functional_tables_equal_the_module_and_hugging_face_inverse_frequencies():
    position_ids = torch.arange(7, 30)[None]
    hf = _hf_rotary(48, 20000.0)
    torch.testing.assert_close(rope_inverse_frequencies(48, 20000.0), hf.inv_freq, rtol=0, atol=0)
    for got, want in zip(rope_cos_sin(position_ids, 48, 20000.0), RotaryEmbedding(48, 20000.0)(position_ids), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_rotation_in_bfloat16_matches_hugging_face():
    q = torch.randn(1, 2, 6, 16, dtype=torch.bfloat16)
    position_ids = torch.arange(6)[None]
    hf_cos, hf_sin = _hf_rotary(16, 10000.0)(q, position_ids)  # HF casts the tables to q's dtype
    cos, sin = RotaryEmbedding(16)(position_ids)
    out = apply_rope(q, cos, sin)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, apply_rotary_pos_emb(q, q, hf_cos, hf_sin)[0])


# --- properties of the rotation ------------------------------------------------------------------


def _rotate(vector: torch.Tensor, position: int, theta: float) -> torch.Tensor:
    cos, sin = rope_cos_sin(torch.tensor([[position]]), vector.shape[-1], theta)
    return apply_rope(vector.view(1, 1, 1, -1), cos, sin).flatten()


@settings(max_examples=60, deadline=None)
@given(
    half=st.integers(1, 16),
    m=st.integers(0, 2000),
    n=st.integers(0, 2000),
    shift=st.integers(-2000, 2000),
    theta=st.sampled_from([100.0, 10000.0, 500000.0]),
    seed=st.integers(0, 2**16),
)
def test_score_depends_only_on_the_offset(half, m, n, shift, theta, seed):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 2 * half, generator=generator, dtype=torch.float64)
    shifted_m, shifted_n = m + shift, n + shift
    if shifted_m < 0 or shifted_n < 0:
        shifted_m, shifted_n = m - shift, n - shift
    if shifted_m < 0 or shifted_n < 0:
        shifted_m, shifted_n = m, n
    score = _rotate(q, m, theta) @ _rotate(k, n, theta)
    shifted = _rotate(q, shifted_m, theta) @ _rotate(k, shifted_n, theta)
    # float32 angles up to ~4000 radians carry an absolute error of ~2e-4
    assert abs(float(score - shifted)) <= 2e-3 * (1 + float(q.norm() * k.norm()))


def test_score_is_not_absolute_position_invariant_without_the_offset():
    """The property test above could pass on a no-op rotation; this one could not."""
    q, k = torch.randn(2, 16)
    assert abs(float(_rotate(q, 5, 10000.0) @ _rotate(k, 2, 10000.0) - _rotate(q, 5, 10000.0) @ _rotate(k, 4, 10000.0))) > 1e-3


@settings(max_examples=40, deadline=None)
@given(half=st.integers(1, 32), position=st.integers(0, 100000), seed=st.integers(0, 2**16))
def test_rotation_preserves_norms(half, position, seed):
    x = torch.randn(2 * half, generator=torch.Generator().manual_seed(seed))
    rotated = _rotate(x, position, 10000.0)
    assert math.isclose(float(rotated.norm()), float(x.norm()), rel_tol=1e-5)


def test_position_zero_is_the_identity_and_rotate_half_is_a_quarter_turn():
    x = torch.randn(1, 2, 1, 8)
    cos, sin = rope_cos_sin(torch.zeros(1, 1, dtype=torch.long), 8)
    torch.testing.assert_close(apply_rope(x, cos, sin), x)
    torch.testing.assert_close(rotate_half(rotate_half(x)), -x)
    assert float((rotate_half(x) * x).sum()) == pytest.approx(0.0, abs=1e-6)


def test_matches_the_interleaved_complex_formulation_up_to_a_permutation():
    head_dim, seq, theta = 16, 9, 10000.0
    x = torch.randn(seq, head_dim, dtype=torch.float64)
    positions = torch.arange(3, 3 + seq)
    # Meta's formulation, written independently: pairs (2i, 2i+1) as complex numbers.
    freqs = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    rotations = torch.polar(torch.ones(seq, head_dim // 2, dtype=torch.float64), positions[:, None] * freqs)
    expected = torch.view_as_real(torch.view_as_complex(x.reshape(seq, -1, 2).contiguous()) * rotations).flatten(-2)
    perm = torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])
    cos, sin = rope_cos_sin(positions[None], head_dim, theta)
    got = apply_rope(x[None, None, :, perm].float(), cos, sin)[0, 0]
    torch.testing.assert_close(got, expected[:, perm].float(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("offset", [0, 1, 17, 4000])
def test_offset_positions_are_a_slice_of_a_longer_table(offset):
    length, rotary = 6, RotaryEmbedding(32)
    long_cos, long_sin = rotary(torch.arange(offset + length + 5)[None])
    cos, sin = rotary(torch.arange(offset, offset + length)[None])
    assert torch.equal(cos, long_cos[:, offset : offset + length])
    assert torch.equal(sin, long_sin[:, offset : offset + length])


def test_each_sequence_of_a_batch_uses_its_own_positions():
    rotary = RotaryEmbedding(8)
    cos, _ = rotary(torch.stack([torch.arange(4), torch.arange(10, 14)]))
    torch.testing.assert_close(cos[1], rotary(torch.arange(10, 14)[None])[0][0])
    assert not torch.allclose(cos[0], cos[1])


def test_rotary_buffer_is_not_saved_and_odd_head_dim_is_refused():
    assert "inv_freq" not in RotaryEmbedding(8).state_dict()
    with pytest.raises(RopeError, match="head_dim"):
        RotaryEmbedding(7)


# --- ALiBi ---------------------------------------------------------------------------------------


def _paper_slopes(n: int) -> list[float]:
    """The slope rule from the ALiBi authors' code (ofirpress/attention_with_linear_biases), written independently."""

    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + _paper_slopes(2 * closest)[0::2][: n - closest]


def test_alibi_slopes_for_8_heads_are_the_papers():
    assert alibi_slopes(8).tolist() == [1 / 2**i for i in range(1, 9)]


@pytest.mark.parametrize("n_heads", [1, 2, 3, 5, 6, 7, 12, 16, 20, 24, 40, 64])
def test_alibi_slopes_follow_the_paper_and_bloom(n_heads):
    torch.testing.assert_close(alibi_slopes(n_heads), torch.tensor(_paper_slopes(n_heads)), rtol=1e-6, atol=0)
    # BLOOM's bias is slope * key position; its value at key position 1 is the slope itself.
    bloom = build_alibi_tensor(torch.ones(1, 4), n_heads, torch.float32)
    torch.testing.assert_close(alibi_slopes(n_heads), bloom[:, 0, 1], rtol=1e-6, atol=0)


def test_alibi_bias_is_causal_and_linear_in_distance():
    n_heads, seq = 4, 7
    bias = alibi_bias(n_heads, torch.arange(seq), torch.arange(seq))
    assert bias.shape == (n_heads, seq, seq)
    future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    assert torch.isneginf(bias[:, future]).all()
    assert torch.isfinite(bias[:, ~future]).all()
    slopes = alibi_slopes(n_heads)
    for i in range(seq):
        for j in range(i + 1):
            torch.testing.assert_close(bias[:, i, j], -slopes * (i - j))


def test_alibi_bias_with_offset_queries_and_softmax_equals_bloom():
    """A KV-cache step: queries at the last positions. ALiBi rows differ from BLOOM's by a constant, so softmax agrees."""
    n_heads, k_len, q_len = 6, 10, 3
    bias = alibi_bias(n_heads, torch.arange(k_len - q_len, k_len), torch.arange(k_len))
    full = alibi_bias(n_heads, torch.arange(k_len), torch.arange(k_len))
    assert torch.equal(bias, full[:, -q_len:])
    bloom = build_alibi_tensor(torch.ones(1, k_len), n_heads, torch.float32)[:, 0]  # (heads, keys)
    mask = torch.ones(k_len, k_len, dtype=torch.bool).tril()
    bloom_full = bloom[:, None, :].expand(n_heads, k_len, k_len).masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(full.softmax(-1), bloom_full.softmax(-1))


def test_alibi_refuses_zero_heads():
    with pytest.raises(RopeError, match="n_heads"):
        alibi_slopes(0)


def _tiny_alibi_model() -> AvaForCausalLM:
    config = AvaConfig(vocab_size=64, hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=64, pos_encoding="alibi")
    return AvaForCausalLM(config)


def test_alibi_model_sdpa_path_equals_manual_path():
    model = _tiny_alibi_model().eval()
    ids = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        fast = model(ids).logits
        manual = model(ids, output_attentions=True)
    torch.testing.assert_close(fast, manual.logits, rtol=1e-5, atol=1e-5)
    weights = manual.attentions[0]
    assert torch.all(weights.triu(1) == 0), "ALiBi's bias must also mask the future"


def test_alibi_attention_layer_is_causal():
    layer = Attention(hidden_size=32, n_heads=4)
    x = torch.randn(1, 6, 32)
    bias = alibi_bias(4, torch.arange(6), torch.arange(6))[None]
    out, _ = layer(x, bias=bias)
    out_prefix, _ = layer(x[:, :4], bias=bias[..., :4, :4])
    torch.testing.assert_close(out[:, :4], out_prefix, rtol=1e-5, atol=1e-6)


def test_tiny_alibi_model_trains():
    model = _tiny_alibi_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = torch.arange(32).repeat(4, 2)[:, :24] % 64  # a simple predictable pattern
    losses = []
    for _ in range(15):
        loss = model(batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
