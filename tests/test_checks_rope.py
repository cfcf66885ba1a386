"""The chapter 3 checks: pass on the reference, fail with the right hint on independently written mistakes."""

from __future__ import annotations

import math

import pytest
import torch

from ava_edu.checks import check_apply_rope, check_rope_cos_sin
from ava_edu.rope import apply_rope, rope_cos_sin

# --- wrong rope_cos_sin, written without the checks' helpers --------------------------------------


def _angles_loop(positions, head_dim, theta, exponent):
    """Angles (..., head_dim/2) computed with a Python loop over pairs; `exponent(i)` is the power of theta."""
    speeds = torch.tensor([theta ** exponent(i) for i in range(head_dim // 2)], dtype=torch.float32)
    return positions.float().unsqueeze(-1) * speeds


def cos_sin_exponent_i_over_d(positions, head_dim, theta=10000.0):
    angles = _angles_loop(positions, head_dim, theta, lambda i: -i / head_dim)
    angles = torch.cat((angles, angles), -1)
    return torch.cos(angles), torch.sin(angles)


def cos_sin_exponent_i_over_d_numpy_style(positions, head_dim, theta=10000.0):
    inv = 1.0 / theta ** (torch.arange(0, head_dim // 2).float() / head_dim)
    angles = torch.einsum("...s,f->...sf", positions.float(), inv).repeat(*([1] * positions.dim()), 2)
    return angles.cos(), angles.sin()


def cos_sin_positive_exponent(positions, head_dim, theta=10000.0):
    angles = _angles_loop(positions, head_dim, theta, lambda i: 2 * i / head_dim)
    return torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)


def cos_sin_not_duplicated(positions, head_dim, theta=10000.0):
    angles = _angles_loop(positions, head_dim, theta, lambda i: -2 * i / head_dim)
    return angles.cos(), angles.sin()


def cos_sin_not_duplicated_via_frequencies(positions, head_dim, theta=10000.0):
    freqs = torch.exp(-math.log(theta) * torch.arange(0, head_dim, 2).float() / head_dim)
    angles = positions[..., None] * freqs
    return torch.cos(angles), torch.sin(angles)


def cos_sin_interleaved(positions, head_dim, theta=10000.0):
    angles = _angles_loop(positions, head_dim, theta, lambda i: -2 * i / head_dim)
    angles = torch.stack([angles, angles], dim=-1).reshape(*angles.shape[:-1], head_dim)
    return angles.cos(), angles.sin()


def cos_sin_positions_from_zero(positions, head_dim, theta=10000.0):
    seq = positions.shape[-1]
    fresh = torch.arange(seq).expand_as(positions)
    angles = _angles_loop(fresh, head_dim, theta, lambda i: -2 * i / head_dim)
    angles = torch.cat((angles, angles), -1)
    return angles.cos(), angles.sin()


def cos_sin_positions_from_zero_via_reference(positions, head_dim, theta=10000.0):
    return rope_cos_sin(positions - positions[..., :1], head_dim, theta)


def cos_sin_swapped(positions, head_dim, theta=10000.0):
    cos, sin = rope_cos_sin(positions, head_dim, theta)
    return sin, cos


def cos_sin_not_written(positions, head_dim, theta=10000.0):
    raise NotImplementedError("your code here")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (cos_sin_exponent_i_over_d, "Check the exponent"),
        (cos_sin_exponent_i_over_d_numpy_style, "Check the exponent"),
        (cos_sin_positive_exponent, "grow with the pair index"),
        (cos_sin_not_duplicated, "head_dim/2 columns"),
        (cos_sin_not_duplicated_via_frequencies, "head_dim/2 columns"),
        (cos_sin_interleaved, "interleaved layout"),
        (cos_sin_positions_from_zero, "counted positions from 0"),
        (cos_sin_positions_from_zero_via_reference, "counted positions from 0"),
        (cos_sin_swapped, "cos and sin are swapped"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_check_rope_cos_sin_names_the_mistake(wrong, hint):
    result = check_rope_cos_sin(wrong, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


def test_check_rope_cos_sin_passes_the_reference_and_an_independent_solution():
    def independent(positions, head_dim, theta=10000.0):
        angles = _angles_loop(positions, head_dim, theta, lambda i: -2 * i / head_dim)
        angles = torch.cat([angles, angles], dim=-1)
        return torch.cos(angles), torch.sin(angles)

    assert check_rope_cos_sin(rope_cos_sin, verbose=False)
    assert check_rope_cos_sin(independent, verbose=False)
    assert "not written yet" in check_rope_cos_sin(cos_sin_not_written, verbose=False).message


# --- wrong apply_rope ---------------------------------------------------------------------------


def _split(x):
    half = x.shape[-1] // 2
    return x[..., :half], x[..., half:]


def rope_interleaved_complex(x, cos, sin):
    """Meta's complex-number version, fed with the first half of our tables."""
    half = x.shape[-1] // 2
    angles = torch.atan2(sin[..., :half], cos[..., :half]).unsqueeze(1)
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], half, 2).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).reshape(x.shape)


def rope_interleaved_loop(x, cos, sin):
    out = x.clone()
    half = x.shape[-1] // 2
    for i in range(half):
        c, s = cos[:, None, :, i], sin[:, None, :, i]
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        out[..., 2 * i], out[..., 2 * i + 1] = a * c - b * s, a * s + b * c
    return out


def rope_sign_swapped(x, cos, sin):
    a, b = _split(x)
    turned = torch.cat((b, -a), dim=-1)
    return x * cos[:, None] + turned * sin[:, None]


def rope_sign_swapped_explicit(x, cos, sin):
    a, b = _split(x)
    c, s = _split(cos[:, None])[0], _split(sin[:, None])[0]
    return torch.cat((a * c + b * s, b * c - a * s), dim=-1)


def rope_halves_swapped_without_sign(x, cos, sin):
    a, b = _split(x)
    return x * cos.unsqueeze(1) + torch.cat([b, a], -1) * sin.unsqueeze(1)


def rope_forgot_rotate_half(x, cos, sin):
    return x * (cos + sin).unsqueeze(1)


def rope_cos_sin_roles_swapped(x, cos, sin):
    a, b = _split(x)
    return x * sin.unsqueeze(1) + torch.cat([-b, a], -1) * cos.unsqueeze(1)


def rope_no_head_axis(x, cos, sin):
    a, b = _split(x)
    return x * cos + torch.cat([-b, a], -1) * sin  # (batch, seq, d) lines up its batch axis with the heads


def rope_head_axis_in_front(x, cos, sin):
    a, b = _split(x)
    cos, sin = cos[None], sin[None]
    return torch.cat([a * _split(cos)[0] - b * _split(sin)[0], b * _split(cos)[1] + a * _split(sin)[1]], dim=-1)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (rope_interleaved_complex, "interleaved layout"),
        (rope_interleaved_loop, "interleaved layout"),
        (rope_sign_swapped, "turns the wrong way"),
        (rope_sign_swapped_explicit, "turns the wrong way"),
        (rope_halves_swapped_without_sign, "needs a minus sign"),
        (rope_forgot_rotate_half, "quarter-turned vector"),
        (rope_cos_sin_roles_swapped, "other way round"),
        (rope_no_head_axis, "head axis"),
        (rope_head_axis_in_front, "head axis"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_check_apply_rope_names_the_mistake(wrong, hint):
    result = check_apply_rope(wrong, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


def test_check_apply_rope_reports_an_error_and_passes_good_solutions():
    result = check_apply_rope(lambda x, cos, sin: x @ cos, verbose=False)
    assert not result and "raised RuntimeError" in result.message

    def independent(x, cos, sin):
        a, b = _split(x)
        c, s = _split(cos)[0][:, None], _split(sin)[0][:, None]
        return torch.cat([a * c - b * s, b * c + a * s], dim=-1)

    assert check_apply_rope(apply_rope, verbose=False)
    assert check_apply_rope(independent, verbose=False)
