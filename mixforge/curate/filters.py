"""Heuristic quality filters as thresholds (polars expressions) over the statistics columns.

Each rule group has a config dataclass with the published defaults (Gopher: Rae et al.
2021, table A1; C4: Raffel et al. 2020; FineWeb: Penedo et al. 2024) exactly as
datatrove 0.10.1 sets them, each rule switchable (``None`` disables a threshold) and each
group switchable (``enabled``). `drop_reasons(stats, cfg)` returns the first failing rule
per document, in datatrove's order within a group, so the reason matches the one
datatrove reports. Thresholds never recompute statistics: `StatsParams` holds the few
settings that do (stop words, C4 line rules).

Deviations from datatrove, on purpose (measured effect in docs/filters.md):
- datatrove's C4QualityFilter also rewrites a kept document to its kept lines; we only
  decide, and keep text untouched (so every filter sees the original text and the order
  of the groups cannot change a decision).
- A ratio whose denominator is zero raises ZeroDivisionError in datatrove (e.g. a
  FineWeb document whose lines hold no words); here the rule simply does not fire.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from ..config import opt
from ..errors import ConfigError
from .quality import QualityFilterConfig
from .textstats import GOPHER_STOP_WORDS, StatsParams


@dataclass
class GopherQualityConfig:
    """Gopher quality rules (datatrove GopherQualityFilter defaults)."""

    enabled: bool = opt(True, "Apply the Gopher quality rules.")
    min_doc_words: int | None = opt(50, "Drop documents with fewer non-symbol words.")
    max_doc_words: int | None = opt(100_000, "Drop documents with more non-symbol words.")
    min_avg_word_length: float | None = opt(3, "Drop if the mean word length is below.")
    max_avg_word_length: float | None = opt(10, "Drop if the mean word length is above.")
    max_symbol_word_ratio: float | None = opt(0.1, "Max '#' (and '...') per word.")
    max_bullet_lines_ratio: float | None = opt(0.9, "Max fraction of lines starting with a "
                                               "bullet ('•' or '-').")
    max_ellipsis_lines_ratio: float | None = opt(0.3, "Max fraction of lines ending in '...'.")
    max_non_alpha_words_ratio: float | None = opt(0.8, "Min fraction of words with a letter "
                                                  "(datatrove's name kept).")
    min_stop_words: int | None = opt(2, "Min number of distinct stop words present.")
    stop_words: list[str] = opt(list(GOPHER_STOP_WORDS), "Gopher's stop words (exact case).")


@dataclass
class GopherRepetitionConfig:
    """Gopher repetition rules (datatrove GopherRepetitionFilter defaults)."""

    enabled: bool = opt(True, "Apply the Gopher repetition rules.")
    dup_line_frac: float | None = opt(0.3, "Max fraction of duplicated lines.")
    dup_para_frac: float | None = opt(0.3, "Max fraction of duplicated paragraphs.")
    dup_line_char_frac: float | None = opt(0.2, "Max fraction of characters in duplicated lines.")
    dup_para_char_frac: float | None = opt(0.2, "Max fraction of characters in duplicated "
                                           "paragraphs.")
    top_n_grams: dict[str, float] = opt(
        {"2": 0.2, "3": 0.18, "4": 0.16},
        "n -> max character fraction of the top n-gram (n in 2..4).")
    dup_n_grams: dict[str, float] = opt(
        {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10},
        "n -> max character fraction of duplicated n-grams (n in 5..10).")

    def validate(self) -> None:
        for name, rng in (("top_n_grams", range(2, 5)), ("dup_n_grams", range(5, 11))):
            for n in getattr(self, name):
                if not n.isdigit() or int(n) not in rng:
                    msg = (f"gopher_repetition.{name} has n={n!r}; the statistics cover "
                           f"n in {rng.start}..{rng.stop - 1}")
                    raise ConfigError(msg)


@dataclass
class C4Config:
    """C4 rules (datatrove C4QualityFilter defaults; lines split on newlines)."""

    enabled: bool = opt(True, "Apply the C4 rules.")
    filter_no_terminal_punct: bool = opt(True, "Drop lines not ending in . ? ! \" '.")
    min_num_sentences: int = opt(5, "Drop documents with fewer sentences in kept lines "
                                 "(-1 disables).")
    min_words_per_line: int = opt(3, "Drop lines with fewer words (-1 disables).")
    max_word_length: int = opt(1000, "Drop lines with a longer word (-1 disables).")
    filter_lorem_ipsum: bool = opt(True, "Drop documents containing 'lorem ipsum'.")
    filter_javascript: bool = opt(True, "Drop lines mentioning javascript.")
    filter_curly_bracket: bool = opt(True, "Drop documents with a '{' in a kept line.")
    filter_policy: bool = opt(True, "Drop lines with privacy/cookie/terms-of-use phrases.")
    remove_citations: bool = opt(True, "Strip [1], [edit], [citation needed] before checks.")


@dataclass
class FineWebConfig:
    """FineWeb's extra rules (datatrove FineWebQualityFilter defaults)."""

    enabled: bool = opt(True, "Apply the FineWeb rules.")
    line_punct_thr: float = opt(0.12, "Min fraction of lines ending in terminal punctuation.")
    line_punct_exclude_zero: bool = opt(False, "Do not drop documents with no such line at all.")
    stop_chars: str | None = opt(None, "Line-end characters (default: datatrove's terminal "
                                 "punctuation set).")
    short_line_thr: float = opt(0.67, "Max fraction of short lines.")
    short_line_length: int = opt(30, "A line this long or shorter is short.")
    char_duplicates_ratio: float = opt(0.01, "Max fraction of characters in duplicated lines.")
    new_line_ratio: float = opt(0.3, "Max newlines per word (list-like documents).")


@dataclass
class LengthConfig:
    """Length bounds (off by default)."""

    enabled: bool = opt(True, "Apply the length bounds.")
    min_chars: int | None = opt(None, "Drop documents with fewer characters.")
    max_chars: int | None = opt(None, "Drop documents with more characters.")
    min_words: int | None = opt(None, "Drop documents with fewer words.")
    max_words: int | None = opt(None, "Drop documents with more words.")


@dataclass
class LanguageConfig:
    """Language ID (py3langid, offline) and a language filter."""

    enabled: bool = opt(True, "Identify the language of every document (columns language, "
                        "language_score).")
    languages: list[str] = opt(["en"], "Keep only these ISO 639-1 codes (empty: keep all).")
    min_score: float = opt(0.65, "Drop documents whose top-language probability is at or "
                           "below this (datatrove's default threshold).")
    max_chars: int = opt(4000, "Identify from the first this many characters (cost is "
                         "linear in length).")


@dataclass
class CodeConfig:
    """Rules for source code (used by the ``code`` policy only).

    The Stack / StarCoder data (Kocetkov et al. 2022; Li et al. 2023, bigcode-dataset
    ``preprocessing/filtering.py`` basic filter, after Codex, Chen et al. 2021): drop files
    whose longest line passes 1,000 characters, whose mean line length passes 100, or
    whose alphanumeric fraction is below 0.25; XML files (``<?xml version=`` in the first
    100 characters); StarCoder's encoded-data rule (base64 runs of 64+ characters, hex
    byte sequences, ``\\uXXXX`` runs: drop when they cover more than 1,024 characters or
    half the file); The Stack v2's auto-generated markers in the first 5 lines.
    """

    enabled: bool = opt(True, "Apply the code rules (where a domain's policy is code).")
    max_line_length: int | None = opt(1000, "Drop files whose longest line is longer.")
    max_mean_line_length: float | None = opt(100, "Drop files whose mean line length is "
                                             "above.")
    min_alnum_fraction: float | None = opt(0.25, "Drop files with a smaller fraction of "
                                           "letters and digits.")
    drop_xml: bool = opt(True, "Drop XML files.")
    drop_autogenerated: bool = opt(True, "Drop files marked auto-generated in their first "
                                   "5 lines.")
    max_encoded_chars: int | None = opt(1024, "Drop files with more characters of encoded "
                                        "data (base64, hex, unicode escapes).")
    max_encoded_fraction: float | None = opt(0.5, "... or a larger fraction of them.")


#: the named policies: which rule groups each applies (their thresholds come from the
#: config's groups). web: every group as configured (today's behaviour for every domain).
PRESETS: dict[str, tuple[str, ...]] = {
    "web": ("length", "language", "gopher_quality", "gopher_repetition", "c4", "fineweb"),
    "code": ("length", "code"),
    # chat, forum and quotation text: short turns are fine, so no Gopher quality, C4 or
    # FineWeb line rules, and no Gopher top-n-gram or duplicate-line fractions (a short
    # turn or a two-line exchange trips them by its length alone); copy-pasted spam still
    # fails the duplicated 5..10-gram fractions
    "dialogue": ("length", "language", "dialogue"),
    # dictionaries, man pages, reference tables: length only (exact duplicates are dedup's)
    "reference": ("length",),
    "none": (),
}


def parse_policy(spec: str) -> list[tuple[str, str]]:
    """``"code*=code,chat=dialogue,*=web"`` -> ``[(pattern, preset), ...]`` in order.

    Patterns are shell globs over domain names (`fnmatch`); the first match wins; a domain
    no pattern matches gets ``web``. Raises `ConfigError` naming a bad entry or preset.
    """
    out = []
    for item in (x.strip() for x in spec.split(",") if x.strip()):
        pattern, sep, preset = item.partition("=")
        if not sep or not pattern.strip() or preset.strip() not in PRESETS:
            msg = (f"filter policy {item!r}: expected PATTERN=PRESET with PRESET one of "
                   f"{sorted(PRESETS)} (e.g. --policy 'code=code,chat*=dialogue,*=web')")
            raise ConfigError(msg)
        out.append((pattern.strip(), preset.strip()))
    return out


def policy_of(domain: str, policy: list[tuple[str, str]]) -> str:
    """The preset of ``domain``: the first pattern that matches it, else ``web``."""
    return next((p for pat, p in policy if fnmatch.fnmatchcase(domain, pat)), "web")


ENCODED = (r"[A-Za-z0-9+/\n=]{64,}|(?:\b(?:0x|\\x)?[0-9a-fA-F]{2}(?:,|\b\s*)){8,}"
           r"|(?:\\u[0-9a-fA-F]{4}){8,}")
LINE_BREAKS = r"[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"  # str.splitlines' breaks but \n
AUTOGENERATED = (r"(?i)auto-generated|autogenerated|automatically generated|generated "
                 r"automatically|this file was generated|do not edit")


def code_stats(text: pa.Array | pa.ChunkedArray) -> pl.DataFrame:
    """Per document: ``code_max_line``, ``code_mean_line`` (characters; lines as Python's
    ``str.splitlines`` cuts them, as bigcode-dataset's ``add_stats`` does: at ``\\n``,
    ``\\r\\n``, ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029, a final
    break ending the last line), ``code_alnum_frac`` (letters and numbers per character:
    ``\\p{L}\\p{N}``, bigcode's ``str.isalnum``), ``code_xml``, ``code_autogenerated``,
    ``code_encoded_chars``."""
    t = pl.from_arrow(text).alias("t").cast(pl.String)
    df = pl.DataFrame({"t": t})
    body = (pl.col("t").str.replace_all("\r\n", "\n", literal=True)
            .str.replace_all(LINE_BREAKS, "\n").str.replace(r"\n$", ""))
    lines = body.str.split("\n")  # split once: line lengths and the first 5 lines
    lens = lines.list.eval(pl.element().str.len_chars())
    n = pl.col("t").str.len_chars()
    head = lines.list.head(5).list.join("\n")
    return df.select(
        lens.list.max().fill_null(0).alias("code_max_line"),
        lens.list.mean().fill_null(0).alias("code_mean_line"),
        pl.when(n > 0).then(pl.col("t").str.count_matches(r"[\p{L}\p{N}]") / n)
        .otherwise(1.0).alias("code_alnum_frac"),
        pl.col("t").str.slice(0, 100).str.contains("<?xml version=", literal=True)
        .alias("code_xml"),
        head.str.contains(AUTOGENERATED).alias("code_autogenerated"),
        pl.col("t").str.extract_all(ENCODED).list.eval(pl.element().str.len_chars())
        .list.sum().fill_null(0).alias("code_encoded_chars"),
    )


@dataclass
class FilterConfig:
    """Options of `mixforge filter` (and the `filter` section of a pipeline config)."""

    input_stage: str | None = opt(None, "Stage to filter (default: the latest of "
                                  "dedup_fuzzy, dedup_exact, ingest in the run).")
    length: LengthConfig = field(default_factory=LengthConfig,
                                 metadata={"help": "Length bounds."})
    language: LanguageConfig = field(default_factory=LanguageConfig,
                                     metadata={"help": "Language ID and filter."})
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig,
                                                metadata={"help": "Gopher quality rules."})
    gopher_repetition: GopherRepetitionConfig = field(
        default_factory=GopherRepetitionConfig, metadata={"help": "Gopher repetition rules."})
    c4: C4Config = field(default_factory=C4Config, metadata={"help": "C4 rules."})
    fineweb: FineWebConfig = field(default_factory=FineWebConfig,
                                   metadata={"help": "FineWeb rules."})
    code: CodeConfig = field(default_factory=CodeConfig,
                             metadata={"help": "Code rules (the code policy)."})
    quality: QualityFilterConfig = field(
        default_factory=QualityFilterConfig,
        metadata={"help": "A classifier toward target documents (curate.quality)."})
    policy: str = opt("", "Per-domain policies PATTERN=PRESET,... (globs over domain names, "
                      "first match wins; presets: web, code, dialogue, reference, none); "
                      "unmatched domains get web, i.e. every rule group as configured.")
    sample_per_reason: int = opt(20, "Dropped documents kept per domain and reason "
                                 "(filter/samples/_all.parquet).")
    batch_rows: int = opt(4096, "Documents per record batch (bounds memory).")

    def validate(self) -> None:
        if self.batch_rows < 1:
            msg = f"batch_rows must be >= 1, got {self.batch_rows}"
            raise ConfigError(msg)
        self.gopher_repetition.validate()
        self.quality.validate()
        parse_policy(self.policy)

    def policies(self) -> list[tuple[str, str]]:
        """The parsed ``policy`` (see `parse_policy`)."""
        return parse_policy(self.policy)

    def stats_params(self) -> StatsParams:
        """The settings that change the statistics (hashed into the stage's key)."""
        c4 = self.c4
        return StatsParams(
            stop_words=tuple(self.gopher_quality.stop_words),
            stop_chars=self.fineweb.stop_chars,
            short_line_length=self.fineweb.short_line_length,
            c4_max_word_length=c4.max_word_length,
            c4_filter_no_terminal_punct=c4.filter_no_terminal_punct,
            c4_min_words_per_line=c4.min_words_per_line,
            c4_filter_javascript=c4.filter_javascript,
            c4_filter_policy=c4.filter_policy,
            c4_remove_citations=c4.remove_citations,
        )


def _ratio(num: str | pl.Expr, den: str | pl.Expr) -> pl.Expr:
    num = pl.col(num) if isinstance(num, str) else num
    den = pl.col(den) if isinstance(den, str) else den
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64))


def _gt(ratio: pl.Expr, thr: float) -> pl.Expr:
    return (ratio > thr).fill_null(False)


def _lt(ratio: pl.Expr, thr: float) -> pl.Expr:
    return (ratio < thr).fill_null(False)


def gopher_quality_rules(c: GopherQualityConfig) -> list[tuple[str, pl.Expr]]:
    """(reason, drop expression) in datatrove's order."""
    words = pl.col("n_nonsym_words")
    avg = _ratio("nonsym_chars", "n_nonsym_words")
    rules = []
    if c.min_doc_words:
        rules.append(("gopher_short_doc", words < c.min_doc_words))
    if c.max_doc_words:
        rules.append(("gopher_long_doc", words > c.max_doc_words))
    if c.min_avg_word_length:
        rules.append(("gopher_below_avg_threshold", _lt(avg, c.min_avg_word_length)))
    if c.max_avg_word_length:
        rules.append(("gopher_above_avg_threshold", _gt(avg, c.max_avg_word_length)))
    if c.max_symbol_word_ratio:
        rules.append(("gopher_too_many_hashes",
                      _gt(_ratio("hashes", "n_words"), c.max_symbol_word_ratio)))
        rules.append(("gopher_too_many_ellipsis",
                      _gt(_ratio("ellipses", "n_words"), c.max_symbol_word_ratio)))
    if c.max_bullet_lines_ratio:
        rules.append(("gopher_too_many_bullets",
                      _gt(_ratio("bullet_lines", "gq_lines"), c.max_bullet_lines_ratio)))
    if c.max_ellipsis_lines_ratio:
        rules.append(("gopher_too_many_end_ellipsis",
                      _gt(_ratio("ellipsis_lines", "gq_lines"), c.max_ellipsis_lines_ratio)))
    if c.max_non_alpha_words_ratio:
        rules.append(("gopher_below_alpha_threshold",
                      _lt(_ratio("alpha_words", "n_words"), c.max_non_alpha_words_ratio)))
    if c.min_stop_words:
        rules.append(("gopher_enough_stop_words", pl.col("stop_words") < c.min_stop_words))
    return rules


def gopher_repetition_rules(c: GopherRepetitionConfig) -> list[tuple[str, pl.Expr]]:
    chars = "n_chars"
    rules = [("gopher_rep_empty", pl.col(chars) == 0)]
    if c.dup_para_frac:
        rules.append(("gopher_rep_dup_para_frac",
                      _gt(_ratio("dup_paras", "paras"), c.dup_para_frac)))
    if c.dup_para_char_frac:
        rules.append(("gopher_rep_dup_para_char_frac",
                      _gt(_ratio("dup_para_chars", chars), c.dup_para_char_frac)))
    if c.dup_line_frac:
        rules.append(("gopher_rep_dup_line_frac",
                      _gt(_ratio("dup_lines", "gr_lines"), c.dup_line_frac)))
    if c.dup_line_char_frac:
        rules.append(("gopher_rep_dup_line_char_frac",
                      _gt(_ratio("dup_line_chars", chars), c.dup_line_char_frac)))
    for n, frac in c.top_n_grams.items():
        rules.append((f"gopher_rep_top_{n}_gram", _gt(_ratio(f"top{n}_chars", chars), frac)))
    for n, frac in c.dup_n_grams.items():
        rules.append((f"gopher_rep_duplicated_{n}_n_grams",
                      _gt(_ratio(f"dup{n}_chars", chars), frac)))
    return rules


def c4_rules(c: C4Config) -> list[tuple[str, pl.Expr]]:
    rules = []
    if c.filter_lorem_ipsum:
        rules.append(("c4_lorem_ipsum", pl.col("c4_lorem_lines") > 0))
    if c.filter_curly_bracket:
        rules.append(("c4_curly_bracket", pl.col("c4_curly_lines") > 0))
    if c.min_num_sentences != -1:
        rules.append(("c4_too_few_sentences", pl.col("c4_sentences") < c.min_num_sentences))
    return rules


def fineweb_rules(c: FineWebConfig) -> list[tuple[str, pl.Expr]]:
    punct = _ratio("fw_punct_lines", "fw_lines")
    line_punct = _lt(punct, c.line_punct_thr)
    if c.line_punct_exclude_zero:
        line_punct = line_punct & (pl.col("fw_punct_lines") > 0)
    return [
        ("fineweb_empty", pl.col("fw_lines") == 0),
        ("fineweb_line_punct_ratio", line_punct),
        ("fineweb_short_line_ratio", _gt(_ratio("fw_short_lines", "fw_lines"), c.short_line_thr)),
        ("fineweb_char_dup_ratio", _gt(_ratio("fw_dup_line_chars",
                                              pl.col("n_chars") - pl.col("newlines")),
                                       c.char_duplicates_ratio)),
        ("fineweb_list_ratio", _gt(_ratio("newlines", "n_words"), c.new_line_ratio)),
    ]


def code_rules(c: CodeConfig) -> list[tuple[str, pl.Expr]]:
    """(reason, drop expression) over the `code_stats` columns."""
    rules = []
    if c.drop_xml:
        rules.append(("code_xml", pl.col("code_xml")))
    if c.drop_autogenerated:
        rules.append(("code_autogenerated", pl.col("code_autogenerated")))
    if c.max_line_length is not None:
        rules.append(("code_max_line_length", pl.col("code_max_line") > c.max_line_length))
    if c.max_mean_line_length is not None:
        rules.append(("code_mean_line_length",
                      pl.col("code_mean_line") > c.max_mean_line_length))
    if c.min_alnum_fraction is not None:
        rules.append(("code_alnum_fraction", pl.col("code_alnum_frac") < c.min_alnum_fraction))
    enc = pl.col("code_encoded_chars")
    if c.max_encoded_chars is not None:
        rules.append(("code_encoded_data", enc > c.max_encoded_chars))
    if c.max_encoded_fraction is not None:
        rules.append(("code_encoded_fraction",
                      _gt(_ratio(enc, "n_chars"), c.max_encoded_fraction)))
    return rules


def length_rules(c: LengthConfig) -> list[tuple[str, pl.Expr]]:
    rules = []
    if c.min_chars is not None:
        rules.append(("length_too_few_chars", pl.col("n_chars") < c.min_chars))
    if c.max_chars is not None:
        rules.append(("length_too_many_chars", pl.col("n_chars") > c.max_chars))
    if c.min_words is not None:
        rules.append(("length_too_few_words", pl.col("n_words") < c.min_words))
    if c.max_words is not None:
        rules.append(("length_too_many_words", pl.col("n_words") > c.max_words))
    return rules


def language_rules(c: LanguageConfig) -> list[tuple[str, pl.Expr]]:
    if not c.enabled or not c.languages:
        return []
    keep = pl.col("language").is_in(c.languages) & (pl.col("language_score") > c.min_score)
    return [("language", ~keep.fill_null(False))]


GROUPS = ("length", "language", "gopher_quality", "gopher_repetition", "c4", "fineweb")
_RULES = {"length": length_rules, "language": language_rules,
          "gopher_quality": gopher_quality_rules, "gopher_repetition": gopher_repetition_rules,
          "c4": c4_rules, "fineweb": fineweb_rules, "code": code_rules}


def dialogue_rules(c: GopherRepetitionConfig) -> list[tuple[str, pl.Expr]]:
    """The ``dialogue`` group: Gopher's duplicated n-gram fractions only (and empty)."""
    return [r for r in gopher_repetition_rules(c)
            if r[0] == "gopher_rep_empty" or r[0].startswith("gopher_rep_duplicated_")]


_RULES["dialogue"] = dialogue_rules
_CONFIG_OF = {"dialogue": "gopher_repetition"}  # a group's thresholds live in this section


def rules(cfg: FilterConfig, groups: tuple[str, ...] = GROUPS) -> list[tuple[str, pl.Expr]]:
    """Every enabled rule as (reason, drop expression), in the order they are applied."""
    out = []
    for g in groups:
        sub = getattr(cfg, _CONFIG_OF.get(g, g))
        if sub.enabled:
            out.extend(_RULES[g](sub))
    return out


def drop_reasons(stats: pl.DataFrame, cfg: FilterConfig,
                 groups: tuple[str, ...] = GROUPS) -> pl.Series:
    """The first failing rule per document (null: kept).

    Examples
    --------
    >>> from mixforge.curate.textstats import compute_stats
    >>> stats = pl.from_arrow(compute_stats(["too short", "The cat and the dog. " * 20]))
    >>> drop_reasons(stats, FilterConfig(), ("gopher_quality",)).to_list()
    ['gopher_short_doc', None]
    """
    return stats.select(_first_failing(cfg, groups).alias("reason")).to_series()


def _first_failing(cfg: FilterConfig, groups: tuple[str, ...]) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    for reason, cond in reversed(rules(cfg, groups)):
        expr = pl.when(cond).then(pl.lit(reason)).otherwise(expr)
    return expr


def policy_reasons(stats: pl.DataFrame, cfg: FilterConfig, presets: pl.Series) -> pl.Series:
    """The first failing rule per document under its domain's preset (``presets[i]``:
    document i's; see `PRESETS`). Null: kept."""
    df = stats.with_columns(presets.alias("_preset").cast(pl.String))
    expr = pl.lit(None, dtype=pl.String)
    for name in sorted(presets.unique().to_list()):
        expr = (pl.when(pl.col("_preset") == name)
                .then(_first_failing(cfg, PRESETS[name])).otherwise(expr))
    return df.select(expr.alias("reason")).to_series()
