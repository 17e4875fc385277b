"""Tokenization for retrieval: jieba words plus character bigrams for Chinese, plain words for Latin.

Chinese paraphrases often share characters but not jieba words (账号/帐号, 下载下来/下载),
so every CJK run also yields its character bigrams; BM25 statistics keep the two
kinds of term separate by prefixing bigrams.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import jieba

from bots.knowledge import bridge
from bots.knowledge.bm25 import term_weight

logger = logging.getLogger(__name__)

_tokenizer: jieba.Tokenizer | None = None
_lock = threading.Lock()

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z0-9]+")
_LATIN_COMPOUND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SPLIT = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")

# Question scaffolding and function words: they match everything and mean nothing.
CJK_STOP = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 在 有 和 与 或 及 把 被 让 就 都 也 还 又 很 太 再 才 这 那 这个 那个
    这样 那样 我 我们 你 你们 您 他 她 它 他们 咱们 自己 怎么 怎么样 怎样 如何 什么 哪 哪里 哪儿 哪个 为什么
    吗 能 能不能 可以 可不可以 可否 会 要 想 需要 请问 请 一下 一个 个 一些 些 下 上 中 里 去 来 到 给 对 从
    之 其 该 此 啥 咋 多少 几 吧 嗯 么 得 地 着 过 没 不 没有 是否 时 时候 后 前 能否 如果 怎么办 办""".split()
)
EN_STOP = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was were be
    been being am do does did doing have has had having i me my mine we us our ours you your yours he him his
    she her hers it its they them their theirs this that these those there here what which who whom whose when
    where why how can could should would will shall may might must not no nor so than too very just also only
    any some all each every other such own same s t don doesn didn isn aren wasn weren won wouldn shouldn couldn
    please hi hello thanks thank get got want need let lets up out over again further once more most""".split()
)
_BIGRAM_STOP_CHARS = frozenset("的了吗呢吧啊呀么是我你他她它们这那在有和就都也还能要想会吧嘛哦您咱")
_CHAR_SKIP = _BIGRAM_STOP_CHARS | frozenset(w for w in CJK_STOP if len(w) == 1)

# A small, generic vocabulary of customer-support synonyms (not tuned to any test
# set): each group maps to one extra token so a query and a text that use different
# members still share a term.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("账号", "帐号", "账户", "帐户", "account", "accounts"),
    ("客服", "坐席", "座席", "agent", "agents", "seat", "seats"),
    ("人工", "真人", "人工客服", "human", "person"),
    ("机器人", "ai", "bot", "chatbot", "智能客服"),
    ("导出", "下载", "export", "download"),
    ("聊天", "对话", "会话", "聊天记录", "chat", "conversation", "conversations"),
    ("价格", "费用", "收费", "价钱", "钱", "price", "pricing", "cost", "fee"),
    ("折扣", "优惠", "打折", "discount"),
    ("登录", "登陆", "login", "log", "signin"),
    ("删除", "清除", "移除", "抹掉", "delete", "remove", "erase"),
    ("取消", "退订", "关闭", "关掉", "cancel", "unsubscribe"),
    ("续费", "订阅", "renew", "renewal", "subscription"),
    ("部署", "安装", "装", "install", "deploy", "deployment"),
    ("私有化", "自建", "本地部署", "self-host", "selfhost", "on-premise", "onprem"),
    ("webhook", "webhooks", "回调", "推送", "callback", "push"),
    ("2fa", "mfa", "otp", "authenticator", "两步验证", "双重验证", "二次验证"),
    ("快捷回复", "常用语", "canned", "shortcut", "shortcuts", "macro", "macros"),
    ("回复", "答复", "回答", "reply", "replies", "response", "responses", "answer", "answers"),
    ("网站", "网页", "页面", "website", "site", "page", "webpage"),
    ("密钥", "key", "token"),
    ("接口", "api"),
    ("邀请", "invite", "invitation"),
    ("同事", "成员", "队友", "teammate", "colleague", "member", "members"),
    ("评价", "评分", "打分", "满意度", "rating", "rate", "survey"),
    ("离线", "不在线", "下班", "offline", "away"),
    ("留言", "message", "messages"),
    ("密码", "password"),
    ("退款", "refund"),
    ("发票", "invoice"),
    ("手机", "phone", "mobile"),
)
_SYNONYMS: dict[str, str] = {member: f"~{i}" for i, group in enumerate(SYNONYM_GROUPS) for member in group}
JIEBA_HMM = True
PINYIN_ENABLED = True
PINYIN = "^"
MAX_INITIALS = 4
PINYIN_SHARE = 0.5
_VOWELS = frozenset("aeiouv")
# Ablation switches for bench.kb_quality; always on in the product.
SYNONYMS_ENABLED = True
BRIDGE_ENABLED = True
# A one-character word (转, 退, 丢, 改) is translated in questions and FAQ entries, where
# colloquial questions use it for the two-character word an entry has (转 / 转账); not in
# passages, where it would add a long posting list per sense to every search.
BRIDGE_MIN_CHARS = 1
PASSAGE_BRIDGE_MIN_CHARS = 2


def _synonym(term: str) -> str | None:
    return _SYNONYMS.get(term) if SYNONYMS_ENABLED else None


def clear_caches() -> None:
    """Forget memoised tokenizations (after flipping a switch)."""
    _cjk_words.cache_clear()
    _forms.cache_clear()


def _get_tokenizer() -> jieba.Tokenizer:
    """jieba builds its prefix dictionary lazily (about a second); do it once, quietly."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def warm_up() -> None:
    """Load jieba's dictionary and the CC-CEDICT bridge now rather than on a visitor's first question.

    Together they take one to several seconds per process; processes that answer
    questions (Celery workers, the embedded server) call this in a thread at start.
    """
    started = time.perf_counter()
    _get_tokenizer()
    bridge.load_table()
    logger.info("retrieval dictionaries loaded in %.2f s", time.perf_counter() - started)


def warm_up_in_background() -> None:
    threading.Thread(target=warm_up, name="kb-warm-up", daemon=True).start()


def normalize(text: str) -> str:
    """Full-width to half-width and lower case, so ＡＰＩ and api are one term."""
    return unicodedata.normalize("NFKC", text).lower()


@lru_cache(maxsize=4096)
def _cjk_words(run: str) -> tuple[str, ...]:
    return tuple(_get_tokenizer().cut_for_search(run, HMM=JIEBA_HMM))


@lru_cache(maxsize=4096)  # ~3 MB when full
def _forms(word: str, chinese: bool, short: bool = True, query: bool = False) -> tuple[tuple[str, float], ...]:
    """A word's alternative forms with their shares: itself, its synonym group, its pivots,
    and (short texts: questions and FAQ entries) its pinyin and pinyin initials."""
    forms = [(word, 1.0)]
    syn = _synonym(word)
    if syn:
        forms.append((syn, 1.0))
    min_chars = BRIDGE_MIN_CHARS if short else max(BRIDGE_MIN_CHARS, PASSAGE_BRIDGE_MIN_CHARS)
    if BRIDGE_ENABLED and chinese and len(word) >= min_chars:
        pivots = bridge.chinese_pivots(word)
        share = _pivot_share(len(pivots))
        forms.extend((pivot, share) for pivot in pivots)
    elif BRIDGE_ENABLED and not chinese and not word.isdigit():
        forms.append((bridge.english_pivot(word), 1.0))
    if PINYIN_ENABLED and short:
        forms.extend(_pinyin_forms(word, chinese, query))
    return tuple(forms)


def _pinyin_forms(word: str, chinese: bool, query: bool) -> list[tuple[str, float]]:
    """'^' + the toneless pinyin of a Chinese word of two or more characters (homophone
    typos meet: 冲电宝/充电宝), and in texts '^^' + its initials for two to four characters
    (xyk for 信用卡). A short Latin word of a question could be either, so it yields both
    forms; a Chinese word of a question yields no initials (they would make every word
    with the same initials, 支付/转发, an alternative form of it)."""
    if chinese:
        if len(word) < 2:
            return []
        syllables = bridge.pinyin(word)
        if not syllables:
            return []
        forms = [(PINYIN + "".join(syllables), PINYIN_SHARE)]
        if not query and len(word) <= MAX_INITIALS:
            forms.append((PINYIN * 2 + "".join(s[0] for s in syllables), 1.0))
        return forms
    if not word.isalpha() or not 2 <= len(word) <= 16:
        return []
    # Pinyin initials have no vowels (jf, xyk); an English word nearly always has one.
    if len(word) <= MAX_INITIALS and not _VOWELS.intersection(word):
        return [(PINYIN * 2 + word, 1.0)]
    # Full pinyin of two or more syllables (tuikuan); "can" or "long" alone stay English.
    if len(bridge.pinyin_syllables(word)) >= 2:
        return [(PINYIN + word, PINYIN_SHARE)]
    return []


def _terms(text: str, unigrams: bool, query: bool = False) -> Iterator[tuple[str, float, int]]:
    """(term, share, unit) triples; a share below 1 splits one word's say among its
    dictionary senses. Terms with the same unit number are alternative forms of one
    word of the text (_forms); every character and bigram is a unit of its own."""
    unit = 0
    for part in _SPLIT.split(normalize(text)):
        if not part:
            continue
        if _CJK_RUN.fullmatch(part):
            for word in _cjk_words(part):
                if word not in CJK_STOP:
                    unit += 1
                    for term, share in _forms(word, True, unigrams, query):
                        yield term, share, unit
            for char in part:
                if char not in _CHAR_SKIP:
                    if unigrams:
                        unit += 1
                        yield "!" + char, 1.0, unit
                    # Colloquial one-character verbs (装, 钱) hide inside jieba words (能装).
                    syn = _synonym(char)
                    if syn:
                        unit += 1
                        yield syn, 1.0, unit
            for i in range(len(part) - 1):
                # A bigram with a function character mostly spans two words (的服, 们自).
                if part[i] in _BIGRAM_STOP_CHARS or part[i + 1] in _BIGRAM_STOP_CHARS:
                    continue
                pair = part[i : i + 2]
                if pair not in CJK_STOP:
                    unit += 1
                    yield "#" + pair, 1.0, unit
        else:
            for compound in _LATIN_COMPOUND.findall(part):
                words = compound.split("-")
                for word in words:
                    if word in EN_STOP or (len(word) == 1 and not word.isdigit()):
                        continue
                    unit += 1
                    for term, share in _forms(word, False, unigrams, query):
                        yield term, share, unit
                if len(words) > 1:  # self-host, on-premise: the table may know the compound
                    syn = _synonym(compound) or _synonym(compound.replace("-", ""))
                    if syn:
                        unit += 1
                        yield syn, 1.0, unit


def _pivot_share(senses: int) -> float:
    """A word's dictionary pivots share its say: 1/sqrt(n), between "each sense is the
    meaning" (1, lets a polysemous word outweigh itself) and "one of n" (1/n, which
    starves exactly the words whose one matching sense is the point)."""
    return 1.0 / math.sqrt(senses) if senses > 1 else 1.0


def tokenize(text: str, *, unigrams: bool = True) -> list[str]:
    """Terms for BM25: words, '#' CJK bigrams, '!' CJK characters, '~' synonym groups, '@' pivots.

    Single characters help short texts (FAQ questions) meet their paraphrases; in long
    passages nearly every common character occurs, so there they only add noise and
    very long posting lists.
    """
    return [term for term, _, _ in _terms(text, unigrams)]


def query_terms(text: str) -> dict[str, float]:
    """A question's terms with their weights: the kind of term times its share."""
    weights: dict[str, float] = {}
    for term, share, _ in _terms(text, True, query=True):
        weights[term] = weights.get(term, 0.0) + share * term_weight(term)
    return weights


def query_units(text: str) -> list[dict[str, float]]:
    """A question's terms by unit (see _terms): term -> weight per word or surface piece.

    A word's forms are alternatives, so search counts only the best-matching one: an
    exact word then weighs as much as a synonym or a translation of it, instead of
    three to five times as much (word + synonym group + every pivot). Its characters
    and bigrams still add up, so an exact match keeps a lead from its surface.
    """
    units: dict[int, dict[str, float]] = {}
    for term, share, unit in _terms(text, True, query=True):
        weights = units.setdefault(unit, {})
        weights[term] = max(weights.get(term, 0.0), share * term_weight(term))
    return list(units.values())


def language_of(text: str) -> str:
    """ "zh" when the text has any Chinese character, else "en" (the languages shipped)."""
    return "zh" if _CJK_RUN.search(text) else "en"


def token_count(text: str) -> int:
    """A rough model-token estimate: one per CJK character, one per Latin word."""
    text = normalize(text)
    return sum(len(run) for run in _CJK_RUN.findall(text)) + len(_LATIN.findall(text))


def without_unigrams(terms: dict[str, float]) -> dict[str, float]:
    return {t: w for t, w in terms.items() if not t.startswith("!")}
