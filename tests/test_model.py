"""AvaForCausalLM against transformers' LlamaForCausalLM (random weights, no hub), and its error paths."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch

from ava_edu.config import AvaConfig
from ava_edu.model import AvaForCausalLM, ModelError, RMSNorm, SwiGLU, from_hf_config, to_hf_config

transformers = pytest.importorskip("transformers")
VOCAB = 96


def ava_config(n_kv_heads: int = 4, tied: bool = False, **overrides) -> AvaConfig:
    values = dict(vocab_size=VOCAB, hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, intermediate_size=48)
    return AvaConfig(**{**values, "tie_embeddings": tied, **overrides})


def hf_model(n_kv_heads: int, tied: bool) -> transformers.LlamaForCausalLM:
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=n_kv_heads,
        intermediate_size=48,
        tie_word_embeddings=tied,
        rms_norm_eps=1e-6,
        rope_theta=500.0,
    )
    return transformers.LlamaForCausalLM(config).eval()


def random_ids(batch: int = 2, seq: int = 12) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq))


KINDS = [(4, False), (4, True), (2, False), (2, True)]
KIND_IDS = ["mha-untied", "mha-tied", "gqa-untied", "gqa-tied"]


@pytest.mark.parametrize(("n_kv_heads", "tied"), KINDS, ids=KIND_IDS)
def test_ava_to_hf_gives_the_same_logits(tmp_path, n_kv_heads, tied):
    ours = AvaForCausalLM(ava_config(n_kv_heads, tied)).eval()
    ours.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    theirs, info = transformers.LlamaForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    ids = random_ids()
    with torch.no_grad():
        diff = (ours(ids).logits - theirs(ids).logits).abs().max().item()
    assert diff <= 1e-4


@pytest.mark.parametrize(("n_kv_heads", "tied"), KINDS, ids=KIND_IDS)
def test_hf_to_ava_gives_the_same_logits(tmp_path, n_kv_heads, tied):
    theirs = hf_model(n_kv_heads, tied)
    theirs.save_pretrained(tmp_path)
    ours = AvaForCausalLM.from_pretrained(tmp_path).eval()
    assert ours.config.n_kv_heads == n_kv_heads and ours.config.tie_embeddings == tied
    assert ours.config.norm_eps == 1e-6 and ours.config.rope_theta == 500.0
    assert ours.num_parameters() == theirs.num_parameters()
    ids = random_ids()
    with torch.no_grad():
        diff = (ours(ids).logits - theirs(ids).logits).abs().max().item()
    assert diff <= 1e-4


def test_sharded_hf_checkpoint_loads(tmp_path):
    theirs = hf_model(2, False)
    theirs.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    ours = AvaForCausalLM.from_pretrained(tmp_path)
    ids = random_ids()
    with torch.no_grad():
        assert (ours(ids).logits - theirs(ids).logits).abs().max().item() <= 1e-4


def test_round_trip_through_our_own_format(tmp_path):
    model = AvaForCausalLM(ava_config(2, True))
    again = AvaForCausalLM.from_pretrained(model.save_pretrained(tmp_path))
    assert again.config == model.config
    assert again.lm_head.weight is again.model.embed_tokens.weight, "tied weights must stay one tensor"
    ids = random_ids()
    assert torch.equal(model(ids).logits, again(ids).logits)


def test_loss_equals_hf_and_manual_cross_entropy_ignoring_minus_100(tmp_path):
    ours = AvaForCausalLM(ava_config(2, False))
    ours.save_pretrained(tmp_path)
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path)
    ids = random_ids()
    labels = ids.clone()
    labels[0, 3:7] = -100
    labels[1, -1] = -100
    out = ours(ids, labels=labels)
    # By hand: position t predicts labels[t + 1]; ignored positions drop out of the mean.
    logits, targets = out.logits[:, :-1], labels[:, 1:]
    keep = targets != -100
    log_probs = logits.log_softmax(-1)[keep]
    manual = -log_probs.gather(-1, targets[keep][:, None]).mean()
    assert torch.allclose(out.loss, manual, atol=1e-5)
    assert torch.allclose(out.loss, theirs(input_ids=ids, labels=labels).loss, atol=1e-5)
    # The ignored labels really are ignored: changing them does not change the loss.
    assert torch.allclose(out.loss, ours(ids, labels=labels).loss)
    unignored = ours(ids, labels=ids).loss
    assert not torch.allclose(out.loss, unignored)


def test_loss_at_initialisation_is_about_ln_vocab():
    model = AvaForCausalLM(ava_config())
    ids = random_ids(4, 32)
    loss = model(ids, labels=ids).loss.item()
    assert abs(loss - math.log(VOCAB)) < 0.1


def test_left_padding_matches_hf(tmp_path):
    ours = AvaForCausalLM(ava_config(2, False)).eval()
    ours.save_pretrained(tmp_path)
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ids = random_ids(3, 10)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    mask[1, :1] = 0
    with torch.no_grad():
        a = ours(ids, attention_mask=mask).logits
        b = theirs(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    assert torch.isfinite(a).all(), "padding queries must not produce NaN"
    assert (a - b)[real].abs().max().item() <= 1e-4
    # And the mask matters: without it, the padded row's real positions see the padding and change.
    with torch.no_grad():
        unmasked = ours(ids).logits
    assert (unmasked - a)[0][real[0]].abs().max().item() > 1e-3


def test_padding_mask_of_ones_equals_no_mask():
    model = AvaForCausalLM(ava_config(2, False)).eval()
    ids = random_ids()
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, model(ids, attention_mask=torch.ones_like(ids)).logits, atol=1e-5)


def test_explicit_position_ids_equal_the_default():
    model = AvaForCausalLM(ava_config(init_std=0.2)).eval()  # larger weights: attention far from uniform
    ids = random_ids()
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids, position_ids=positions).logits)
        default = model(ids).logits
        shifted = model(ids, position_ids=positions + 5).logits
        stretched = model(ids, position_ids=positions * 2).logits
    # RoPE only sees distances: shifting every position changes nothing, stretching them does.
    assert (default - shifted).abs().max().item() < 1e-5
    assert (default - stretched).abs().max().item() > 1e-3


@pytest.mark.parametrize("pos_encoding", ["rope", "alibi"])
def test_output_attentions_manual_path_equals_sdpa(pos_encoding):
    model = AvaForCausalLM(ava_config(2, False, pos_encoding=pos_encoding)).eval()
    ids = random_ids()
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        fast = model(ids, attention_mask=mask)
        slow = model(ids, attention_mask=mask, output_attentions=True)
    assert fast.attentions is None
    assert torch.allclose(fast.logits, slow.logits, atol=1e-5)
    assert len(slow.attentions) == 2
    weights = slow.attentions[0]
    assert weights.shape == (2, 4, 12, 12)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 12), atol=1e-5)
    assert weights.triu(1).abs().max() == 0, "no position may attend to a later one"
    assert weights[0, :, 5, :3].abs().max() == 0, "no real token may attend to padding"


def test_tied_embeddings_share_one_tensor():
    model = AvaForCausalLM(ava_config(tied=True))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.num_parameters() == ava_config(tied=True).num_parameters()


def test_initialisation_is_small_and_scaled_on_residual_projections():
    config = ava_config(n_layers=8, hidden_size=128, intermediate_size=512)
    model = AvaForCausalLM(config)
    q_std = model.model.layers[0].self_attn.q_proj.weight.std().item()
    o_std = model.model.layers[0].self_attn.o_proj.weight.std().item()
    assert abs(q_std - config.init_std) < 0.1 * config.init_std
    assert abs(o_std - config.init_std / math.sqrt(2 * config.n_layers)) < 0.1 * o_std
    assert torch.equal(model.model.norm.weight, torch.ones(128))


def test_rmsnorm_and_swiglu_match_hf_modules():
    from transformers.models.llama.modeling_llama import LlamaMLP, LlamaRMSNorm

    x = torch.randn(2, 5, 32)
    ours, theirs = RMSNorm(32, eps=1e-6), LlamaRMSNorm(32, eps=1e-6)
    ours.weight.data.uniform_(0.5, 1.5)
    theirs.weight.data.copy_(ours.weight.data)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    mlp = SwiGLU(32, 48)
    hf_mlp = LlamaMLP(transformers.LlamaConfig(hidden_size=32, intermediate_size=48))
    hf_mlp.load_state_dict(mlp.state_dict())
    assert torch.allclose(mlp(x), hf_mlp(x), atol=1e-6)


def test_alibi_model_refuses_to_export(tmp_path):
    model = AvaForCausalLM(ava_config(pos_encoding="alibi"))
    with pytest.raises(ModelError, match="alibi.*RoPE"):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_loading_never_unpickles(tmp_path, monkeypatch):
    AvaForCausalLM(ava_config(2, True)).save_pretrained(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained must not unpickle anything")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    model = AvaForCausalLM.from_pretrained(tmp_path)
    assert model.config.tie_embeddings
    with pytest.raises(AssertionError):  # the trap works
        torch.load(tmp_path / "model.safetensors")


def test_missing_directory_or_config_is_named(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        AvaForCausalLM.from_pretrained(tmp_path / "nowhere")
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ModelError, match="config.json.*not found"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_missing_weights_file_is_named(tmp_path):
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_corrupt_json_is_named(tmp_path):
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 32,')
    with pytest.raises(ModelError, match="config.json.*not valid JSON"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_config_with_missing_or_bad_fields_is_named(tmp_path):
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**values, "num_attention_heads": 5}))
    with pytest.raises(ModelError, match="config.json.*hidden_size"):
        AvaForCausalLM.from_pretrained(tmp_path)
    del values["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(ModelError, match="config.json.*hidden_size"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_unsupported_llama_features_are_refused():
    values = to_hf_config(ava_config())
    with pytest.raises(ModelError, match="attention_bias"):
        from_hf_config({**values, "attention_bias": True})
    with pytest.raises(ModelError, match="mistral"):
        from_hf_config({**values, "model_type": "mistral"})
    assert from_hf_config(values) == ava_config()


def test_corrupt_safetensors_is_named(tmp_path):
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelError, match="model.safetensors"):
        AvaForCausalLM.from_pretrained(tmp_path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="model.safetensors"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_weights_of_the_wrong_shape_are_named(tmp_path):
    AvaForCausalLM(ava_config(intermediate_size=64)).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**values, "intermediate_size": 48}))
    with pytest.raises(ModelError, match="model.safetensors.*mlp"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_missing_weights_are_named(tmp_path):
    AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**values, "num_hidden_layers": 3}))
    with pytest.raises(ModelError, match="missing.*layers.2"):
        AvaForCausalLM.from_pretrained(tmp_path)


def test_save_is_atomic(tmp_path, monkeypatch):
    import ava_edu.model as model_module

    model = AvaForCausalLM(ava_config())
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def half_write(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(model_module, "save_file", half_write)
    with pytest.raises(OSError, match="disk full"):
        AvaForCausalLM(ava_config()).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"], "temp file left"
    assert (tmp_path / "model.safetensors").read_bytes() == before, "the old checkpoint was damaged"


@pytest.mark.parametrize("bad", [torch.tensor([[0, VOCAB]]), torch.tensor([[-1, 2]])], ids=["too-big", "negative"])
def test_ids_outside_the_vocabulary_are_refused(bad):
    model = AvaForCausalLM(ava_config())
    with pytest.raises(ModelError, match=f"vocab_size is {VOCAB}"):
        model(bad)


def test_wrong_input_shapes_are_refused():
    model = AvaForCausalLM(ava_config())
    with pytest.raises(ModelError, match="input_ids"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ModelError, match="input_ids"):
        model(torch.rand(1, 3))
    ids = random_ids()
    with pytest.raises(ModelError, match="labels"):
        model(ids, labels=ids[:, :-1])


def test_the_model_learns_a_batch():
    torch.manual_seed(0)
    model = AvaForCausalLM(ava_config())
    ids = random_ids(2, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model(ids, labels=ids).loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3 * first
