"""A classical text classifier as a baseline: TF-IDF features and one logistic regression per categorical field.

The sceptic's question for any fine-tuned model on a labelling task is whether a model that costs nothing to
run would do as well. This module answers it with scikit-learn: the text of the user turn(s) is turned into
TF-IDF features once, and every categorical field of the task's JSON schema (an ``enum``, a boolean, or a
nullable string such as a product name, where null is a class of its own) gets its own logistic regression.
The predicted fields are put back together as one JSON answer, so the answer is scored by the same metric code
as any generated one.

Nothing is dropped without a word: a training row that cannot be used is returned with the reason, a row
whose value for one field breaks the schema is left out of that field's classifier only (and counted), and a
field with a single class in training predicts that class and says so.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specialize.evaluation.metrics import parse_json
from specialize.runtime.errors import InvalidInput

# The fixed setting, chosen before looking at any eval set and kept the same for every task:
# - word uni- and bigrams catch the phrases that name a category ("charged twice", "reset link");
# - character 2-5-grams inside word boundaries catch typos, inflections, capitals-only text and languages
#   that do not put spaces between words (Japanese), where the word tokenizer sees one long token;
# - sublinear term frequency stops one repeated word (a pasted log) from dominating a short ticket;
# - every n-gram is kept (min_df=1): with a hundred or so training rows most useful n-grams occur once.
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
# L2-regularised logistic regression; C=10 regularises less than scikit-learn's default of 1, which on a few
# hundred sparse, L2-normalised features shrinks every weight towards the majority class. Classes are
# weighted by inverse frequency so a rare class (an urgent ticket) is not out-voted by a common one.
C = 10.0
CLASS_WEIGHT = "balanced"
# Newton-CG reaches the same optimum as the default L-BFGS (the loss is convex) in a handful of iterations; on
# the support-triage seeds it used about half the CPU time of L-BFGS and a third of SAGA's.
SOLVER = "newton-cg"
MAX_ITER = 1000


def describe_setting() -> dict[str, Any]:
    """The features and classifier in words and numbers, for provenance."""
    import sklearn

    return {
        "features": {"kind": "tf-idf", "word_ngrams": list(WORD_NGRAMS), "char_wb_ngrams": list(CHAR_NGRAMS),
                     "lowercase": True, "sublinear_tf": True, "min_df": 1, "norm": "l2 per feature block"},
        "classifier": {"kind": "logistic_regression", "penalty": "l2", "C": C, "class_weight": CLASS_WEIGHT,
                       "solver": SOLVER, "max_iter": MAX_ITER, "one_per_field": True},
        "scikit_learn": sklearn.__version__,
    }


def categorical_fields(schema: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The schema's fields a classifier can predict, in schema order, and the others with the reason."""
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise InvalidInput("The JSON schema has no 'properties', so there are no fields to classify.",
                           fix="Give the task's output schema (an object schema with properties), e.g. through "
                               "task_card or schema_path.")
    fields: list[str] = []
    left_out: dict[str, str] = {}
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        types = prop.get("type")
        types = set(types) if isinstance(types, list) else {types} if types else set()
        if "enum" in prop or "const" in prop:
            fields.append(name)
        elif types and types <= {"boolean", "null"}:
            fields.append(name)
        elif types == {"string", "null"}:
            fields.append(name)  # a nullable name (e.g. a product): the values seen in training plus null
        else:
            left_out[name] = (f"type {sorted(types) or 'unspecified'} without an enum is free-form; a classifier "
                              "can only pick values it has seen, so this baseline does not predict it")
    if not fields:
        raise InvalidInput("The JSON schema has no categorical field (enum, boolean or nullable string).",
                           fix="This baseline classifies; use it for tasks whose answers are labels.")
    return fields, left_out


def user_text(messages: list[dict[str, Any]]) -> str:
    """The classifier's input: every user turn's text, joined by blank lines."""
    return "\n\n".join(str(m.get("content") or "") for m in messages
                       if isinstance(m, dict) and m.get("role") == "user").strip()


def _key(value: Any) -> str:
    # JSON text keeps null, booleans and strings apart ("null", "true", "\"true\"") for scikit-learn's labels.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class TrainingSet:
    texts: list[str]
    answers: list[dict[str, Any]]
    rows: int
    where: list[dict[str, Any]] = field(default_factory=list)  # line and id of each usable row
    skipped: list[dict[str, Any]] = field(default_factory=list)


def read_training_rows(path: Path) -> TrainingSet:
    """Chat rows whose last assistant message is a JSON object; every other row is returned with the reason."""
    texts: list[str] = []
    answers: list[dict[str, Any]] = []
    where: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    rows = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rows += 1
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                skipped.append({"line": lineno, "id": None, "reason": f"not JSON: {exc.msg}"})
                continue
            rid = row.get("id") if isinstance(row, dict) else None
            rid = None if rid is None else str(rid)
            msgs = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(msgs, list) or not msgs:
                skipped.append({"line": lineno, "id": rid, "reason": "no 'messages' list"})
                continue
            last = max((i for i, m in enumerate(msgs) if isinstance(m, dict) and m.get("role") == "assistant"),
                       default=None)
            if last is None:
                skipped.append({"line": lineno, "id": rid, "reason": "no assistant message to learn from"})
                continue
            text = user_text(msgs[:last])
            if not text:
                skipped.append({"line": lineno, "id": rid, "reason": "no user text before the assistant answer"})
                continue
            answer, err = parse_json(str(msgs[last].get("content") or ""))
            if err is not None:
                skipped.append({"line": lineno, "id": rid, "reason": f"assistant answer unparsable: {err}"})
                continue
            if not isinstance(answer, dict):
                skipped.append({"line": lineno, "id": rid,
                                "reason": f"assistant answer is a JSON {type(answer).__name__}, not an object"})
                continue
            texts.append(text)
            answers.append(answer)
            where.append({"line": lineno, "id": rid})
    return TrainingSet(texts=texts, answers=answers, rows=rows, where=where, skipped=skipped)


@dataclass
class FieldClassifier:
    name: str
    classes: list[Any]
    n_train: int
    class_counts: dict[str, int]
    left_out: list[dict[str, Any]]
    estimator: Any = None  # None: a constant (one class) or an untrained field
    note: str | None = None

    def report(self) -> dict[str, Any]:
        return {"field": self.name, "classes": self.classes, "class_counts": self.class_counts,
                "train_rows": self.n_train, "rows_left_out": len(self.left_out),
                "left_out": self.left_out, "constant": self.estimator is None and bool(self.classes),
                "note": self.note}


@dataclass
class ClassicalModel:
    """A fitted vectorizer and one classifier per field; ``predict`` gives one JSON answer per text."""

    fields: list[FieldClassifier]
    vectorizer: Any
    train_seconds: float
    train_cpu_seconds: float = 0.0

    def predict(self, text: str) -> dict[str, Any]:
        x = self.vectorizer.transform([text])
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.estimator is not None:
                out[f.name] = json.loads(f.estimator.predict(x)[0])
            elif f.classes:
                out[f.name] = f.classes[0]
        return out


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True, lowercase=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, lowercase=True)),
    ])


def _field_labels(train: TrainingSet, name: str, prop: dict[str, Any]) -> tuple[list[int], list[str], list[dict]]:
    """Which usable rows teach this field (their indexes and label keys), and the others with the reason."""
    import jsonschema

    check = jsonschema.Draft202012Validator(prop)
    idx: list[int] = []
    labels: list[str] = []
    left_out: list[dict[str, Any]] = []
    for i, (ans, where) in enumerate(zip(train.answers, train.where)):
        if name not in ans:
            left_out.append({**where, "reason": f"no '{name}' in the answer"})
            continue
        err = next(iter(check.iter_errors(ans[name])), None)
        if err is not None:
            left_out.append({**where, "reason": f"'{name}' breaks the schema: {err.message}"})
            continue
        idx.append(i)
        labels.append(_key(ans[name]))
    return idx, labels, left_out


def _fit_field(x_all: Any, train: TrainingSet, name: str, prop: dict[str, Any], seed: int) -> FieldClassifier:
    from sklearn.linear_model import LogisticRegression

    idx, labels, left_out = _field_labels(train, name, prop)
    counts = dict(sorted(Counter(labels).items()))
    classes = [json.loads(k) for k in counts]
    fc = FieldClassifier(name=name, classes=classes, n_train=len(idx), class_counts=counts, left_out=left_out)
    if not classes:
        fc.note = "no training row has a valid value for this field, so it is not predicted"
    elif len(classes) == 1:
        fc.note = (f"training has one class ({_key(classes[0])}), so every item gets it; a classifier needs two "
                   "classes or more to learn anything")
    else:
        clf = LogisticRegression(C=C, class_weight=CLASS_WEIGHT, solver=SOLVER, max_iter=MAX_ITER, random_state=seed)
        fc.estimator = clf.fit(x_all[idx], labels)
    return fc


def fit(train: TrainingSet, schema: dict[str, Any], fields: list[str], *, seed: int = 0) -> ClassicalModel:
    """Fit the shared features on every usable training text and one classifier per field."""
    from threadpoolctl import threadpool_limits

    if not train.texts:
        raise InvalidInput(f"No usable training rows ({len(train.skipped)} skipped, e.g. "
                           f"{train.skipped[0]['reason'] if train.skipped else 'the file is empty'}).",
                           fix="Give chat rows whose last assistant message is the task's JSON answer.")
    start, cpu = time.perf_counter(), time.process_time()
    # One BLAS thread: the matrices are small, and more threads only fight over the cores (on a busy 2-core
    # machine the default thread count made fitting about four times slower).
    with threadpool_limits(1):
        vec = _vectorizer()
        x_all = vec.fit_transform(train.texts)
        models = [_fit_field(x_all, train, name, schema["properties"][name], seed) for name in fields]
    return ClassicalModel(fields=models, vectorizer=vec, train_seconds=time.perf_counter() - start,
                          train_cpu_seconds=time.process_time() - cpu)


__all__ = ["categorical_fields", "user_text", "read_training_rows", "fit", "describe_setting", "ClassicalModel",
           "FieldClassifier", "TrainingSet"]
