"""Parity of the face-api ONNX conversions with @vladmandic/face-api's own JS, run in Node.

    npm ci --prefix tools/parity/faceapi      # once: pinned face-api 1.7.15 + pure-JS tfjs 4.22.0
    python -m tools.parity_faceapi

Converts every network (``tools.convert.faceapi``) from the npm-installed package into
``build/models``, then on two real photos (scikit-image's astronaut, matplotlib's Grace Hopper):

* **net parity**: the same input tensors (built here from real face crops, batch 1 and 2) go
  through ONNX Runtime and through face-api's own forward pass (``tools/parity/faceapi/run.mjs``);
  max abs diff per output.
* **pipeline parity**: face-api's full chain (``detectAllFaces`` SSD → ``withFaceLandmarks`` →
  expressions → age/gender → descriptors) in JS vs this module's reimplementation of its
  pre/post-processing around the ONNX graphs, which checks the crop/pad/resize/decode recipe
  documented in ``tools/convert/faceapi.py``.

Results: printed, and written to ``tools/parity/results_faceapi.json``. The preprocessing
functions here (``tf_resize_bilinear``, ``pad_to_square``, ``crop_box``...) are the exact
reference for the pipeline.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tools.convert import faceapi

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tools" / "parity" / "faceapi"
PACKAGE_DIR = NODE_DIR / "node_modules" / "@vladmandic" / "face-api"
RESULTS = ROOT / "tools" / "parity" / "results_faceapi.json"

Box = tuple[float, float, float, float]  # x, y, width, height in image pixels


# ---------------------------------------------------------------------------------------------
# face-api's preprocessing (Node path, image as a tensor), reproduced exactly


def crop_box(image: np.ndarray, box: Box) -> np.ndarray:
    """``extractFaceTensors``: clip the box to the image, floor x, y, w, h, slice."""
    height, width = image.shape[:2]
    x, y, w, h = box
    x0, y0 = max(x, 0.0), max(y, 0.0)
    cw, ch = min(x + w - x0, width - x0), min(y + h - y0, height - y0)
    x0, y0, cw, ch = (math.floor(v) for v in (x0, y0, cw, ch))
    return image[y0:y0 + ch, x0:x0 + cw]


def pad_to_square(image: np.ndarray, centre: bool) -> np.ndarray:
    """``padToSquare``: zero-pad the short side; centred puts ceil(d/2) after, floor(d/2) before."""
    height, width = image.shape[:2]
    diff = abs(height - width)
    after = math.floor(diff * 0.5 + 0.5) if centre else diff  # JS Math.round
    pads = [(0, 0), (0, 0), (0, 0)]
    pads[1 if height > width else 0] = (diff - after, after)
    return np.pad(image, pads)


def tf_resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """``tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false)``, bit-exact.

    Source coordinate of output pixel i is ``i * in / size`` (no half-pixel shift, no
    antialiasing), interpolated in double precision and stored as float32 like tfjs-backend-cpu.
    """
    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (n_in / size) * np.arange(size)
        lo = np.maximum(0, np.floor(src))
        return lo.astype(int), np.minimum(n_in - 1, np.ceil(src)).astype(int), src - lo

    r0, r1, fr = axis(image.shape[0])
    c0, c1, fc = axis(image.shape[1])
    x = image.astype(np.float64)
    fc, fr = fc[None, :, None], fr[:, None, None]
    top = x[r0][:, c0] + (x[r0][:, c1] - x[r0][:, c0]) * fc
    bottom = x[r1][:, c0] + (x[r1][:, c1] - x[r1][:, c0]) * fc
    return (top + (bottom - top) * fr).astype(np.float32)


def net_input(image: np.ndarray, size: int, centre: bool) -> np.ndarray:
    """``NetInput.toBatchTensor``: pad to square, resize to size² unless already that size."""
    square = pad_to_square(image.astype(np.float32), centre)
    return square if square.shape[0] == size else tf_resize_bilinear(square, size)


# ---------------------------------------------------------------------------------------------
# face-api's post-processing


def landmarks_in_image(values: np.ndarray, box: Box, crop_shape: tuple[int, ...]) -> np.ndarray:
    """Raw [136] landmark output → 68 (x, y) image pixels (postProcess + shiftBy(box.x, box.y))."""
    h, w = crop_shape[:2]
    side = max(h, w)
    pts = values.reshape(68, 2).astype(np.float64) * side
    return pts - [(side - w) / 2 - box[0], (side - h) / 2 - box[1]]


def aligned_rect(points: np.ndarray) -> Box:
    """``FaceLandmarks.align()``: landmarks' min/max box grown by 20 % (age/gender, expressions)."""
    x0, y0 = points.min(axis=0)
    x1, y1 = max(points[:, 0].max(), 0.0), max(points[:, 1].max(), 0.0)  # JS reduce starts at 0
    w, h = x1 - x0, y1 - y0
    return x0 - 0.1 * w, y0 - 0.1 * h, 1.2 * w, 1.2 * h


def dlib_rect(points: np.ndarray, crop_shape: tuple[int, ...]) -> Box:
    """``align(useDlibAlignment)``: eye/mouth-centred square for face_recognition."""
    left_eye, right_eye, mouth = (points[a:b].mean(axis=0) for a, b in ((36, 42), (42, 48),
                                                                         (48, 68)))
    dist = (np.linalg.norm(mouth - left_eye) + np.linalg.norm(mouth - right_eye)) / 2
    size = math.floor(dist / 0.45)
    ref = (left_eye + right_eye + mouth) / 3
    x = math.floor(max(0.0, ref[0] - 0.5 * size))
    y = math.floor(max(0.0, ref[1] - 0.43 * size))
    return x, y, min(size, crop_shape[1] + x), min(size, crop_shape[0] + y)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ya0, xa0, ya1, xa1 = min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])
    yb0, xb0, yb1, xb1 = min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])
    area_a, area_b = (ya1 - ya0) * (xa1 - xa0), (yb1 - yb0) * (xb1 - xb0)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = max(min(ya1, yb1) - max(ya0, yb0), 0.0) * max(min(xa1, xb1) - max(xa0, xb0), 0.0)
    return inter / (area_a + area_b - inter)


def ssd_detections(boxes: np.ndarray, scores: np.ndarray, image_shape: tuple[int, ...],
                   min_confidence: float = 0.5, iou_threshold: float = 0.5,
                   max_results: int = 100) -> list[tuple[float, Box]]:
    """``SsdMobilenetv1.locateFaces``: greedy NMS on one image's decoded boxes → pixel boxes."""
    order = sorted((i for i in range(scores.size) if scores[i] > min_confidence),
                   key=lambda i: -scores[i])
    selected: list[int] = []
    for i in order:
        if len(selected) >= max_results:
            break
        if all(_iou(boxes[i], boxes[j]) <= iou_threshold for j in selected):
            selected.append(i)
    height, width = image_shape[:2]
    side = max(height, width)
    pad_x = faceapi.SSD_SIZE / math.floor(width * faceapi.SSD_SIZE / side + 0.5)
    pad_y = faceapi.SSD_SIZE / math.floor(height * faceapi.SSD_SIZE / side + 0.5)
    result = []
    for i in selected:
        top, bottom = max(0.0, boxes[i, 0]) * pad_y, min(1.0, boxes[i, 2]) * pad_y
        left, right = max(0.0, boxes[i, 1]) * pad_x, min(1.0, boxes[i, 3]) * pad_x
        result.append((float(scores[i]), (left * width, top * height, (right - left) * width,
                                          (bottom - top) * height)))
    return result


# ---------------------------------------------------------------------------------------------
# Reference pipeline on ONNX Runtime


class Sessions:
    def __init__(self, models: Path):
        self._sessions = {name: ort.InferenceSession(str(models / f"{name}.onnx"),
                                                     providers=["CPUExecutionProvider"])
                          for name in faceapi.NETWORKS}

    def run(self, name: str, batch: np.ndarray) -> dict[str, np.ndarray]:
        sess = self._sessions[name]
        values = sess.run(None, {"input": batch})
        return {o.name: v for o, v in zip(sess.get_outputs(), values, strict=True)}


def reference_pipeline(sessions: Sessions, image: np.ndarray) -> tuple[list[dict], dict]:
    """face-api's detectAllFaces(SSD).withFaceLandmarks().withFaceExpressions()
    .withAgeAndGender().withFaceDescriptors(), with ONNX nets; also the nets' input tensors."""
    inputs: dict[str, list[np.ndarray]] = {n: [] for n in faceapi.NETWORKS}
    inputs["ssd_mobilenetv1"].append(net_input(image, faceapi.SSD_SIZE, centre=False))
    inputs["tiny_face_detector"].append(net_input(image, faceapi.TINY_CHECK_SIZE, centre=False))
    ssd = sessions.run("ssd_mobilenetv1", inputs["ssd_mobilenetv1"][0][None])
    faces = []
    for score, box in ssd_detections(ssd["boxes"][0], ssd["scores"][0], image.shape):
        crop = crop_box(image, box)
        x112 = net_input(crop, 112, centre=True)
        inputs["face_landmark_68"].append(x112)
        inputs["face_landmark_68_tiny"].append(x112)
        raw = sessions.run("face_landmark_68", x112[None])["landmarks"][0]
        points = landmarks_in_image(raw, box, crop.shape)
        aligned = aligned_rect(points)
        x_aligned = net_input(crop_box(image, aligned), 112, centre=True)
        x150 = net_input(crop_box(image, dlib_rect(points, crop.shape)), 150, centre=True)
        inputs["face_expression"].append(x_aligned)
        inputs["age_gender"].append(x_aligned)
        inputs["face_recognition"].append(x150)
        age_gender = sessions.run("age_gender", x_aligned[None])
        male = float(age_gender["gender"][0, 0])
        faces.append({
            "score": score, "box": list(box), "landmarks": points.tolist(),
            "alignedRect": list(aligned),
            "expressions": sessions.run("face_expression", x_aligned[None])["expressions"][0]
            .tolist(),
            "age": float(age_gender["age"][0]), "gender": "male" if male > 0.5 else "female",
            "genderProbability": male if male > 0.5 else 1 - male,
            "descriptor": sessions.run("face_recognition", x150[None])["descriptor"][0].tolist(),
        })
    return faces, inputs


# ---------------------------------------------------------------------------------------------
# Job for Node, comparison


def test_images() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"astronaut": skimage.data.astronaut(), "grace_hopper": hopper}


def _write(job_dir: Path, name: str, array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array, dtype="<f4")
    (job_dir / f"{name}.f32").write_bytes(array.tobytes())
    return {"file": f"{name}.f32", "shape": list(array.shape)}


def run_node(job_dir: Path, cases: list[dict]) -> dict:
    if not (NODE_DIR / "node_modules").is_dir():
        raise SystemExit(f"run `npm ci --prefix {NODE_DIR.relative_to(ROOT)}` first")
    job = {"modelDir": str(PACKAGE_DIR / "model"), "cases": cases}
    (job_dir / "job.json").write_text(json.dumps(job))
    subprocess.run(["node", str(NODE_DIR / "run.mjs"), str(job_dir)], check=True)
    return json.loads((job_dir / "results.json").read_text())


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def compare_pipeline(js_faces: list[dict], py_faces: list[dict]) -> dict:
    """Per-field max abs diff of the final results (px, years, probabilities)."""
    if len(js_faces) != len(py_faces):
        return {"faces_js": len(js_faces), "faces_onnx": len(py_faces)}
    fields = ["score", "box", "landmarks", "alignedRect", "expressions", "age",
              "genderProbability", "descriptor"]
    diffs = {f: max((_max_diff(j[f], p[f]) for j, p in zip(js_faces, py_faces, strict=True)),
                    default=0.0) for f in fields}
    diffs["gender_agrees"] = all(j["gender"] == p["gender"]
                                 for j, p in zip(js_faces, py_faces, strict=True))
    diffs["js_results"] = [
        {"age": round(j["age"], 1), "gender": j["gender"],
         "expression": faceapi.EXPRESSIONS[int(np.argmax(j["expressions"]))]} for j in js_faces]
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE_DIR)
    parser.add_argument("--models", type=Path, default=ROOT / "build" / "models")
    args = parser.parse_args()
    faceapi.convert(args.package, args.models)
    sessions = Sessions(args.models)
    images = test_images()

    net_inputs: dict[str, dict[str, np.ndarray]] = {n: {} for n in faceapi.NETWORKS}
    py_pipeline = {}
    for name, image in images.items():
        faces, inputs = reference_pipeline(sessions, image)
        py_pipeline[name] = faces
        for net, tensors in inputs.items():
            if tensors:
                net_inputs[net][name] = tensors[0]  # first face (or the whole image)

    with tempfile.TemporaryDirectory() as tmp:
        job_dir = Path(tmp)
        cases, onnx_out = [], {}
        for net, by_image in net_inputs.items():
            batches = {f"batch1_{k}": v[None] for k, v in by_image.items()}
            batches["batch2"] = np.stack(list(by_image.values()))
            for label, batch in batches.items():
                case_id = f"{net}.{label}"
                cases.append({"id": case_id, "net": net, "mode": "raw",
                              "size": batch.shape[1],
                              "inputs": [_write(job_dir, f"{case_id}.{i}", x)
                                         for i, x in enumerate(batch)]})
                onnx_out[case_id] = sessions.run(net, batch)
        for name, image in images.items():
            cases.append({"id": f"pipeline.{name}", "mode": "pipeline",
                          "inputs": [_write(job_dir, f"pipeline.{name}", image)]})
        js = run_node(job_dir, cases)

        report: dict = {"tfjs": js["tfjs"], "tfjs_backend": js["backend"],
                        "onnxruntime": ort.__version__, "nets": {}, "pipeline": {}}
        for case_id, outputs in onnx_out.items():
            net, label = case_id.split(".")
            for out_name, value in outputs.items():
                if out_name not in js["cases"][case_id]:
                    continue  # the `features` outputs: ours, the pooled input of the last layer
                # JS shapes equal ONNX's, except tiny_face_detector's [N, G, G, 25] raw grid
                # which the ONNX graph reshapes to [N, G, G, 5, 5] (row-major, same data).
                js_shape = js["cases"][case_id][out_name]
                ref = np.fromfile(job_dir / f"{case_id}.{out_name}.f32", "<f4")
                if ref.size != value.size or value.shape[:len(js_shape) - 1] != tuple(
                        js_shape[:-1]):
                    raise ValueError(f"{case_id}.{out_name}: {value.shape} vs {js_shape}")
                ref = ref.reshape(value.shape)
                entry = report["nets"].setdefault(net, {}).setdefault(out_name, {})
                entry[label] = _max_diff(value, ref)
    for net, outputs in report["nets"].items():
        for out_name, per_case in outputs.items():
            per_case["max"] = max(per_case.values())
            print(f"{net:24s} {out_name:12s} max abs diff {per_case['max']:.2e}")
    for name, faces in py_pipeline.items():
        report["pipeline"][name] = compare_pipeline(js["cases"][f"pipeline.{name}"]["faces"],
                                                    faces)
        print(f"pipeline {name}: {report['pipeline'][name]}")
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
