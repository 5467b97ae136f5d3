"""Draw an analysis onto its photo (``rosto analyze --draw``): a quick visual check of results.

Works from the API's JSON, so it draws exactly what a client would receive: boxes, landmark
points, hair outlines and one label line per attribute.
"""

from __future__ import annotations

import cv2
import numpy as np

_BOX = (0, 255, 0)
_POINT = (255, 64, 64)
_HAIR = (255, 200, 0)
_TEXT = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw(image: np.ndarray, faces: list[dict]) -> np.ndarray:
    """A copy of the RGB ``image`` with each face of ``faces`` (API response objects) drawn."""
    out = np.ascontiguousarray(image.copy())
    scale = max(out.shape[:2]) / 1000
    thickness = max(1, round(2 * scale))
    for face in faces:
        for polygon in face.get("hair", {}).get("polygons", []):
            points = np.array([[p["x"], p["y"]] for p in polygon], np.int32)
            cv2.polylines(out, [points], isClosed=True, color=_HAIR, thickness=thickness)
        for point in _landmark_points(face.get("landmarks", {})):
            cv2.circle(out, point, max(1, thickness), _POINT, -1, cv2.LINE_AA)
        bounds = face.get("bounds")
        if bounds is None:
            continue
        cv2.rectangle(
            out,
            (bounds["left"], bounds["top"]),
            (bounds["right"], bounds["bottom"]),
            _BOX,
            thickness,
        )
        _put_lines(out, _labels(face), (bounds["left"], bounds["bottom"]), max(0.4, scale))
    return out


def _labels(face: dict) -> list[str]:
    """One short line per attribute of a face object."""
    lines = []
    for key, value in face.items():
        if isinstance(value, dict) and "value" in value:
            lines.append(f"{key}: {value['value']} {value['probability']:.2f}")
    if "age" in face:
        lines.append(f"age: {face['age']}")
    if "smile" in face:
        smile = face["smile"]
        lines.append(f"{'' if smile['is_smiling'] else 'not '}smiling {smile['probability']:.2f}")
    if "pose" in face:
        pose = face["pose"]
        lines.append(f"roll {pose['x_roll']} pitch {pose['y_pitch']} yaw {pose['z_yaw']}")
    if "blur" in face:
        lines.append(f"blur: {face['blur']['level']} exposure: {face['exposure']['level']}")
    if "hair" in face:
        lines.append(f"hair: {face['hair']['color']['name']}")
    return lines


def _landmark_points(landmarks: dict) -> list[tuple[int, int]]:
    points = []
    for value in landmarks.values():
        for p in value if isinstance(value, list) else [value]:
            points.append((p["x"], p["y"]))
    return points


def _put_lines(out: np.ndarray, lines: list[str], origin: tuple[int, int], size: float) -> None:
    """Text lines below ``origin``, each on a dark band so it reads on any background."""
    x, y = origin
    for line in lines:
        (width, height), baseline = cv2.getTextSize(line, _FONT, size, 1)
        y += height + baseline + 2
        cv2.rectangle(out, (x, y - height - 2), (x + width, y + baseline), (0, 0, 0), -1)
        cv2.putText(out, line, (x, y), _FONT, size, _TEXT, 1, cv2.LINE_AA)
