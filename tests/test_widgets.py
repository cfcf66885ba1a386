"""The attention-map widget (chapter 2), built headlessly: controls change what is drawn, errors are clear."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from ava_edu.config import AvaConfig
from ava_edu.course import AvaError
from ava_edu.model import AvaForCausalLM
from ava_edu.widgets import ALL_HEADS, AttentionMapWidget, WidgetError, figure_to_png, token_label

TEXT = "the cat sat on the mat"


class ByteTokenizer:
    """One token per UTF-8 byte: the smallest tokenizer with encode/decode."""

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(ids).decode("utf-8", errors="replace")


@pytest.fixture
def model():
    torch.manual_seed(0)
    config = AvaConfig(vocab_size=256, hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.5)
    return AvaForCausalLM(config).eval()  # a large init_std makes the heads differ visibly


def _reference_maps(model, text):
    ids = torch.tensor([list(text.encode("utf-8"))])
    with torch.no_grad():
        return [a[0].numpy() for a in model(ids, output_attentions=True).attentions]


def test_controls_change_the_layer_and_head_drawn(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT)
    maps = _reference_maps(model, TEXT)
    assert isinstance(widget.image, ipywidgets.Image)
    assert widget.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert (widget.layer, widget.head) == (0, 0)
    np.testing.assert_allclose(widget.attention, maps[0][0], atol=1e-6)
    seen = {bytes(widget.image.value)}
    for layer, head in [(1, 0), (1, 3), (0, 2)]:
        widget.layer_slider.value = layer
        widget.head_dropdown.value = head
        assert (widget.layer, widget.head) == (layer, head)
        np.testing.assert_allclose(widget.attention, maps[layer][head], atol=1e-6)
        png = bytes(widget.image.value)
        assert png not in seen, "a different map must give a different picture"
        seen.add(png)
    assert not np.allclose(maps[1][3], maps[0][2]), "the model's maps must differ for the test to mean anything"


def test_all_heads_shows_a_grid_of_every_head(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT, layer=1)
    single = bytes(widget.image.value)
    widget.head_dropdown.value = ALL_HEADS
    maps = _reference_maps(model, TEXT)
    assert widget.attention.shape == (4, len(TEXT), len(TEXT))
    np.testing.assert_allclose(widget.attention, maps[1], atol=1e-6)
    heatmaps = [ax for ax in widget.figure.axes if ax.images]
    assert len(heatmaps) == 4
    assert bytes(widget.image.value) != single


def test_there_is_one_image_whose_value_changes(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT)
    images = [child for child in _walk(widget.box) if isinstance(child, ipywidgets.Image)]
    assert images == [widget.image]
    before = bytes(widget.image.value)
    widget.select(layer=1, head=ALL_HEADS)
    assert [c for c in _walk(widget.box) if isinstance(c, ipywidgets.Image)] == [widget.image]
    assert bytes(widget.image.value) != before


def _walk(box):
    for child in box.children:
        yield child
        if isinstance(child, ipywidgets.Box):
            yield from _walk(child)


def test_a_new_text_reruns_the_model_and_relabels(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT)
    widget.text_box.value = "a\nb c"
    assert widget.tokens == ["a", "\n", "b", " ", "c"]
    np.testing.assert_allclose(widget.attention, _reference_maps(model, "a\nb c")[0][0], atol=1e-6)
    assert [token_label(t) for t in widget.tokens] == ["a", "↵", "b", "␣", "c"]


def test_an_empty_text_in_the_box_keeps_the_picture_and_says_why(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT)
    before = bytes(widget.image.value)
    widget.text_box.value = "   "
    assert "empty" in widget.status.value
    assert bytes(widget.image.value) == before and widget.text == TEXT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"layer": 2}, "layer 2 does not exist"), ({"head": 4}, "head 4 does not exist"), ({"layer": -1}, "layer -1")],
)
def test_out_of_range_layer_or_head_is_a_clear_error(model, kwargs, message):
    with pytest.raises(WidgetError, match=message):
        AttentionMapWidget(model, ByteTokenizer(), TEXT, **kwargs)
    widget = AttentionMapWidget(model, ByteTokenizer(), TEXT)
    with pytest.raises(WidgetError, match=message):
        widget.select(**kwargs)


def test_empty_text_and_a_model_without_attentions_are_clear_errors(model):
    with pytest.raises(WidgetError, match="empty"):
        AttentionMapWidget(model, ByteTokenizer(), "")
    assert issubclass(WidgetError, AvaError) and issubclass(WidgetError, ValueError)

    class NoMaps(torch.nn.Module):
        def forward(self, input_ids, output_attentions=False):
            return type("Out", (), {"attentions": None})()

    with pytest.raises(WidgetError, match="attentions"):
        AttentionMapWidget(NoMaps(), ByteTokenizer(), TEXT)


def test_long_texts_are_cut_to_max_tokens(model):
    widget = AttentionMapWidget(model, ByteTokenizer(), "x" * 100, max_tokens=20)
    assert widget.attention.shape == (20, 20) and len(widget.tokens) == 20
    assert "first 20 of 100" in widget.status.value


def test_works_with_the_course_tokenizer_when_available(model):
    tokenizer_module = pytest.importorskip("ava_edu.tokenizer")
    tokenizer = tokenizer_module.AvaTokenizer.train(["the cat sat on the mat"] * 4, vocab_size=270)
    model = AvaForCausalLM(AvaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=2))
    widget = AttentionMapWidget(model, tokenizer, TEXT, head=ALL_HEADS)
    ids = tokenizer.encode(TEXT)
    assert widget.tokens == [tokenizer.decode([i]) for i in ids]
    assert widget.attention.shape == (4, len(ids), len(ids))


def test_figure_to_png_uses_no_pyplot_state():
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    figure = Figure()
    figure.subplots().imshow(np.eye(3))
    assert figure_to_png(figure)[:4] == b"\x89PNG"
    assert plt.get_fignums() == open_before


def test_token_labels_make_invisible_characters_visible():
    assert token_label(" the") == "␣the"
    assert token_label("\t") == "→"
    assert token_label("") == "∅"
    assert token_label("\x00") == "\\x00"
    assert token_label("a" * 30, limit=10) == "a" * 9 + "…"
