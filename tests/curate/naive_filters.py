"""Slow, obvious twins of the text-statistics kernel (pure Python, one document at a time).

Given a text and its words (the kernel's own word split, so that this checks everything
the kernel counts from them), each statistic is computed the way datatrove's filters
compute it: ``str.splitlines``, ``re.split``, ``collections.Counter``, sets.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from mixforge.curate import _textstats_data as data
from mixforge.curate.textstats import POLICY_SUBSTRINGS, StatsParams

PUNCT_SET = set(data.DT_PUNCTUATION) | set(data.DT_TERMINAL_PUNCTUATION)


def find_duplicates(x: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    n = chars = 0
    for e in x:
        if e in seen:
            n += 1
            chars += len(e)
        else:
            seen.add(e)
    return n, chars


def top_ngram_chars(words: list[str], n: int) -> int:
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def dup_ngram_chars(words: list[str], n: int) -> int:
    seen: set[str] = set()
    rep = idx = 0
    while idx < len(words) - n + 1:
        gram = "".join(words[idx:idx + n])
        if gram in seen:
            rep += len(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return rep


def sentences(words: list[str]) -> int:
    """spaCy's sentencizer rule over a list of tokens."""
    if not words:
        return 0
    count, seen = 1, False
    for w in words:
        in_punct = len(w) == 1 and w in data.SENT_PUNCT
        is_punct = all(unicodedata.category(c).startswith("P") for c in w)
        if seen and not is_punct and not in_punct:
            count, seen = count + 1, False
        elif in_punct:
            seen = True
    return count


def strip_trailing_citations(line: str) -> str:
    while True:
        m = re.search(r"(\[\d*\]|\[edit\]|\[citation needed\])$", line)
        if not m:
            return line
        line = line[: m.start()]


def c4_stats(text: str, p: StatsParams, split) -> dict[str, int]:
    lorem = curly = sents = kept = 0
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if p.c4_max_word_length != -1 and any(len(w) > p.c4_max_word_length for w in words):
            continue
        if p.c4_remove_citations:
            line = strip_trailing_citations(line)
        if p.c4_filter_no_terminal_punct and (
                not line.endswith((".", "?", "!", '"', "'")) or line.endswith("...")):
            continue
        if len(words) < p.c4_min_words_per_line:
            continue
        low = line.lower()
        lorem += "lorem ipsum" in low
        if p.c4_filter_javascript and "javascript" in low:
            continue
        curly += "{" in line
        if p.c4_filter_policy and any(s in low for s in POLICY_SUBSTRINGS):
            continue
        sents += sentences(split(line))
        kept += 1
    return {"c4_lorem_lines": lorem, "c4_curly_lines": curly, "c4_sentences": sents,
            "c4_kept_lines": kept}


def naive_stats(text: str, words: list[str], split, p: StatsParams | None = None) -> dict:
    """Every statistic of `mixforge.curate.textstats.STAT_NAMES` for one document."""
    p = p or StatsParams()
    nonsym = [w for w in words if any(c not in PUNCT_SET for c in w)]
    lines = text.splitlines()
    paras = re.split(r"\n{2,}", text.strip())
    gr_lines = re.split("\n+", text)
    stop_chars = tuple(data.DT_TERMINAL_PUNCTUATION if p.stop_chars is None else p.stop_chars)
    fw = [ln for ln in text.split("\n") if ln.strip() != ""]
    out = {
        "n_chars": len(text), "n_words": len(words), "n_nonsym_words": len(nonsym),
        "nonsym_chars": sum(map(len, nonsym)),
        "alpha_words": sum(any(c.isalpha() for c in w) for w in words),
        "stop_words": len(set(p.stop_words) & set(words)),
        "hashes": text.count("#"), "ellipses": text.count("...") + text.count("…"),
        "gq_lines": len(lines),
        "bullet_lines": sum(s.lstrip().startswith(("•", "-")) for s in lines),
        "ellipsis_lines": sum(s.rstrip().endswith(("...", "…")) for s in lines),
        "paras": len(paras), "dup_paras": find_duplicates(paras)[0],
        "dup_para_chars": find_duplicates(paras)[1], "gr_lines": len(gr_lines),
        "dup_lines": find_duplicates(gr_lines)[0], "dup_line_chars": find_duplicates(gr_lines)[1],
        "fw_lines": len(fw), "fw_punct_lines": sum(ln.endswith(stop_chars) for ln in fw),
        "fw_short_lines": sum(len(ln) <= p.short_line_length for ln in fw),
        "fw_dup_line_chars": find_duplicates(fw)[1], "newlines": text.count("\n"),
    }
    for n in (2, 3, 4):
        out[f"top{n}_chars"] = top_ngram_chars(words, n)
    for n in range(5, 11):
        out[f"dup{n}_chars"] = dup_ngram_chars(words, n)
    out.update(c4_stats(text, p, split))
    return out
