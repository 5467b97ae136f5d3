"""What ``/openapi.json`` (and so ``/docs`` and ``/redoc``) says about the API: every body form
and field, each feature's answer, each error code.

The endpoint parses its body by hand (several content types) and answers plain dicts, so FastAPI
cannot infer any of this; it is written here once, from the same constants the code uses (the
features' class labels, the landmark groups, the hair palette, ``rosto.errors.API_ERRORS``), so
the reference cannot drift from what the server answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rosto.errors import API_ERRORS, RetryLater
from rosto.features import API_FEATURES
from rosto.features.age_gender import GENDERS
from rosto.features.emotion import EMOTIONS
from rosto.features.ethnicity import LABELS as ETHNICITIES
from rosto.features.glasses import LABELS as GLASSES
from rosto.features.hair import NO_HAIR, palette
from rosto.features.landmarks import GROUPS
from rosto.features.quality import BLUR_THRESHOLD

Schema = dict[str, Any]
_OPERATION_ONLY = ("not_found", "method_not_allowed", "not_ready")  # not answered by the POST
_PROBABILITY: Schema = {"type": "number", "minimum": 0, "maximum": 1, "example": 0.93}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties)}
    if description:
        schema["description"] = description
    return {**schema, **extra}


def _classes(labels: tuple[str, ...], description: str) -> Schema:
    """API.md's ``{"classes": {label: p}, "probability": p_max, "value": label}``."""
    return _object(
        {
            "classes": _object(
                {label: _PROBABILITY for label in labels},
                "the probability of each class (rounded to 2 places; they sum to about 1)",
                additionalProperties=False,
            ),
            "probability": {**_PROBABILITY, "description": "the probability of `value`"},
            "value": {"type": "string", "enum": list(labels), "description": "the likeliest class"},
        },
        description,
    )


def _integers(names: tuple[str, ...], description: str, **bounds: int) -> Schema:
    return _object({n: {"type": "integer", **bounds} for n in names}, description)


def _feature_schemas() -> dict[str, Schema]:
    """The face object's keys (the feature's name; ``quality`` gives ``blur`` and ``exposure``)."""
    point_list = {"type": "array", "items": _ref("Point")}
    colour_names = [*palette()[0], NO_HAIR["name"]]
    return {
        "age": {"type": "integer", "minimum": 0, "description": "estimated age, in years"},
        "bounds": _ref("Bounds"),
        "emotion": _classes(EMOTIONS, "the facial expression"),
        "ethnicity": _classes(
            ETHNICITIES, "an appearance estimate, not an identity (see the README)"
        ),
        "gender": _classes(GENDERS, "the apparent gender"),
        "glasses": _classes(GLASSES, "eyeglasses or sunglasses (`using-glasses`), goggles"),
        "hair": _object(
            {
                "color": _object(
                    {
                        "hex": {
                            "type": ["string", "null"],
                            "pattern": "^#[0-9a-f]{6}$",
                            "description": "the measured colour; null when `name` is `none`",
                        },
                        "name": {"type": "string", "enum": colour_names},
                    },
                    "the nearest name of a fixed palette; `none` when too little hair shows",
                ),
                "polygons": {
                    "type": "array",
                    "items": point_list,
                    "description": "outlines of the hair region (several when it is split)",
                },
            },
            "the hair region and its colour",
        ),
        "landmarks": _object(
            {
                **{
                    name: {**point_list, "minItems": len(idx), "maxItems": len(idx)}
                    for name, idx in GROUPS.items()
                },
                "right_eye_center": _ref("Point"),
                "left_eye_center": _ref("Point"),
                "mouth_center": _ref("Point"),
            },
            "71 points: the iBUG-300W 68 in groups (the subject's right is the image's left), "
            "the pupils and the centre of the inner lips",
        ),
        "pose": _integers(
            ("x_roll", "y_pitch", "z_yaw"),
            "head rotation in degrees: roll > 0 leans clockwise as displayed, pitch > 0 looks "
            "up, yaw > 0 turns towards the image's left",
            minimum=-90,
            maximum=90,
        ),
        "blur": _object(
            {
                "is_blurry": {"type": "boolean", "description": "`level` < `threshold`"},
                "level": {"type": "integer", "description": "variance of the Laplacian"},
                "threshold": {"type": "integer", "enum": [BLUR_THRESHOLD]},
            },
            "from the `quality` feature: how sharp the face is",
        ),
        "exposure": _object(
            {"level": {"type": "string", "enum": ["underexposed", "balanced", "overexposed"]}},
            "from the `quality` feature: how well lit the face is",
        ),
        "smile": _object(
            {"is_smiling": {"type": "boolean"}, "probability": _PROBABILITY}, "a smile"
        ),
    }


def _error_code_table() -> str:
    return "\n".join(
        f"| {cls.status} | `{code}` | {(cls.__doc__ or '').strip()} |"
        for code, cls in sorted(API_ERRORS.items(), key=lambda item: (item[1].status, item[0]))
    )


def components() -> Schema:
    features = _feature_schemas()
    return {
        "Point": _integers(("x", "y"), "pixels of the image as displayed (EXIF applied)"),
        "Bounds": _integers(("bottom", "left", "right", "top"), "the face's box, in pixels"),
        "Face": {
            "type": "object",
            "description": "one key per requested feature (`quality` answers `blur` and "
            "`exposure`); only the requested ones are present",
            "properties": features,
            "additionalProperties": False,
        },
        "Faces": _object(
            {
                "faces": {
                    "type": "array",
                    "items": _ref("Face"),
                    "description": "one per detected face, largest first; empty when none",
                }
            }
        ),
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": {
                            "type": "string",
                            "enum": sorted(API_ERRORS),
                            "description": "| status | code | when |\n|---|---|---|\n"
                            + _error_code_table(),
                        },
                        "message": {
                            "type": "string",
                            "description": "what was wrong and how to fix it",
                        },
                    }
                )
            },
            "every error, whatever its status: never an HTML page or a traceback",
        ),
    }


def _error_responses() -> dict[int, Schema]:
    """One response per status the POST can answer, naming its codes, with their headers."""
    by_status: dict[int, list[str]] = {}
    for code, cls in API_ERRORS.items():
        if code not in _OPERATION_ONLY:
            by_status.setdefault(cls.status, []).append(code)
    responses: dict[int, Schema] = {}
    for status, codes in sorted(by_status.items()):
        classes = [API_ERRORS[c] for c in codes]
        examples = {
            c: {"value": {"error": {"code": c, "message": (API_ERRORS[c].__doc__ or "").strip()}}}
            for c in codes
        }
        response: Schema = {
            "description": "; ".join(f"`{c}`: {(k.__doc__ or '').strip()}" for c, k in zip(
                codes, classes, strict=True
            )),
            "content": {"application/json": {"schema": _ref("Error"), "examples": examples}},
        }
        if any(issubclass(k, RetryLater) for k in classes):
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        responses[status] = response
    return responses


_FEATURES_FIELD = {
    "type": "string",
    "description": "comma-separated names among "
    + ", ".join(f"`{n}`" for n in API_FEATURES)
    + "; `all` or absent: every feature. Only these are computed: ask for what you need.",
    "example": "age,gender",
}
_URL_FIELD = {
    "type": "string",
    "format": "uri",
    "description": "a public http(s) image URL that the server downloads (at most 4 MiB, "
    "3 redirects; private and loopback addresses are refused). Send `image` or `url`, not both.",
}
_RAILS_FEATURES = {
    "type": "array",
    "items": {"type": "string", "enum": [*API_FEATURES, "all"]},
    "description": "the same names, one per field, as Rails and Faraday clients send arrays",
}
_IMAGE_RULES = (
    "JPEG, PNG, WebP, BMP, GIF (first frame) or TIFF, at most 4 MiB and the server's pixel "
    "limit; EXIF orientation is applied, and every coordinate refers to the image as displayed"
)

REQUEST_BODY: Schema = {
    "required": True,
    "description": "The image (a file, base64, or a URL) and the features to compute.",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "features": _FEATURES_FIELD,
                    "features[]": _RAILS_FEATURES,
                    "image": {"type": "string", "format": "binary", "description": _IMAGE_RULES},
                    "url": _URL_FIELD,
                },
            }
        },
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "features": _FEATURES_FIELD,
                    "features[]": _RAILS_FEATURES,
                    "url": _URL_FIELD,
                },
                "required": ["url"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "features": {
                        "oneOf": [_FEATURES_FIELD, {**_RAILS_FEATURES, "description": "a list"}]
                    },
                    "url": _URL_FIELD,
                    "image_base64": {
                        "type": "string",
                        "format": "byte",
                        "description": f"the image file in base64 (a `data:` URL too): "
                        f"{_IMAGE_RULES}",
                    },
                },
            },
            "example": {"features": ["age", "gender"], "url": "https://example.org/photo.jpg"},
        },
    },
}

FEATURES_OPERATION: Schema = {"requestBody": REQUEST_BODY, "security": [{"token": []}]}

FEATURES_RESPONSES: dict[int | str, Schema] = {
    200: {
        "description": "the faces found, each with the requested features",
        "content": {
            "application/json": {
                "schema": _ref("Faces"),
                "example": {
                    "faces": [
                        {
                            "age": 26,
                            "bounds": {"bottom": 224, "left": 160, "right": 248, "top": 112},
                            "gender": {
                                "classes": {"man": 0.19, "woman": 0.81},
                                "probability": 0.81,
                                "value": "woman",
                            },
                        }
                    ]
                },
            }
        },
    },
    **_error_responses(),
}

SECURITY_SCHEMES: Schema = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Enter `Token token="YOUR_TOKEN"` (or `Bearer YOUR_TOKEN`). Create a '
        "token with `rosto tokens create`; the server prints one on its first start.",
    }
}


def description() -> str:
    """The reference's introduction: how to call, what each feature answers, every error code."""
    keys = {"quality": "`blur`, `exposure`"}
    features = "\n".join(f"| `{n}` | {keys.get(n, f'`{n}`')} |" for n in API_FEATURES)
    return f"""Self-hosted face attribute analysis answering the Rosto.io API.

`POST /api/v1/features` with a photo (a multipart `image` file, JSON `image_base64`, or a public
`url` that the server downloads) and the `features` to compute. The answer holds one object per
detected face, largest first (`{{"faces": []}}` when there is none), with one key per requested
feature; probabilities are rounded to 2 places, coordinates are pixels of the photo as displayed.

**Token**: send `Authorization: Token token="YOUR_TOKEN"`. To try the API from this page, click
*Authorize* and enter `Token token="YOUR_TOKEN"`. The console at `/` does the same with a form.

| feature | keys in each face |
|---|---|
{features}

**Errors** are always `{{"error": {{"code": ..., "message": ...}}}}`, with these codes:

| status | code | when |
|---|---|---|
{_error_code_table()}
"""


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` add the shared schemas and the token scheme to FastAPI's document."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=description(),
                routes=app.routes,
            )
            extra = document.setdefault("components", {})
            extra.setdefault("schemas", {}).update(components())
            extra["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
