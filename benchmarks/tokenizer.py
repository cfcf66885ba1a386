"""Benchmark chapter 1's tokenizers against their peers, on the same corpus, in one run.

    python benchmarks/tokenizer.py [--vocab-size 2048]

Prints training times (our naive and fast Python trainers, Hugging Face `tokenizers`) and encoding
throughput in MB/s (our Python `BPETokenizer`, `AvaTokenizer` on `tokenizers`, and `tiktoken` given
our merges), as ratios measured in this run. `tiktoken` and `AvaTokenizer` must produce exactly the
ids of the from-scratch tokenizer; the script fails if they do not. Takes well under a minute.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from ava_edu.corpus import pretraining_corpus
from ava_edu.tokenizer import SPLIT_PATTERN, AvaTokenizer, BPETokenizer, train, train_fast


def best_time(fn: Callable[[], object], repeats: int = 3) -> tuple[float, object]:
    """The fastest of `repeats` runs of `fn` in seconds, and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=2048)
    args = parser.parse_args()

    documents = pretraining_corpus(seed=0)
    text = "\n".join(documents)
    megabytes = len(text.encode()) / 1e6
    print(f"corpus: {len(documents)} documents, {megabytes:.2f} MB; vocab_size {args.vocab_size}")

    print("\ntraining")
    sample = text[:10_000]
    naive_s, _ = best_time(lambda: train(sample, 100), repeats=1)
    fast_small_s, _ = best_time(lambda: train_fast(sample, 100), repeats=1)
    print(f"  naive vs fast trainer, 10 KB / 100 merges: {naive_s:.2f} s vs {fast_small_s:.4f} s "
          f"-> fast is {naive_s / fast_small_s:.0f}x faster")
    ours_s, bpe = best_time(lambda: BPETokenizer.train(documents, args.vocab_size), repeats=1)
    hf_s, _ = best_time(lambda: AvaTokenizer.train(documents, args.vocab_size), repeats=1)
    print(f"  from scratch (Python): {ours_s:.2f} s")
    print(f"  tokenizers (Rust):     {hf_s:.2f} s   -> tokenizers is {ours_s / hf_s:.1f}x faster")

    print("\nencoding the whole corpus (MB/s, best of 3)")
    fast = AvaTokenizer.from_bpe(bpe)
    cold_s, reference = best_time(lambda: BPETokenizer(bpe.merges).encode(text), repeats=1)
    warm_s, _ = best_time(lambda: bpe.encode(text))
    rows = [("BPETokenizer, cold cache (Python)", cold_s), ("BPETokenizer, warm cache (Python)", warm_s)]
    ava_s, ava_ids = best_time(lambda: fast.encode(text))
    assert ava_ids == reference, "AvaTokenizer disagrees with the from-scratch tokenizer"
    batch_s, batch_ids = best_time(lambda: fast.encode_batch(documents))
    assert [i for ids in batch_ids for i in ids] == [i for doc in documents for i in bpe.encode(doc)]
    rows += [("AvaTokenizer.encode (tokenizers)", ava_s), ("AvaTokenizer.encode_batch (tokenizers)", batch_s)]
    try:
        import tiktoken
    except ImportError:
        print("  (tiktoken not installed: skipped)")
    else:
        encoding = tiktoken.Encoding("ava", pat_str=SPLIT_PATTERN,
                                     mergeable_ranks={token: i for i, token in bpe.vocab.items()},
                                     special_tokens=bpe.special_tokens)
        tik_s, tik_ids = best_time(lambda: encoding.encode_ordinary(text))
        assert tik_ids == reference, "tiktoken with our merges disagrees with the from-scratch tokenizer"
        tik_batch_s, _ = best_time(lambda: encoding.encode_ordinary_batch(documents))
        rows += [("tiktoken.encode_ordinary", tik_s), ("tiktoken.encode_ordinary_batch", tik_batch_s)]
    for name, seconds in rows:
        print(f"  {name:<40} {megabytes / seconds:8.2f} MB/s   {cold_s / seconds:7.1f}x the cold Python encoder")
    if "tik_s" in locals():
        print(f"\n  AvaTokenizer / tiktoken (single text): {tik_s / ava_s:.2f}x; "
              f"(batch): {tik_batch_s / batch_s:.2f}x  (>1 means AvaTokenizer is faster)")
    print(f"\nidentical ids from every implementation: {len(reference)} tokens, "
          f"{len(text.encode()) / len(reference):.2f} bytes per token")


if __name__ == "__main__":
    main()
