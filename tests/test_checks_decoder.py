"""The chapter 4 checks: pass on correct code, fail with the right hint on independently written mistakes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ava_edu.checks import check_rms_norm, check_swiglu
from ava_edu.model import RMSNorm, SwiGLU

# --- correct implementations, written three ways ---------------------------------------------------


def rms_norm_module(x, weight, eps):
    norm = RMSNorm(x.shape[-1], eps)
    norm.weight.data.copy_(weight)
    return norm(x).detach()


def rms_norm_functional(x, weight, eps):
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


def rms_norm_rsqrt(x, weight, eps):
    return weight * x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps)


def swiglu_module(x, w_gate, w_up, w_down):
    mlp = SwiGLU(x.shape[-1], w_gate.shape[0])
    mlp.load_state_dict({"gate_proj.weight": w_gate, "up_proj.weight": w_up, "down_proj.weight": w_down})
    return mlp(x).detach()


def swiglu_linear(x, w_gate, w_up, w_down):
    return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


def swiglu_einsum(x, w_gate, w_up, w_down):
    gate = torch.einsum("...d,fd->...f", x, w_gate)
    return torch.einsum("...f,df->...d", gate * torch.sigmoid(gate) * torch.einsum("...d,fd->...f", x, w_up), w_down)


# --- wrong rms_norm, written without the checks' helpers --------------------------------------------


def eps_outside_a(x, weight, eps):
    return weight * x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps)


def eps_outside_b(x, weight, eps):
    rms = torch.linalg.vector_norm(x, dim=-1, keepdim=True) / math.sqrt(x.shape[-1])
    return x / (rms + eps) * weight


def layer_norm_a(x, weight, eps):
    return F.layer_norm(x, (x.shape[-1],), weight, None, eps)


def layer_norm_b(x, weight, eps):
    centred = x - x.mean(-1, keepdim=True)
    return weight * centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)


def layer_norm_no_gain(x, weight, eps):
    return F.layer_norm(x, (x.shape[-1],), None, None, eps)


def wrong_axis_first(x, weight, eps):
    return weight * x * torch.rsqrt(x.pow(2).mean(0, keepdim=True) + eps)


def wrong_axis_tokens(x, weight, eps):
    ms = torch.mean(x**2, dim=-2, keepdim=True)
    return weight * (x / torch.sqrt(ms + eps))


def wrong_axis_everything(x, weight, eps):
    return weight * x / torch.sqrt((x**2).mean() + eps)


def no_weight_a(x, weight, eps):
    return F.rms_norm(x, (x.shape[-1],), None, eps)


def no_weight_b(x, weight, eps):
    return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + eps)


RMS_MISTAKES = {
    "epsilon belongs inside": [eps_outside_a, eps_outside_b],
    "LayerNorm": [layer_norm_a, layer_norm_b, layer_norm_no_gain],
    "axis": [wrong_axis_first, wrong_axis_tokens, wrong_axis_everything],
    "gain `weight` is missing": [no_weight_a, no_weight_b],
}

# --- wrong swiglu ------------------------------------------------------------------------------------


def sigmoid_gate_a(x, w_gate, w_up, w_down):
    return F.linear(torch.sigmoid(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


def sigmoid_gate_b(x, w_gate, w_up, w_down):
    gate = 1 / (1 + torch.exp(-(x @ w_gate.t())))
    return (gate * (x @ w_up.t())) @ w_down.t()


def swapped_a(x, w_gate, w_up, w_down):
    return F.linear(F.linear(x, w_gate) * F.silu(F.linear(x, w_up)), w_down)


def swapped_b(x, w_gate, w_up, w_down):
    up = torch.einsum("...d,fd->...f", x, w_up)
    return torch.einsum("...f,df->...d", up * torch.sigmoid(up) * torch.einsum("...d,fd->...f", x, w_gate), w_down)


def no_down_a(x, w_gate, w_up, w_down):
    return F.silu(F.linear(x, w_gate)) * F.linear(x, w_up)


def no_down_b(x, w_gate, w_up, w_down):
    gate = x @ w_gate.T
    return gate * torch.sigmoid(gate) * (x @ w_up.T)


SWIGLU_MISTAKES = {
    "sigmoid": [sigmoid_gate_a, sigmoid_gate_b],
    "wrong projection": [swapped_a, swapped_b],
    "down projection is missing": [no_down_a, no_down_b],
}


@pytest.mark.parametrize("fn", [rms_norm_module, rms_norm_functional, rms_norm_rsqrt])
def test_rms_norm_passes_correct_code(fn):
    result = check_rms_norm(fn, verbose=False)
    assert result, result.message


@pytest.mark.parametrize("fn", [swiglu_module, swiglu_linear, swiglu_einsum])
def test_swiglu_passes_correct_code(fn):
    result = check_swiglu(fn, verbose=False)
    assert result, result.message


@pytest.mark.parametrize(("hint", "fn"), [(h, f) for h, fns in RMS_MISTAKES.items() for f in fns], ids=lambda v: getattr(v, "__name__", v))
def test_rms_norm_mistakes_get_their_hint(hint, fn):
    result = check_rms_norm(fn, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


@pytest.mark.parametrize(("hint", "fn"), [(h, f) for h, fns in SWIGLU_MISTAKES.items() for f in fns], ids=lambda v: getattr(v, "__name__", v))
def test_swiglu_mistakes_get_their_hint(hint, fn):
    result = check_swiglu(fn, verbose=False)
    assert not result
    assert any(hint in h for h in result.hints), result.message


def test_unwritten_functions_are_reported(capsys):
    def blank(*args):
        raise NotImplementedError("your code here")

    assert not check_rms_norm(blank)
    assert not check_swiglu(blank)
    assert "not written yet" in capsys.readouterr().out


def test_an_unknown_mistake_gets_the_general_hint():
    result = check_rms_norm(lambda x, w, e: 2 * rms_norm_rsqrt(x, w, e), verbose=False)
    assert not result and "step by step" in result.hints[0]
