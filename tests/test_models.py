import pytest

from rosto import models
from rosto.errors import MissingModelError


def test_missing_weight_names_the_file():
    with pytest.raises(MissingModelError, match="no_such_model.onnx"):
        models.session("no_such_model")
