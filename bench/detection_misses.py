"""Why the shipped detector misses the labelled faces it misses: one row per missed face.

For every labelled face of ``bench.detection``'s synthetic photos (2-MP and 640×480, the seeds
given) that no detection matches at IoU ≥ 0.4, the row says where the face came from (HELEN,
or AFLW2000 with its yaw and pitch), and how far the detector got with it:

- the passes' candidates (BlazeFace's from 0.1, the fine-pass net's from its threshold, pooled)
  that overlap it at IoU ≥ 0.4, the best of them, and whether the non-maximum suppression kept
  it (or which box suppressed it);
- what the second look (``rosto.verifier``) made of the candidate that reached it: R-Net and
  O-Net at its box, O-Net at its regressed box, and the rule that dropped it;
- whether a pooled candidate over it was looked at again (one a rejected box hid or held, or
  one holding a kept face), and with what;
- the best candidate down to a first score of 0.03 (a second run decoding that low);
- a found box that overlaps it at IoU under 0.4 (the box's shape, not the face, is wrong);
- R-Net and O-Net at the labelled box itself (would the verifier take a perfect proposal?).

    python -m bench.detection_misses [--count 24] [--seeds 11,12,13] [--out misses.md]

The detector runs as shipped; its steps are watched by wrapping the functions it calls
(``Watch``), so what is reported is what it did.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import detection_data
from bench.detection import MATCH_IOU, boxes_of
from bench.detection_data import pose_group
from rosto import detection, fine_faces, verifier

LOW = 0.03  # the first score down to which the second run decodes candidates


@dataclass
class Watch:
    """Records the detector's steps on one photo while active: the candidates after the
    suppression and the pool (the first ``confirmed`` call with a pool), and each strict look
    (candidates looked at again)."""

    low: bool = False  # decode every pass down to LOW (the pool only is then of use)
    faces: list = field(default_factory=list)
    pool: detection.Detections | None = None
    strict: list = field(default_factory=list)  # (boxes, kept)

    def __enter__(self) -> Watch:
        self.saved = {
            (detection, "confirmed"): detection.confirmed,
            (verifier, "look_again"): verifier.look_again,
            (detection, "decode"): detection.decode,
            (fine_faces, "decode"): fine_faces.decode,
        }
        confirmed, look_again, decode, net_decode = self.saved.values()

        def watched_confirmed(image, faces, pool=None, **kwargs):
            if pool is not None and self.pool is None:
                self.faces, self.pool = faces, pool
            return confirmed(image, faces, pool, **kwargs)

        def watched_look_again(image, boxes, tiers=verifier.STRICT):
            kept = look_again(image, boxes, tiers)
            self.strict.append((boxes, kept))
            return kept

        def low_decode(detector, shape, scores, regressions, threshold=detection.SCORE_THRESHOLD):
            return decode(detector, shape, scores, regressions, min(threshold, LOW))

        def low_net_decode(output, threshold=fine_faces.THRESHOLD, extra=fine_faces.EXTRA):
            return net_decode(output, min(threshold, LOW), extra)

        detection.confirmed = watched_confirmed
        verifier.look_again = watched_look_again
        if self.low:
            detection.decode = low_decode
            fine_faces.decode = low_net_decode
        return self

    def __exit__(self, *_) -> None:
        for (module, name), function in self.saved.items():
            setattr(module, name, function)


def looks(image: np.ndarray, box: np.ndarray) -> tuple[float, float, float]:
    """R-Net and O-Net at the box's square crop, and O-Net at the square its regression gives."""
    rnet = verifier.run("mtcnn_rnet", image, box[None], 24)[0][0]
    onet, shifts = verifier.run("mtcnn_onet", image, box[None], 48)
    moved = verifier.regressed(box[None], shifts)
    return (
        float(rnet),
        float(onet[0]),
        float(verifier.run("mtcnn_onet", image, moved, 48, 1.0)[0][0]),
    )


def rule(score: float, rnet: float, onet: float, moved: float) -> str:
    """Which of the second look's rules (``verifier.verify``) decides a candidate of these
    scores."""
    v = verifier
    if score >= v.SURE_ENOUGH:
        return "sure"
    if score >= v.LIKELY and rnet >= v.RNET_FACE:
        return "kept by R-Net"
    if score >= v.SURE:
        return "kept (no veto)" if onet >= v.VETO else f"O-Net veto < {v.VETO}"
    if score < v.UNSURE:
        return "not looked at"
    late = ""
    if rnet < v.GATE:
        if score < v.LIKELY:
            return f"R-Net < gate {v.GATE}"
        late = " (in no face kept, under a fifth of the photo)"
    if onet >= v.FACE or moved >= v.FACE:
        return "kept by O-Net" + late
    return f"O-Net < {v.FACE}, also at its moved box"


def best(boxes: np.ndarray, label: np.ndarray) -> tuple[int, float]:
    """Index of the box overlapping the label most, and that IoU (-1, 0 with no boxes)."""
    if not len(boxes):
        return -1, 0.0
    ious = verifier.overlaps(boxes, label[None])[:, 0]
    return int(np.argmax(ious)), float(ious.max())


def explain(image: np.ndarray, label: np.ndarray, found: np.ndarray, watch: Watch,
            low: Watch) -> dict:  # fmt: skip
    """What the detector did about one missed labelled face (see the module's docstring)."""
    row: dict = {"width": label[2] - label[0]}
    i, overlap = best(found, label)
    if overlap > 0:
        row["found box"] = f"IoU {overlap:.2f}, {found[i, 2] - found[i, 0]:.0f} px"
    pool_boxes, _, pool_scores = watch.pool
    near = np.flatnonzero(verifier.overlaps(pool_boxes, label[None])[:, 0] >= MATCH_IOU)
    row["label R/O/O'"] = "{:.2f}/{:.2f}/{:.2f}".format(*looks(image, label))
    low_boxes, _, low_scores = low.pool
    low_near = verifier.overlaps(low_boxes, label[None])[:, 0] >= MATCH_IOU
    if low_near.any():
        row["best ≥ 0.03"] = f"{low_scores[low_near].max():.2f}"
    if len(near):
        top = near[np.argmax(pool_scores[near])]
        row["candidate"] = (
            f"{pool_scores[top]:.2f}, IoU {best(pool_boxes[top : top + 1], label)[1]:.2f}"
        )
        after = boxes_of(watch.faces)
        j, at = best(after, label)
        if at >= MATCH_IOU:
            score = watch.faces[j].score
            rnet, onet, moved = looks(image, after[j])
            row["second look"] = f"{score:.2f}: R {rnet:.2f} O {onet:.2f} O' {moved:.2f}"
            row["cause"] = f"verifier: {rule(score, rnet, onet, moved)}"
            if rule(score, rnet, onet, moved).startswith(("sure", "kept")):
                row["cause"] = "kept by the verifier, lost after (final suppression or moved box)"
        else:
            over = verifier.overlaps(after, pool_boxes[top : top + 1], of_smaller=True)[:, 0]
            k = next(k for k, o in enumerate(over) if o > detection.NMS_OVERLAP)
            fate = rule(watch.faces[k].score, *looks(image, after[k]))
            row["cause"] = (f"suppressed by a box {after[k, 2] - after[k, 0]:.0f} px, "
                            f"{watch.faces[k].score:.2f}, IoU {best(after[k:k + 1], label)[1]:.2f} "
                            f"with the face, {fate}")  # fmt: skip
    for boxes, kept in watch.strict:
        j, at = best(boxes, label)
        if at >= MATCH_IOU:
            r, o, _ = looks(image, boxes[j])
            verdict = " kept" if kept[j] else ""
            row["looked again"] = f"IoU {at:.2f}: R {r:.2f} O {o:.2f}{verdict}"
    if "cause" not in row:
        if "best ≥ 0.03" in row:
            row["cause"] = "first score under the pass's threshold"
        else:
            row["cause"] = "no candidate at all (≥ 0.03)"
    if "found box" in row and overlap >= 0.2:
        row["cause"] += "; box shape (a found box at IoU ≥ 0.2)"
    return row


COLUMNS = ("set", "photo", "width", "source", "found box", "candidate", "second look",
           "looked again", "best ≥ 0.03", "label R/O/O'", "cause")  # fmt: skip


def misses(seed: int, count: int, labelled: Counter) -> list[dict]:
    """A row per missed face of the synthetic photos of ``seed``; ``labelled`` counts every
    labelled face by canvas and kind of source."""
    rows = []
    for sample in detection_data.synthetic(count, seed):
        labelled.update((sample.name.split()[1], pose_group(o)) for o in sample.origins)
        with Watch() as watch:
            found = boxes_of(detection.detect(sample.image))
        missed = [
            k for k, label in enumerate(sample.boxes)
            if best(found, label)[1] < MATCH_IOU
        ]  # fmt: skip
        if not missed:
            continue
        with Watch(low=True) as low:
            detection.detect(sample.image)
        for k in missed:
            row = explain(sample.image, sample.boxes[k], found, watch, low)
            canvas, number = sample.name.split()[1:]
            rows.append({"set": f"{canvas} s{seed}", "photo": number, "source": sample.origins[k],
                         **row})  # fmt: skip
    return rows


def markdown(rows: list[dict], labelled: Counter) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for row in rows:
        cells = [f"{row[c]:.0f}" if c == "width" else str(row.get(c, "")) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    causes = Counter((row["set"].split()[0], row["cause"].split(":")[0].split(" by a")[0])
                     for row in rows)  # fmt: skip
    lines += ["", "| canvas | cause | misses |", "|---|---|---|"]
    lines += [f"| {canvas} | {cause} | {n} |" for (canvas, cause), n in sorted(causes.items())]
    missed = Counter((row["set"].split()[0], pose_group(row["source"])) for row in rows)
    lines += ["", "| canvas | source | missed / labelled |", "|---|---|---|"]
    lines += [f"| {canvas} | {source} | {missed[canvas, source]} / {n} |"
              for (canvas, source), n in sorted(labelled.items())]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="synthetic photos of each size")
    parser.add_argument("--seeds", default="11,12,13")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    labelled: Counter = Counter()
    rows = [
        row for seed in args.seeds.split(",") for row in misses(int(seed), args.count, labelled)
    ]
    text = markdown(rows, labelled)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
