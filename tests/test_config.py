"""AvaConfig: presets hit their advertised sizes, validation names the field, counts match built models."""

from __future__ import annotations

import json

import pytest
import torch

from ava_edu.config import PRESETS, AvaConfig, ConfigError
from ava_edu.course import AvaError
from ava_edu.model import AvaForCausalLM

# The size each preset's name promises, in parameters (with the default 32k vocabulary).
ADVERTISED = {
    "100m": 100e6,
    "1b": 1e9,
    "3b": 3e9,
    "7b": 7e9,
    "13b": 13e9,
    "30b": 30e9,
    "70b": 70e9,
    "100b": 100e9,
}


def test_every_preset_has_an_expected_size():
    assert set(PRESETS) == {"tiny", "mini", *ADVERTISED}


@pytest.mark.parametrize("name", sorted(ADVERTISED, key=ADVERTISED.get))
def test_large_presets_are_within_five_percent_of_their_name(name):
    with torch.device("meta"):
        model = AvaForCausalLM(AvaConfig.from_preset(name))
    count = model.num_parameters()
    assert abs(count / ADVERTISED[name] - 1) <= 0.05, f"{name}: {count / 1e9:.2f}B parameters"


def test_lesson_presets_fit_a_laptop():
    with torch.device("meta"):
        tiny = AvaForCausalLM(AvaConfig.from_preset("tiny")).num_parameters()
        mini = AvaForCausalLM(AvaConfig.from_preset("mini")).num_parameters()
    assert 1e6 <= tiny <= 5e6
    assert 15e6 <= mini <= 30e6


@pytest.mark.parametrize("name", list(PRESETS))
def test_num_parameters_from_the_config_equals_the_built_model(name):
    config = AvaConfig.from_preset(name)
    with torch.device("meta"):
        model = AvaForCausalLM(config)
    # Count independently of both num_parameters methods: unique tensors by identity.
    unique = {id(p): p.numel() for p in model.parameters()}
    assert config.num_parameters() == sum(unique.values()) == model.num_parameters()


def test_untied_preset_counts_the_head_separately():
    tied = AvaConfig.from_preset("tiny", tie_embeddings=True)
    untied = AvaConfig.from_preset("tiny", tie_embeddings=False)
    assert untied.num_parameters() - tied.num_parameters() == tied.vocab_size * tied.hidden_size


def test_preset_names_are_case_insensitive_and_accept_overrides():
    config = AvaConfig.from_preset("TINY", vocab_size=512)
    assert config.vocab_size == 512
    assert config.hidden_size == PRESETS["tiny"]["hidden_size"]


def test_unknown_preset_lists_the_names():
    with pytest.raises(ConfigError) as info:
        AvaConfig.from_preset("huge")
    message = str(info.value)
    assert "huge" in message
    for name in PRESETS:
        assert name in message


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (dict(hidden_size=100, n_heads=3), "hidden_size"),
        (dict(hidden_size=96, n_heads=6, n_kv_heads=4), "n_kv_heads"),
        (dict(vocab_size=-5), "vocab_size"),
        (dict(n_layers=0), "n_layers"),
        (dict(hidden_size=-64), "hidden_size"),
        (dict(norm_eps=-1e-5), "norm_eps"),
        (dict(rope_theta=0.0), "rope_theta"),
        (dict(init_std=-0.02), "init_std"),
        (dict(n_heads=2.5), "n_heads"),
        (dict(vocab_size=True), "vocab_size"),
        (dict(pos_encoding="learned"), "pos_encoding"),
        (dict(tie_embeddings="yes"), "tie_embeddings"),
        (dict(hidden_size=36, n_heads=4), "head_dim"),  # head_dim 9 is odd: RoPE rotates pairs
    ],
)
def test_validation_errors_name_the_field(fields, named):
    with pytest.raises(ConfigError, match=named):
        AvaConfig(**fields)


def test_odd_head_dim_is_fine_without_rope():
    config = AvaConfig(hidden_size=36, n_heads=4, pos_encoding="alibi")
    assert config.head_dim == 9


def test_config_error_is_an_ava_error_and_a_value_error():
    with pytest.raises(AvaError):
        AvaConfig(n_layers=-1)
    with pytest.raises(ValueError):
        AvaConfig(n_layers=-1)


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="n_layer") as info:
        AvaConfig.from_dict({"n_layer": 4})
    assert "n_layers" in str(info.value), "the message should list the known fields"


def test_defaults_fill_kv_heads_and_intermediate_size():
    config = AvaConfig(hidden_size=256, n_heads=4)
    assert config.n_kv_heads == 4
    assert config.intermediate_size % 64 == 0
    assert config.intermediate_size >= 8 * 256 / 3


def test_to_dict_round_trips_through_json():
    config = AvaConfig.from_preset("mini", vocab_size=4096)
    again = AvaConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
