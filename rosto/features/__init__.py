"""The public features of the API: one small module each, selected by name per request.

A feature holds its API name, the shared inputs it needs (computed once per request by
``rosto.analysis``) and a function that turns an ``Analysis`` into one dict of response keys
per face. The pipeline knows no feature by name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from rosto.analysis import Analysis
from rosto.errors import RostoError

# Every name the API defines, in API.md order of the response table.
API_FEATURES = (
    "age", "bounds", "emotion", "ethnicity", "gender", "glasses", "hair",
    "landmarks", "pose", "quality", "smile",
)  # fmt: skip


@dataclass(frozen=True)
class Feature:
    name: str
    compute: Callable[[Analysis], list[dict]]
    # Computes ahead (``Analysis.prepare``) the costly shared inputs this feature needs: the
    # pipeline runs it in a background thread, beside the request's other work.
    prepare: Callable[[Analysis], None] | None = None


def _registry() -> dict[str, Feature]:
    from rosto.features import (  # noqa: PLC0415 - modules import this one for Feature
        age_gender,
        bounds,
        emotion,
        ethnicity,
        glasses,
        hair,
        landmarks,
        pose,
        quality,
        smile,
    )

    features = [
        age_gender.AGE, age_gender.GENDER, bounds.FEATURE, emotion.FEATURE, ethnicity.FEATURE,
        glasses.FEATURE, hair.FEATURE, landmarks.FEATURE, pose.FEATURE, quality.FEATURE,
        smile.FEATURE,
    ]  # fmt: skip
    return {f.name: f for f in features}


_features: dict[str, Feature] | None = None


def registry() -> dict[str, Feature]:
    """The implemented features by name, built on first use."""
    global _features
    if _features is None:
        _features = _registry()
    return _features


def resolve(
    requested: str | Iterable[str] | None, disabled: Collection[str] = frozenset()
) -> list[str]:
    """Validate a request's feature list; ``None``, empty or ``all`` means every available one.

    Accepts a comma-separated string or an iterable of names (each may itself hold commas).
    ``disabled``: the features this server's operator turned off (``Settings.disabled``).
    """
    if requested is None:
        items: list[str] = []
    elif isinstance(requested, str):
        items = [requested]
    else:
        items = list(requested)
    names = {n.strip().lower() for item in items for n in str(item).split(",") if n.strip()}
    off = set(disabled)
    implemented = registry()
    if not names or "all" in names:
        return sorted(n for n in implemented if n not in off)
    unknown = sorted(names - set(API_FEATURES))
    if unknown:
        raise RostoError(
            f"unknown feature(s): {', '.join(unknown)}; valid features are "
            f"{', '.join(API_FEATURES)} (or all)",
            code="unknown_feature",
            status=422,
        )
    unavailable = sorted(names - set(implemented))
    if unavailable:
        raise RostoError(
            f"feature(s) not available yet in this version of Rosto: {', '.join(unavailable)}",
            code="feature_unavailable",
            status=422,
        )
    turned_off = sorted(names & off)
    if turned_off:
        raise RostoError(
            f"feature(s) turned off by the operator of this server: {', '.join(turned_off)}",
            code="feature_disabled",
            status=422,
        )
    return sorted(names)
