"""Train the emotion head on the two registry nets' own features: real photos + FER2013 → ONNX.

face-api's expression net and oarriaga's mini-Xception already run for every face; their last
features before the classifier (face-api's pooled 256, oarriaga's 256 channels averaged) hold
more than their 7 probabilities each. A small head on both, trained on real web photos, posed
photos and FER2013 chips at two sizes, replaces the plain average of the two nets' answers.
The shipped file ``expression.onnx`` is the two registry graphs and the head in one graph, so
serving runs one session on the same two crops as before.

Training inputs come from the serving pipeline: detection → landmarks → the aligned crop and
its grey 64² version. FER2013 chips are too many to detect one by one on a shared CPU: their
landmarks start from a fixed box (the median detector box of a sample of chips), as a chip is
a face centred the same way every time. Each FER chip is also seen enlarged ×4, from the box
the detector gives at that size, so a client's larger photo of a face reads as the chip does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose, helper
from tqdm import tqdm

from rosto import detection, models
from rosto.analysis import Analysis
from rosto.face import Face
from rosto.features.emotion import (
    EMOTIONS,
    FACE_API,
    FACE_API_ORDER,
    OARRIAGA,
    OARRIAGA_ORDER,  # fmt: skip
    grey_input,
)
from rosto.landmarks import aligned_crops
from rosto.training import cache_dir, common, expressions
from rosto.training.common import Timer, export_onnx, predict, seed_everything, table
from rosto.training.data import load
from rosto.training.faces import extract

MODEL = "expression"  # the shipped file: both nets and the head
OUTPUTS = ("probabilities", "registry_mean", "features")  # the shipped file's, in this order
SEED, EPOCHS, BATCH, LR = 0, 30, 256, 2e-3
ENLARGED = 4  # FER chips are also seen this many times larger
PHOTOS_PER_CLASS = 1500  # web photos per class at most (happy and neutral have ~4k each)
FER_EVERY = 2  # every other FER2013 training chip: 14k chips, two sizes each, are enough for a head
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


def net_features(crops: np.ndarray) -> np.ndarray:
    """(N, 526): the 512 features, then both nets' probabilities in API order (for reports)."""
    feats, fa, oa = _features_session().run(None, {"colour": crops, "grey": grey_input(crops)})
    fa = fa[:, [FACE_API_ORDER.index(e) for e in EMOTIONS]]
    oa = oa[:, [OARRIAGA_ORDER.index(e) for e in EMOTIONS]]
    return np.concatenate([feats, fa, oa], axis=1).astype(np.float32)


def views(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 2, 526) features of the face as served and mirrored."""
    crops = aligned_crops(analysis)
    return {"views": net_features(np.concatenate([crops, crops[:, :, ::-1]]))[None]}


def chip_boxes(paths: list[Path], every: int = 25) -> np.ndarray:
    """(2, 4) the median detector box of every ``every``-th chip as it is and enlarged, as
    fractions of the image's size. BlazeFace's box on a 48 px chip is a looser fraction of it
    (0.85 of the width) than on the same chip enlarged ×4 (0.70): the landmarks and the crop
    follow, and the head must answer the same on both."""
    boxes: list[list[np.ndarray]] = [[], []]
    for path in tqdm(paths[::every], desc="chip boxes", file=sys.stderr, dynamic_ncols=True):
        image = load(path)
        for size, view in enumerate((image, enlarge(image))):
            faces = detection.detect(view)
            if faces:
                boxes[size].append(faces[0].box / np.tile(view.shape[1::-1], 2))
    return np.stack([np.median(np.array(b), axis=0) for b in boxes])


def enlarge(image: np.ndarray) -> np.ndarray:
    size = (image.shape[1] * ENLARGED, image.shape[0] * ENLARGED)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def chip_features(name: str, paths: list[Path], boxes: np.ndarray, fresh: bool) -> np.ndarray:
    """(N, 2, 526) features of each chip at 48 px and enlarged, each from its size's box;
    each size cached on its own (``<name>_48px``, ``<name>_x4``)."""
    sizes = []
    for size, (tag, box) in enumerate(zip(("48px", f"x{ENLARGED}"), boxes, strict=True)):
        path = cache_dir() / f"{name}_{tag}.npy"
        if path.is_file() and not fresh:
            sizes.append(np.load(path))
            continue
        rows = []
        for photo in tqdm(paths, desc=f"chips {name} {tag}", file=sys.stderr, dynamic_ncols=True):
            image = load(photo)
            view = enlarge(image) if size else image
            face = Face(box=box * np.tile(view.shape[1::-1], 2), score=1.0,
                        keypoints=np.zeros((6, 2)))  # fmt: skip
            rows.append(net_features(aligned_crops(Analysis(view, [face])))[0])
        sizes.append(np.stack(rows))
        np.save(path, sizes[-1])
    return np.stack(sizes, axis=1)


def capped(items: list, cap: int) -> list:
    """At most ``cap`` items per emotion (item[1]), evenly spaced."""
    out = []
    for emotion in EMOTIONS:
        group = [i for i in items if i[1] == emotion]
        step = max(1.0, len(group) / cap)
        out += [group[int(k * step)] for k in range(min(cap, len(group)))]
    return out


def photo_set(name: str, split: str, cap: int | None, fresh: bool) -> tuple[np.ndarray, np.ndarray]:
    """(M, 2, 526) served + mirrored features and (M,) labels of a cached set's found faces."""
    items = list(expressions.cached(name, split))
    items = capped(items, cap) if cap else items
    arrays = extract(f"emotion_{name}_{split}_{cap}", [p for p, *_ in items], views, fresh)
    labels = np.array([EMOTIONS.index(e) for (_, e, _), f in
                       zip(items, arrays["found"], strict=True) if f])  # fmt: skip
    return arrays["views"], labels


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


def export(head: Head, path: Path) -> None:
    """The features graph and the head as one ONNX file: inputs ``colour`` and ``grey`` (the
    aligned crop and its grey 64² version), outputs ``probabilities`` (N, 7, the head's),
    ``registry_mean`` (N, 7, the two nets' mean), both in the API's order, and ``features``
    (N, 512, the head's input, which the smile head reads too)."""
    head_path = cache_dir() / "emotion_head.onnx"
    export_onnx(Exported(head), np.zeros((2, 512), np.float32), head_path, ["probabilities"])
    tail = compose.add_prefix(onnx.load(str(head_path)), "head/", rename_inputs=False,
                              rename_outputs=False)  # fmt: skip
    tail.graph.input[0].name = "features"
    for node in tail.graph.node:
        node.input[:] = ["features" if n == "input" else n for n in node.input]
    body = with_registry_mean(features_graph())
    tail.ir_version = body.ir_version
    merged = compose.merge_models(body, tail, io_map=[("features", "features")],
                                  outputs=list(OUTPUTS))  # fmt: skip
    outputs = sorted(merged.graph.output, key=lambda o: OUTPUTS.index(o.name))
    del merged.graph.output[:]
    merged.graph.output.extend(outputs)
    onnx.checker.check_model(merged)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(path))


Sets = dict[str, tuple[np.ndarray, np.ndarray]]


def datasets(data_dir: Path, fresh: bool) -> tuple[Sets, Sets]:
    """Training and dev sets: (features of every view, labels) per source. Photos first: they
    matter most, and FER2013's chips take the longest."""
    train: Sets = {"photos": photo_set(expressions.PHOTOS, "train", PHOTOS_PER_CLASS, fresh)}
    dev: Sets = {"photos": photo_set(expressions.PHOTOS, "dev", 150, fresh)}
    for name in expressions.POSED:
        train[name] = photo_set(name, "train", None, fresh)
        dev[name] = photo_set(name, "dev", 100, fresh)
    fer_train = list(expressions.cached("fer2013_train", "train"))[::FER_EVERY]
    fer_dev = capped(list(expressions.fer2013("dev", data_dir)), 300)
    box_file = cache_dir() / "emotion_fer_chip_boxes.npy"
    if fresh or not box_file.is_file():
        np.save(box_file, chip_boxes([p for p, *_ in fer_train]))
    boxes = np.load(box_file)
    for sets, name, items in ((dev, "dev", fer_dev), (train, "train", fer_train)):
        features = chip_features(f"emotion_fer_{name}_{FER_EVERY}", [i[0] for i in items], boxes,
                                 fresh)  # fmt: skip
        sets["fer2013"] = features, np.array([EMOTIONS.index(i[1]) for i in items])
    return train, dev


def fit_head(train: Sets, columns: slice, weights: dict[str, float], rng: np.random.Generator,
             epochs: int = EPOCHS) -> Head:
    """A head on ``columns`` of the features; each source's classes weigh as if balanced,
    then the source by ``weights``."""
    return common.fit_balanced_head(train, columns, weights, rng, classes=len(EMOTIONS),
                                    epochs=epochs, lr=LR, batch=BATCH, desc="emotion")  # fmt: skip


FEATURES = slice(0, 512)
SOURCE_WEIGHTS = {"fer2013": 0.5, "photos": 4.0, "taiwanese": 1.0, "ck48": 1.0}


def evaluate(predict_fn: Callable[[np.ndarray], np.ndarray], dev: Sets) -> list[tuple[str, str]]:
    rows = []
    for name, (x, y) in dev.items():
        views = ("48 px", f"×{ENLARGED}") if name == "fer2013" else ("as served",)
        for v, label in enumerate(views):
            score, per = balanced_accuracy(predict_fn(np.ascontiguousarray(x[:, v])), y)
            detail = " ".join(f"{c} {a:.2f}" for c, a in per.items())
            rows.append((f"{name} dev {label}", f"{score:.3f}  ({detail})"))
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
    guard = expressions.guard_version(expressions.PHOTOS)
    rows = [(f"train faces {k}", str(len(y))) for k, (_, y) in train_sets.items()]
    rows += [("two nets averaged (before)", "")]
    rows += evaluate(lambda x: x[:, 512:519] + x[:, 519:526], dev)
    rows += [("head (shipped)", "")]
    rows += evaluate(lambda x: predict(head, np.ascontiguousarray(x[:, FEATURES])), dev)
    rows += [("unseen guard (unseen.txt sha256)", guard), ("time", str(timer)),
             ("written", str(path))]  # fmt: skip
    return table(rows, "emotion (balanced accuracy: every class weighs the same)")
