"""The generated data: deterministic, committed copy up to date, answers right, held-out split disjoint."""

from __future__ import annotations

import json
import platform
import random
import re

import pytest

from ava_edu.corpus import (
    WORLD,
    CorpusError,
    chat_dataset,
    generate_stories,
    georgian_text,
    pretraining_corpus,
    python_prose,
    write_datasets,
)
from tests.conftest import ROOT

DATA = ROOT / "data"
NAMES = {person.name: person for person in WORLD}
SIZE_BUDGET = 5_000_000


@pytest.fixture(scope="module")
def chat():
    return chat_dataset(seed=0)


# --- an independent reading of the questions ------------------------------------------------------


def _key_and_answer(question: str) -> tuple[tuple, str | None]:
    """(what the question is about, its answer computed from the text alone; None where WORLD decides)."""
    numbers = [int(x) for x in re.findall(r"\d+", question)]
    quoted = re.findall(r"'([a-z]+)'", question)
    pair = tuple(sorted(numbers))
    if re.search(r"\+|\bplus\b|^Add\b", question):
        return ("pair", pair), str(numbers[0] + numbers[1])
    if re.search(r"^Subtract (\d+) from (\d+)|take (\d+) away from (\d+)", question):
        return ("pair", pair), str(numbers[1] - numbers[0])
    if re.search(r" - |\bminus\b", question):
        return ("pair", pair), str(numbers[0] - numbers[1])
    if re.search(r"larger|bigger|smaller|less", question):
        wants_max = bool(re.search(r"larger|bigger", question))
        return ("pair", pair), str(max(numbers) if wants_max else min(numbers))
    if quoted:
        word = quoted[-1]
        return ("word", word), str(word.count(quoted[0]) if len(quoted) == 2 else len(word))
    names = [name for name in NAMES if re.search(rf"\b{name}\b", question)]
    if names:
        assert len(names) == 1, question
        for attribute, pattern in [("home", r"live"), ("animal", r"animal"), ("colour", r"colour"),
                                   ("food", r"food|eat"), ("friend", r"friend")]:
            if re.search(pattern, question):
                return ("fact", names[0], attribute), getattr(NAMES[names[0]], attribute)
        raise AssertionError(f"unrecognised fact question {question!r}")
    return ("identity", question), None


def _turns(conversation: dict) -> list[tuple[str, str]]:
    messages = [m for m in conversation["messages"] if m["role"] != "system"]
    return [(messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages), 2)]


def _keys(conversations: list[dict]) -> set:
    return {_key_and_answer(question)[0] for c in conversations for question, _ in _turns(c)}


# --- determinism and the committed copy ----------------------------------------------------------


def test_write_datasets_is_deterministic(tmp_path):
    first = write_datasets(tmp_path / "a", seed=0)
    second = write_datasets(tmp_path / "b", seed=0)
    other = write_datasets(tmp_path / "c", seed=1)
    assert [p.name for p in first] == [p.name for p in second]
    for a, b, c in zip(first, second, other, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        if a.name != "manifest.json":
            assert a.read_bytes() != c.read_bytes(), f"{a.name} does not depend on the seed"


def test_generators_leave_the_global_rng_alone():
    state = random.getstate()
    generate_stories(20, seed=3)
    chat_dataset(seed=3, n_train=50, n_heldout=12)
    georgian_text(20, seed=3)
    assert random.getstate() == state


def test_committed_data_equals_a_fresh_generation(tmp_path):
    fresh = {p.name: p for p in write_datasets(tmp_path, seed=0)}
    for name in ("chat_train.json", "chat_heldout.json", "georgian.txt"):
        assert (DATA / name).read_bytes() == fresh[name].read_bytes(), f"data/{name} drifted: regenerate it"

    def stories(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if json.loads(line)["source"] == "story"]

    assert stories(DATA / "pretrain.jsonl") == stories(fresh["pretrain.jsonl"]), "data/pretrain.jsonl stories drifted"
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    if manifest["python"] != platform.python_version():
        pytest.skip(f"data/ was written by Python {manifest['python']}, whose pydoc topics may differ from this one's")
    for name in ("pretrain.jsonl", "manifest.json"):
        assert (DATA / name).read_bytes() == fresh[name].read_bytes(), f"data/{name} drifted: regenerate it"


def test_data_files_are_valid_and_within_the_size_budget():
    files = ["pretrain.jsonl", "chat_train.json", "chat_heldout.json", "georgian.txt", "manifest.json"]
    assert sum((DATA / name).stat().st_size for name in files) < SIZE_BUDGET
    records = [json.loads(line) for line in (DATA / "pretrain.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records and all(isinstance(r["text"], str) and r["text"] for r in records)
    assert isinstance(json.loads((DATA / "chat_train.json").read_text(encoding="utf-8")), list)
    assert (DATA / "README.md").exists()


# --- the chat data -------------------------------------------------------------------------------


def test_messages_have_valid_roles_and_alternate(chat):
    for conversation in chat["train"] + chat["heldout"]:
        roles = [m["role"] for m in conversation["messages"]]
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in conversation["messages"])
        body = roles[1:] if roles[0] == "system" else roles
        assert "system" not in body and len(body) >= 2
        assert body == ["user", "assistant"] * (len(body) // 2), roles


def test_every_answer_is_right(chat):
    checked = 0
    for conversation in chat["train"] + chat["heldout"]:
        turns = _turns(conversation)
        for question, reply in turns:
            _, expected = _key_and_answer(question)
            if expected is None:
                assert "Ava" in reply, (question, reply)
            else:
                assert reply == expected, (question, reply, expected)
                checked += 1
        last_reply = turns[-1][1]
        assert conversation["answer"] in last_reply if conversation["match"] == "contains" else (
            conversation["answer"] == last_reply)
    assert checked > 5000


def test_a_wrong_answer_would_be_caught():
    assert _key_and_answer("Subtract 12 from 40.")[1] == "28"
    assert _key_and_answer("What is 40 - 12?")[1] == "28"
    assert _key_and_answer("How many times does 'a' occur in the word 'banana'?")[1] == "3"
    assert _key_and_answer("Where does Mila live?")[1] == "Brookside"


def test_heldout_items_never_occur_in_training(chat):
    train, heldout = _keys(chat["train"]), _keys(chat["heldout"])
    assert not train & heldout, sorted(train & heldout)[:5]
    kinds = {key[0] for key in heldout}
    assert kinds == {"pair", "word", "fact", "identity"}
    assert all(10 <= n <= 99 for key in heldout if key[0] == "pair" for n in key[1])


def test_heldout_split_does_not_depend_on_the_seed():
    a = _keys(chat_dataset(seed=0, n_train=2000, n_heldout=300)["train"])
    b = _keys(chat_dataset(seed=5, n_train=2000, n_heldout=300)["heldout"])
    assert not a & b


def test_every_skill_is_present(chat):
    skills = {"addition", "subtraction", "comparison", "letter_count", "facts", "identity"}
    assert {c["skill"] for c in chat["train"]} == skills
    assert {c["skill"] for c in chat["heldout"]} == skills
    assert any(len(_turns(c)) == 3 for c in chat["train"])
    assert any(c["messages"][0]["role"] == "system" for c in chat["train"])


def test_facts_asked_in_chat_are_told_in_the_stories():
    text = "\n".join(generate_stories(2000, seed=0))
    for person in WORLD:
        assert f"{person.name} lived in {person.home}." in text
        assert f"{person.name}'s favourite food was {person.food}." in text
        assert f"{person.name} had a {person.colour} {person.thing}." in text
        assert f"{person.name}'s best friend was {person.friend} the " in text
        assert f"{person.name} the {person.animal}" in text


# --- the other sources, errors ---------------------------------------------------------------------


def test_pretraining_corpus_has_stories_and_python_docs():
    corpus = pretraining_corpus(seed=0, n_stories=10)
    prose = python_prose()
    assert len(corpus) == 10 + len(prose) and len(prose) > 50
    assert corpus[10:] == prose
    assert any("if" in doc and "statement" in doc for doc in prose)


def test_georgian_text_is_georgian():
    text = georgian_text(200, seed=0)
    letters = [ch for ch in text if ch.isalpha()]
    assert letters and all("\u10d0" <= ch <= "\u10ff" for ch in letters)
    assert text.count(".") + text.count("!") == 200
    assert georgian_text(200, seed=0) == text != georgian_text(200, seed=1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: generate_stories(0),
        lambda: generate_stories(-3),
        lambda: generate_stories(2.5),
        lambda: chat_dataset(n_train=0),
        lambda: chat_dataset(n_heldout=-1),
        lambda: chat_dataset(answer_format="scratchpad-v0"),
        lambda: georgian_text(0),
        lambda: pretraining_corpus(n_stories=0),
    ],
)
def test_bad_arguments_raise_corpus_error(call):
    with pytest.raises(CorpusError):
        call()
    assert issubclass(CorpusError, ValueError)
