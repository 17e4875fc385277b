"""A local intent classifier: TF-IDF character n-grams and logistic regression, per tenant.

Trained from built-in labelled examples plus the tenant's FAQ questions (label
"faq"), so a question the FAQ can answer is not mistaken for small talk.
"""

from __future__ import annotations

import threading

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from bots.knowledge.index import tenant_version
from bots.knowledge.models import FaqEntry
from bots.knowledge.text import normalize
from kefu.models import Tenant

HUMAN_REQUEST = "human_request"
COMPLAINT = "complaint"
GREETING = "greeting"
THANKS = "thanks"
FAQ = "faq"

BUILTIN_EXAMPLES: dict[str, tuple[str, ...]] = {
    HUMAN_REQUEST: (
        "转人工",
        "人工客服",
        "我要人工",
        "找人工",
        "人工",
        "转接人工客服",
        "请帮我转人工",
        "我要找真人",
        "有没有真人客服",
        "叫你们客服来",
        "不要机器人",
        "让客服跟我说",
        "联系人工",
        "接人工",
        "真人",
        "talk to a human",
        "human please",
        "i want to speak to an agent",
        "connect me to a person",
        "real person please",
        "agent",
        "let me talk to someone",
        "get me a human",
        "representative",
        "can i talk to support staff",
        "operator",
    ),
    COMPLAINT: (
        "我要投诉",
        "太差了",
        "服务太差",
        "你们太坑了",
        "垃圾产品",
        "退钱",
        "我很不满意",
        "一直没人处理",
        "问题拖了好几天了",
        "再不解决我就投诉",
        "气死我了",
        "骗子",
        "太失望了",
        "态度恶劣",
        "this is terrible",
        "i want to complain",
        "worst service ever",
        "i am very disappointed",
        "this is unacceptable",
        "you people are useless",
        "file a complaint",
        "i'm angry",
        "scam",
        "nobody has fixed my problem for days",
    ),
    GREETING: (
        "你好",
        "您好",
        "在吗",
        "有人吗",
        "哈喽",
        "嗨",
        "早上好",
        "下午好",
        "晚上好",
        "hello",
        "hi",
        "hey",
        "good morning",
        "good afternoon",
        "anyone there",
        "hi there",
        "hello?",
        "在不在",
    ),
    THANKS: (
        "谢谢",
        "谢谢你",
        "多谢",
        "感谢",
        "非常感谢",
        "好的谢谢",
        "辛苦了",
        "明白了谢谢",
        "thanks",
        "thank you",
        "thx",
        "thanks a lot",
        "many thanks",
        "great, thanks",
        "appreciate it",
        "ok thank you",
    ),
    FAQ: (
        "怎么修改密码",
        "如何开发票",
        "多少钱",
        "支持退款吗",
        "怎么使用",
        "在哪里设置",
        "什么时候发货",
        "how do i reset my password",
        "how much does it cost",
        "where can i find the settings",
        "do you support refunds",
        "how to export data",
        "can i change my plan",
    ),
}

_cache: dict[int, tuple[int, Pipeline]] = {}
_lock = threading.Lock()


def train(faq_questions: list[str]) -> Pipeline:
    texts: list[str] = []
    labels: list[str] = []
    for label, examples in BUILTIN_EXAMPLES.items():
        texts.extend(normalize(e) for e in examples)
        labels.extend([label] * len(examples))
    for question in faq_questions:
        texts.append(normalize(question))
        labels.append(FAQ)
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced"),
    )
    model.fit(texts, labels)
    return model


def classifier_for(tenant: Tenant) -> Pipeline:
    version = tenant_version(tenant.pk)
    cached = _cache.get(tenant.pk)
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        cached = _cache.get(tenant.pk)
        if cached is not None and cached[0] == version:
            return cached[1]
        questions = list(
            FaqEntry.objects.filter(tenant=tenant, enabled=True)
            .order_by("pk")
            .values_list("question", flat=True)[:5000]
        )
        model = train(questions)
        _cache[tenant.pk] = (version, model)
        return model


def classify_intent(tenant: Tenant, text: str) -> tuple[str, float]:
    """The most likely intent and its probability."""
    text = normalize(text).strip()
    if not text:
        return GREETING, 0.0
    model = classifier_for(tenant)
    probabilities = model.predict_proba([text])[0]
    best = int(probabilities.argmax())
    return str(model.classes_[best]), float(probabilities[best])
