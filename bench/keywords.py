"""Keyword matching: per-route precision and recall on the labelled corpus, and the matching speed.

The corpus is tests/corpus/keywords.jsonl (see tests/test_keywords.py); routes and phrase lists are DESIGN.md §6's
(`ROUTE_PHRASES` there). Baseline in the same run: a plain `re` search of the raw phrases (whole words, any
case, any spaces between words; what `contains_any` did before `escalator.rules.keywords`).

    .venv/bin/python bench/keywords.py [--texts 200] [--repeat 7] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escalator.rules.keywords import PhraseMatcher
from tests.test_keywords import (
    ROUTE_PHRASES,
    Example,
    Score,
    baseline_router,
    load_corpus,
    matcher_router,
    scores,
)

TEXT_SIZE = 2048


def print_scores(examples: Sequence[Example]) -> None:
    near = sum(1 for example in examples if example.note)
    negatives = sum(1 for example in examples if example.note and example.route is None)
    print(f"corpus: {len(examples)} texts, {near} near-misses ({near / len(examples):.0%}; {negatives} must not route)")
    ours, wrong = scores(examples, matcher_router())
    plain, _ = scores(examples, baseline_router())
    header = f"{'route':<9}{'texts':>6}{'tp':>5}{'fp':>4}{'fn':>4}{'precision':>11}{'recall':>8}"
    print(f"{header}   baseline re: precision  recall")
    for route in ROUTE_PHRASES:
        score, base = ours[route], plain[route]
        print(
            f"{route:<9}{score.positives:>6}{score.true_positives:>5}{score.false_positives:>4}"
            f"{score.false_negatives:>4}{score.precision:>11.3f}{score.recall:>8.3f}"
            f"{base.precision:>25.3f}{base.recall:>8.3f}"
        )
    print(f"all routes: {_macro(ours)}   baseline re: {_macro(plain)}")
    for example, got in wrong:
        print(f"  misrouted (want {example.route}, got {got}): {example.text[:90]!r}")


def _macro(per_route: dict[str, Score]) -> str:
    precision = sum(score.precision for score in per_route.values()) / len(per_route)
    recall = sum(score.recall for score in per_route.values()) / len(per_route)
    return f"mean precision {precision:.3f}, mean recall {recall:.3f}"


def texts_of(pool: Sequence[str], filler: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """`count` texts of exactly 2 KB: whole corpus texts from `pool` separated by blank lines, topped up with
    keyword-free text (so that no text is cut in the middle of a phrase or of its negation)."""
    built = []
    for _ in range(count):
        text = ""
        while True:
            item = rng.choice(pool) + "\n\n"
            if len(text) + len(item) > TEXT_SIZE:
                break
            text += item
        while len(text) < TEXT_SIZE:
            text += rng.choice(filler) + " "
        built.append(text[:TEXT_SIZE])
    return built


def per_text_us(match: Callable[[str], object], texts: Sequence[str], repeat: int) -> float:
    """Best of `repeat` passes over the texts: the minimum is the least disturbed by the rest of the machine."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            for text in texts:
                match(text)
            best = min(best, time.perf_counter() - began)
    finally:
        gc.enable()
    return best / len(texts) * 1e6


def print_speed(examples: Sequence[Example], count: int, repeat: int, seed: int) -> None:
    phrases = [phrase for route_phrases in ROUTE_PHRASES.values() for phrase in route_phrases]
    began = time.perf_counter()
    matcher = PhraseMatcher(phrases)
    compile_ms = (time.perf_counter() - began) * 1e3
    began = time.perf_counter()
    baseline = re.compile(
        r"(?<!\w)(?:" + "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases) + r")(?!\w)",
        re.IGNORECASE,
    )
    baseline_ms = (time.perf_counter() - began) * 1e3
    print(f"\nspeed: {len(phrases)} phrases, texts of {TEXT_SIZE} characters, best of {repeat} passes")
    print(f"compile once per phrase list: matcher {compile_ms:.1f} ms, baseline re {baseline_ms:.2f} ms")
    rng = random.Random(seed)
    sets = {
        "no keyword at all": [e.text for e in examples if e.route is None and not e.note],
        "near-misses, no route": [e.text for e in examples if e.route is None and e.note],
        "whole corpus (hits)": [e.text for e in examples],
    }
    print(f"{'texts':<24}{'matcher us':>11}{'baseline re us':>16}{'ratio':>7}{'routed':>9}")
    for name, pool in sets.items():
        texts = texts_of(pool, sets["no keyword at all"], count, rng)
        ours = per_text_us(matcher, texts, repeat)
        plain = per_text_us(baseline.search, texts, repeat)
        matched = sum(1 for text in texts if matcher(text))
        print(f"{name:<24}{ours:>11.1f}{plain:>16.1f}{ours / plain:>7.2f}{matched:>6}/{len(texts)}")
    print(
        "(the baseline stops at the first raw occurrence, right or wrong; the matcher reads the words of the whole\n"
        " text first. Near-miss texts that route hold one of the corpus's known false positives.)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200, help="2 KB texts per speed set")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    examples = load_corpus()
    print_scores(examples)
    print_speed(examples, args.texts, args.repeat, args.seed)


if __name__ == "__main__":
    main()
