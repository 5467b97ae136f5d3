"""Settings: defaults, ROSTO_* variables, flags over variables, and the trip to the workers."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rosto.config import Settings, add_arguments


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_are_safe():
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1" and not settings.allow_private_urls
    assert settings.rate_limit == 0 and settings.max_concurrent >= 2
    assert settings.db_url == f"sqlite:///{settings.data_dir / 'rosto.db'}"


def test_variables_are_parsed_by_type():
    settings = Settings.from_env(
        {
            "ROSTO_PORT": "9000",
            "ROSTO_ALLOW_PRIVATE_URLS": "yes",
            "ROSTO_DATA_DIR": "/srv/r",
            "ROSTO_DATABASE_URL": "postgresql+psycopg://db/rosto",
        }
    )
    assert settings.port == 9000 and settings.allow_private_urls
    assert settings.data_dir == Path("/srv/r")
    assert settings.db_url == "postgresql+psycopg://db/rosto"


@pytest.mark.parametrize(("name", "value"), [("ROSTO_PORT", "eighty"), ("ROSTO_WORKERS", "")])
def test_bad_variables_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_flags_override_variables(monkeypatch):
    monkeypatch.setenv("ROSTO_PORT", "9000")
    monkeypatch.setenv("ROSTO_RATE_LIMIT", "30")
    settings = Settings.from_args(parse(["--port", "9100", "--allow-private-urls"]))
    assert (settings.port, settings.rate_limit, settings.allow_private_urls) == (9100, 30, True)


def test_the_environment_carries_every_setting():
    settings = Settings(port=9200, allow_private_urls=True, disabled_features="ethnicity")
    assert Settings.from_env(settings.to_env()) == settings
