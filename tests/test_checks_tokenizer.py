"""The chapter 1 exercise checks: they pass the reference and catch wrong versions with the right hint.

The wrong versions here are written independently of the checks' own `Mistake` functions, the way a
learner would write them, so the tests show that a check recognises a bug by what it computes.
"""

from __future__ import annotations

from collections import Counter

import pytest
import regex

from ava_edu.checks import check_encode, check_get_pair_counts, check_merge, check_train
from ava_edu.tokenizer import SPLIT_PATTERN, encode, get_pair_counts, merge, train


def test_every_check_passes_on_the_reference(capsys):
    assert check_get_pair_counts(get_pair_counts)
    assert check_merge(merge)
    assert check_train(train)
    assert check_encode(encode)
    assert capsys.readouterr().out.count("✅") == 4


def test_a_blank_is_reported_as_not_written():
    def blank(*args):
        raise NotImplementedError("your code here")

    result = check_merge(blank, verbose=False)
    assert not result and "not written yet" in result.message


def test_a_counter_is_as_good_as_a_dict():
    assert check_get_pair_counts(lambda ids: Counter(zip(ids, ids[1:], strict=False)), verbose=False)


# --- get_pair_counts -----------------------------------------------------------------------------------


def pairs_as_set(ids):
    return {(a, b): 1 for a, b in set(zip(ids, ids[1:], strict=False))}


def pairs_by_twos(ids):
    result = {}
    for k in range(0, len(ids) - 1, 2):
        result[ids[k], ids[k + 1]] = result.get((ids[k], ids[k + 1]), 0) + 1
    return result


def pairs_non_overlapping(ids):
    # counts a run like 7 7 7 as one pair, the way str.count counts "77" in "777"
    result, k = Counter(), 0
    while k + 1 < len(ids):
        result[ids[k], ids[k + 1]] += 1
        k += 2 if ids[k] == ids[k + 1] else 1
    return dict(result)


@pytest.mark.parametrize(("wrong", "hint"), [
    (pairs_as_set, "got the count 1"),
    (pairs_by_twos, "two ids at a time"),
    (pairs_non_overlapping, "overlapping pairs count too"),
])
def test_get_pair_counts_mistakes(wrong, hint):
    result = check_get_pair_counts(wrong, verbose=False)
    assert not result and any(hint in h for h in result.hints), result.message


# --- merge ---------------------------------------------------------------------------------------------


def merge_overlaps(ids, pair, new_id):
    # replaces the pair at every position where it starts, even if its first id was just used
    if not ids:
        return []
    starts = [k for k in range(len(ids) - 1) if (ids[k], ids[k + 1]) == pair]
    covered = {k + 1 for k in starts}
    return [new_id if k in starts else ids[k] for k in range(len(ids)) if k in starts or k not in covered]


def merge_once(ids, pair, new_id):
    ids = list(ids)
    for k in range(len(ids) - 1):
        if (ids[k], ids[k + 1]) == pair:
            ids[k:k + 2] = [new_id]
            break
    return ids


def merge_loses_tail(ids, pair, new_id):
    out, k = [], 0
    while k < len(ids) - 1:
        if (ids[k], ids[k + 1]) == pair:
            out.append(new_id)
            k += 2
        else:
            out.append(ids[k])
            k += 1
    return out


@pytest.mark.parametrize(("wrong", "hint"), [
    (merge_overlaps, "merged overlapping pairs twice"),
    (merge_once, "only the first occurrence"),
    (merge_loses_tail, "the last id went missing"),
])
def test_merge_mistakes(wrong, hint):
    result = check_merge(wrong, verbose=False)
    assert not result and any(hint in h for h in result.hints), result.message


# --- train ---------------------------------------------------------------------------------------------


def _learner_train(text, num_merges, split=True, first_id=256, ties="smallest"):
    chunks = [list(c.encode()) for c in regex.findall(SPLIT_PATTERN, text)] if split else [list(text.encode())]
    merges = {}
    for step in range(num_merges):
        counts = Counter()
        for chunk in chunks:
            counts.update(zip(chunk, chunk[1:], strict=False))
        if not counts:
            break
        if ties == "smallest":
            best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        else:
            best = counts.most_common(1)[0][0]  # first inserted among equals
        new_id = first_id + step
        merges[best] = new_id
        chunks = [merge(chunk, best, new_id) for chunk in chunks]
    return merges


def test_the_learner_style_train_is_right_when_done_right():
    assert check_train(_learner_train, verbose=False)


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda text, n: _learner_train(text, n, ties="first"), "same count, take the smallest pair"),
    (lambda text, n: _learner_train(text, n, split=False), "must not cross chunk boundaries"),
    (lambda text, n: _learner_train(text, n, first_id=257), "the first merge is 256"),
    (lambda text, n: _learner_train(text, n, first_id=0), "ids 0-255 are the bytes"),
])
def test_train_mistakes(wrong, hint):
    result = check_train(wrong, verbose=False)
    assert not result and any(hint in h for h in result.hints), result.message


# --- encode --------------------------------------------------------------------------------------------


def _learner_encode(text, merges, split=True, choose="earliest", repeat=True):
    pieces = regex.findall(SPLIT_PATTERN, text) if split else [text]
    out = []
    for piece in pieces:
        ids = list(piece.encode())
        while True:
            candidates = [(k, (ids[k], ids[k + 1])) for k in range(len(ids) - 1) if (ids[k], ids[k + 1]) in merges]
            if not candidates:
                break
            if choose == "earliest":
                pair = min(candidates, key=lambda c: merges[c[1]])[1]
            elif choose == "leftmost":
                pair = candidates[0][1]
            else:
                pair = max(candidates, key=lambda c: merges[c[1]])[1]
            ids = merge(ids, pair, merges[pair])
            if not repeat:
                break
        out.extend(ids)
    return out


def test_the_learner_style_encode_is_right_when_done_right():
    assert check_encode(_learner_encode, verbose=False)


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda text, merges: _learner_encode(text, merges, choose="leftmost"), "not the leftmost one"),
    (lambda text, merges: _learner_encode(text, merges, choose="latest"), "learned first (the smallest new id)"),
    (lambda text, merges: _learner_encode(text, merges, repeat=False), "stopped after one merge"),
    (lambda text, merges: _learner_encode(text, merges, split=False), "split the text into chunks"),
])
def test_encode_mistakes(wrong, hint):
    result = check_encode(wrong, verbose=False)
    assert not result and any(hint in h for h in result.hints), result.message
