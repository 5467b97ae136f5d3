"""Train the emotion head on the two registry nets' own features: real photos + FER2013 → ONNX.

face-api's expression net and oarriaga's mini-Xception already run for every face; their last
features before the classifier (face-api's pooled 256, oarriaga's 256 channels averaged) hold
more than their 7 probabilities each. A small head on both, trained on real web photos, posed
photos and FER2013 chips at two sizes, replaces the plain average of the two nets' answers.
The shipped file ``expression.onnx`` is the two registry graphs and the head in one graph, so
serving runs one session on the same two crops as before.

Training inputs come from the serving pipeline, exactly as served: detection → landmarks →
face-api's aligned crop and oarriaga's grey crop framed as a FER2013 chip (``fer_boxes``).
FER2013 chips too are detected one by one, as they are (48 px) and enlarged ×4 (two sources):
a chip the detector misses is left out, as the API answers nothing for it. The landmarks are
cached with the features, so another crop can be tried without detecting again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose, helper

from rosto import models
from rosto.analysis import Analysis
from rosto.features.emotion import (
    EMOTIONS,
    FACE_API,
    FACE_API_ORDER,
    OARRIAGA,
    OARRIAGA_ORDER,  # fmt: skip
    expression_inputs,
    eyes_and_mouth,
)
from rosto.landmarks import landmarks68
from rosto.training import cache_dir, common, expressions
from rosto.training.common import Timer, export_onnx, predict, seed_everything, table
from rosto.training.faces import extract

MODEL = "expression"  # the shipped file: both nets and the head
OUTPUTS = ("probabilities", "registry_mean", "features")  # the shipped file's, in this order
MEAN_WEIGHT = 0.5  # the two nets' mean joins the head's answer with this weight (``blend``)
SEED, EPOCHS, BATCH, LR = 0, 30, 256, 2e-3
ENLARGED = 4  # FER chips are also seen this many times larger
PHOTOS_PER_CLASS = 1500  # web photos per class at most (happy and neutral have ~4k each)
FER_EVERY = 2  # every other FER2013 training chip: 14k chips, two sizes each, are enough for a head
# Cache tag: detected and cropped as a request does, grey framed as FER (2: after detection's
# tight-crop look of 8d04b05)
RECIPE = "fer_framed_2"
FACE_API_FEATURES = "flatten_125"  # (N, 256) pooled, before its classifier
# (N, 256, 8, 8), before its last convolution
OARRIAGA_FEATURES = "StatefulPartitionedCall/model_1/add_2/add"


def _renamed(model: onnx.ModelProto, prefix: str) -> onnx.ModelProto:
    return compose.add_prefix(model, prefix, rename_inputs=False)


def features_graph() -> onnx.ModelProto:
    """face_expression and oarriaga as one graph: inputs ``colour`` (N,112,112,3 RGB 0..255)
    and ``grey`` (N,64,64,1, −1..1), output ``features`` (N, 512) and both nets' softmax."""
    fa = onnx.load(str(models.weight_path(FACE_API)))
    oa = onnx.load(str(models.weight_path(OARRIAGA)))
    fa.graph.input[0].name, oa.graph.input[0].name = "colour", "grey"
    for model, old in ((fa, "input"), (oa, "input_1")):
        new = model.graph.input[0].name
        for node in model.graph.node:
            node.input[:] = [new if name == old else name for name in node.input]
    merged = compose.merge_models(_renamed(fa, "fa/"), _renamed(oa, "oa/"), io_map=[])
    pooled = helper.make_node("ReduceMean", ["oa/" + OARRIAGA_FEATURES], ["oa_pooled"],
                              axes=[2, 3], keepdims=0)  # fmt: skip
    concat = helper.make_node("Concat", ["fa/" + FACE_API_FEATURES, "oa_pooled"], ["features"],
                              axis=1)  # fmt: skip
    merged.graph.node.extend([pooled, concat])
    outputs = list(merged.graph.output)
    del merged.graph.output[:]
    merged.graph.output.extend([helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT,
                                                              ["N", 512]), *outputs])  # fmt: skip
    return merged


_session: list[ort.InferenceSession] = []


def _features_session() -> ort.InferenceSession:
    if not _session:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        _session.append(ort.InferenceSession(features_graph().SerializeToString(), opts,
                                             providers=["CPUExecutionProvider"]))  # fmt: skip
    return _session[0]


def net_features(colour: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """(N, 526): the 512 features, then both nets' probabilities in API order (for reports)."""
    feats, fa, oa = _features_session().run(None, {"colour": colour, "grey": grey})
    fa = fa[:, [FACE_API_ORDER.index(e) for e in EMOTIONS]]
    oa = oa[:, [OARRIAGA_ORDER.index(e) for e in EMOTIONS]]
    return np.concatenate([feats, fa, oa], axis=1).astype(np.float32)


def views(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 2, 526) features of the face as served and mirrored, and its (1, 68, 2) landmarks
    (kept to try other crops without detecting again)."""
    colour, grey = expression_inputs(analysis)
    mirrored = (np.concatenate([x, x[:, :, ::-1]]) for x in (colour, grey))
    return {"views": net_features(*mirrored)[None],
            "landmarks": landmarks68(analysis)}  # fmt: skip


def enlarge(image: np.ndarray) -> np.ndarray:
    size = (image.shape[1] * ENLARGED, image.shape[0] * ENLARGED)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def capped(items: list, cap: int) -> list:
    """At most ``cap`` items per emotion (item[1]), evenly spaced."""
    out = []
    for emotion in EMOTIONS:
        group = [i for i in items if i[1] == emotion]
        step = max(1.0, len(group) / cap)
        out += [group[int(k * step)] for k in range(min(cap, len(group)))]
    return out


def fer_layout(landmarks: np.ndarray, side: int = 48) -> np.ndarray:
    """(3, 2) where FER2013's chips put the eyes and the mouth, as fractions of the chip: the
    median over the training chips (``FER_EYES_MOUTH``, which frames oarriaga's crop)."""
    return np.median(eyes_and_mouth(landmarks) / side, axis=0)


def served_set(name: str, items: list, fresh: bool,
               view: Callable[[np.ndarray], np.ndarray] | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(M, 2, 526) served + mirrored features and (M,) labels of the faces the serving pipeline
    finds in ``items`` ((path, emotion, ...)); a photo without a face is left out, as the API
    answers no emotion for it."""
    arrays = served_arrays(name, items, fresh, view)
    labels = np.array([EMOTIONS.index(e) for (_, e, *_), f in
                       zip(items, arrays["found"], strict=True) if f])  # fmt: skip
    return arrays["views"], labels


def served_arrays(name: str, items: list, fresh: bool,
                  view: Callable[[np.ndarray], np.ndarray] | None = None,
                  ) -> dict[str, np.ndarray]:  # fmt: skip
    """``views``' arrays of the faces found in ``items``, cached as ``emotion_<name>_<RECIPE>``."""
    return extract(f"emotion_{name}_{RECIPE}", [p for p, *_ in items], views, fresh, view=view)


# The head and its served graph, shared with the other classifier heads.
Head = partial(common.Head, classes=len(EMOTIONS))
Exported = common.Softmaxed


def balanced_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, dict[str, float]]:
    """Mean of per-class accuracies (classes present only) and each class's accuracy."""
    predicted = probs.argmax(1)
    per = {EMOTIONS[c]: float((predicted[labels == c] == c).mean()) for c in np.unique(labels)}
    return float(np.mean(list(per.values()))), per


def with_registry_mean(graph: onnx.ModelProto) -> onnx.ModelProto:
    """``features_graph`` with outputs ``features`` and ``registry_mean``: the mean of the two
    nets' probabilities in the API's order (the emotion answer until the head; smile's input)."""
    nodes, means = [], []
    for net, order in (("fa", FACE_API_ORDER), ("oa", OARRIAGA_ORDER)):
        (out,) = [o.name for o in graph.graph.output if o.name.startswith(net + "/")]
        index = helper.make_tensor(f"{net}_api_order", onnx.TensorProto.INT64, [len(EMOTIONS)],
                                   [order.index(e) for e in EMOTIONS])  # fmt: skip
        graph.graph.initializer.append(index)
        nodes.append(helper.make_node("Gather", [out, index.name], [f"{net}_api"], axis=1))
        means.append(f"{net}_api")
    half = helper.make_tensor("half", onnx.TensorProto.FLOAT, [], [0.5])
    graph.graph.initializer.append(half)
    nodes += [helper.make_node("Add", means, ["registry_sum"]),
              helper.make_node("Mul", ["registry_sum", "half"], ["registry_mean"])]  # fmt: skip
    graph.graph.node.extend(nodes)
    kept = [o for o in graph.graph.output if o.name == "features"]
    del graph.graph.output[:]
    mean = helper.make_tensor_value_info("registry_mean", onnx.TensorProto.FLOAT, ["N", 7])
    graph.graph.output.extend([*kept, mean])
    return graph


def blend(head: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The answer: the head's probabilities and ``MEAN_WEIGHT`` of the two nets' mean."""
    return (head + MEAN_WEIGHT * mean) / (1 + MEAN_WEIGHT)


def with_blend(graph: onnx.ModelProto) -> onnx.ModelProto:
    """``blend`` in the graph: ``head_probabilities`` and ``registry_mean`` → ``probabilities``."""
    graph.graph.initializer.extend([
        helper.make_tensor("mean_weight", onnx.TensorProto.FLOAT, [], [MEAN_WEIGHT]),
        helper.make_tensor("blend_scale", onnx.TensorProto.FLOAT, [], [1 / (1 + MEAN_WEIGHT)]),
    ])  # fmt: skip
    graph.graph.node.extend([
        helper.make_node("Mul", ["registry_mean", "mean_weight"], ["weighted_mean"]),
        helper.make_node("Add", ["head_probabilities", "weighted_mean"], ["blend_sum"]),
        helper.make_node("Mul", ["blend_sum", "blend_scale"], ["probabilities"]),
    ])  # fmt: skip
    return graph


def export(head: Head, path: Path) -> None:
    """The features graph and the head as one ONNX file: inputs ``colour`` and ``grey`` (the
    aligned crop and oarriaga's grey 64² framed as a FER2013 chip), outputs ``probabilities``
    (N, 7, the head's blended with the nets' mean, ``blend``), ``registry_mean`` (N, 7, the
    two nets' mean), both in the API's order, and ``features`` (N, 512, the head's input,
    which the smile head reads too)."""
    head_path = cache_dir() / "emotion_head.onnx"
    export_onnx(Exported(head), np.zeros((2, 512), np.float32), head_path, ["head_probabilities"])
    tail = compose.add_prefix(onnx.load(str(head_path)), "head/", rename_inputs=False,
                              rename_outputs=False)  # fmt: skip
    tail.graph.input[0].name = "features"
    for node in tail.graph.node:
        node.input[:] = ["features" if n == "input" else n for n in node.input]
    body = with_registry_mean(features_graph())
    tail.ir_version = body.ir_version
    kept = ["head_probabilities", *OUTPUTS[1:]]
    merged = with_blend(compose.merge_models(body, tail, io_map=[("features", "features")],
                                             outputs=kept))  # fmt: skip
    by_name = {o.name: o for o in merged.graph.output}
    by_name["probabilities"] = helper.make_tensor_value_info(
        "probabilities", onnx.TensorProto.FLOAT, ["N", len(EMOTIONS)])
    del merged.graph.output[:]
    merged.graph.output.extend(by_name[name] for name in OUTPUTS)
    onnx.checker.check_model(merged)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(path))


Sets = dict[str, tuple[np.ndarray, np.ndarray]]


def datasets(data_dir: Path, fresh: bool) -> tuple[Sets, Sets]:
    """Training and dev sets: (features of every view, labels) per source, each face found
    and cropped by the serving pipeline. FER2013 chips are two sources, as they are (48 px)
    and enlarged ×4. Photos first: they matter most, and FER2013's chips take the longest."""
    photos = list(expressions.cached(expressions.PHOTOS, "train"))
    train: Sets = {"photos": served_set("photos_train", capped(photos, PHOTOS_PER_CLASS), fresh)}
    dev: Sets = {"photos": served_set("photos_dev", capped(
        list(expressions.cached(expressions.PHOTOS, "dev")), 150), fresh)}  # fmt: skip
    for name in expressions.POSED:
        train[name] = served_set(f"{name}_train", list(expressions.cached(name, "train")), fresh)
        dev[name] = served_set(f"{name}_dev", capped(list(expressions.cached(name, "dev")), 100),
                               fresh)  # fmt: skip
    fer = {"dev": capped(list(expressions.fer2013("dev", data_dir)), 300),
           "train": list(expressions.cached("fer2013_train", "train"))[::FER_EVERY]}
    for split, sets in (("dev", dev), ("train", train)):
        for tag, view in (("48px", None), (f"x{ENLARGED}", enlarge)):
            sets[f"fer2013 {tag}"] = served_set(f"fer_{split}_{FER_EVERY}_{tag}", fer[split],
                                                fresh, view)  # fmt: skip
    return train, dev


def fit_head(train: Sets, columns: slice, weights: dict[str, float], rng: np.random.Generator,
             epochs: int = EPOCHS) -> Head:
    """A head on ``columns`` of the features; each source's classes weigh as if balanced,
    then the source by ``weights``."""
    return common.fit_balanced_head(train, columns, weights, rng, classes=len(EMOTIONS),
                                    epochs=epochs, lr=LR, batch=BATCH, desc="emotion")  # fmt: skip


FEATURES = slice(0, 512)
# Photos weigh most (what users send); FER2013's chips, cropped as served, no longer pull the
# head away from photos as the fixed-box chips did, and weigh as the posed sets.
SOURCE_WEIGHTS = {"photos": 4.0, "taiwanese": 1.0, "ck48": 1.0, "fer2013 48px": 1.0,
                  "fer2013 x4": 1.0}  # fmt: skip


def softmax(head: Head, x: np.ndarray) -> np.ndarray:
    """The head's probabilities for (N, 526) features."""
    logits = predict(head, np.ascontiguousarray(x[:, FEATURES]))
    exp = np.exp(logits - logits.max(1, keepdims=True))
    return exp / exp.sum(1, keepdims=True)


def evaluate(predict_fn: Callable[[np.ndarray], np.ndarray], dev: Sets) -> list[tuple[str, str]]:
    """Balanced accuracy of each dev set, as served (not mirrored), and each class's."""
    rows = []
    for name, (x, y) in dev.items():
        score, per = balanced_accuracy(predict_fn(np.ascontiguousarray(x[:, 0])), y)
        detail = " ".join(f"{c} {a:.2f}" for c, a in per.items())
        rows.append((f"{name} dev", f"{score:.3f}  ({detail})"))
    return rows


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/expression.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    for name in (expressions.PHOTOS, "fer2013_train", *expressions.POSED):
        if not expressions.available(name):
            raise SystemExit(f"{name} not prepared: python -m tools.prepare_expressions")
    train_sets, dev = datasets(data_dir, fresh)
    head = fit_head(train_sets, FEATURES, SOURCE_WEIGHTS, rng)
    path = out / f"{MODEL}.onnx"
    export(head, path)
    sources = (expressions.PHOTOS, "fer2013_train", *expressions.POSED)
    guard = " ".join(sorted({expressions.guard_version(name) for name in sources}))
    chips = served_arrays(f"fer_train_{FER_EVERY}_48px", [], False)["landmarks"]
    rows = [(f"train faces {k}", str(len(y))) for k, (_, y) in train_sets.items()]
    rows += [("FER2013 eyes and mouth (FER_EYES_MOUTH)", str(fer_layout(chips).round(3).tolist()))]
    rows += [("two nets averaged (before)", "")]
    rows += evaluate(lambda x: x[:, 512:519] + x[:, 519:526], dev)
    rows += [("head alone", "")]
    rows += evaluate(lambda x: predict(head, np.ascontiguousarray(x[:, FEATURES])), dev)
    rows += [(f"head + {MEAN_WEIGHT} × the nets' mean (shipped)", "")]
    rows += evaluate(lambda x: blend(softmax(head, x), (x[:, 512:519] + x[:, 519:526]) / 2), dev)
    rows += [("unseen guard (unseen.txt sha256)", guard), ("time", str(timer)),
             ("written", str(path))]  # fmt: skip
    return table(rows, "emotion (balanced accuracy: every class weighs the same)")
