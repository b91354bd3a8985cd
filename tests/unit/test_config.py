"""Settings: defaults, a file, the environment, and one clear line when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import Settings, load_settings
from scheduler.exceptions import ConfigError


def test_defaults_come_from_default_toml() -> None:
    settings = load_settings({})
    assert settings == Settings()  # the file and the model agree
    assert settings.port == 8080
    assert settings.default_reminders == (60, 15)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("/data/scheduler.db")


#: settings that exist for tests only: never in production configuration or the README
TEST_HOOKS = {"debug_clock_offset_seconds"}
PRODUCTION = set(Settings.model_fields) - TEST_HOOKS


def test_every_setting_is_in_default_toml_and_no_test_hook() -> None:
    import tomllib

    text = (Path(__file__).parents[2] / "config" / "default.toml").read_text()
    assert set(tomllib.loads(text)) == PRODUCTION
    for name in PRODUCTION:
        # each setting has a comment line right above its block
        assert f"\n{name} =" in text


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\ndefault_reminders = [30]\n')
    env = {"SCHEDULER_CONFIG": str(config), "SCHEDULER_PORT": "9100"}
    settings = load_settings(env)
    assert settings.host == "0.0.0.0"
    assert settings.port == 9100
    assert settings.default_reminders == (30,)
    assert load_settings(env, overrides={"port": 9200}).port == 9200


def test_lists_from_environment() -> None:
    settings = load_settings(
        {"SCHEDULER_DEFAULT_REMINDERS": "5, 60,15", "SCHEDULER_API_TOKEN": "x" * 20}
    )
    assert settings.default_reminders == (60, 15, 5)
    assert settings.api_tokens == ("x" * 20,)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEDULER_PORT": "eighty"}, "invalid setting port (from SCHEDULER_PORT)"),
        ({"SCHEDULER_PORT": "70000"}, "invalid setting port (from SCHEDULER_PORT)"),
        ({"SCHEDULER_DATABASE_URL": "mysql://x"}, "invalid setting database_url"),
        ({"SCHEDULER_API_TOKEN": "short"}, "invalid setting api_tokens (from SCHEDULER_API_TOKEN)"),
        ({"SCHEDULER_LOG_FORMAT": "xml"}, "invalid setting log_format"),
        ({"SCHEDULER_CONFIG": "/nonexistent.toml"}, "does not exist"),
        # one CSP directive's sources: a ";" would start another directive
        (
            {"SCHEDULER_EMBED_FRAME_ANCESTORS": "https://a.example; script-src *"},
            "invalid setting embed_frame_ancestors",
        ),
        ({"SCHEDULER_EMBED_FRAME_ANCESTORS": "'unsafe-inline'"}, "embed_frame_ancestors"),
        ({"SCHEDULER_EMBED_FRAME_ANCESTORS": " "}, "embed_frame_ancestors"),
        ({"SCHEDULER_ORGANIZER_URL": "javascript:alert(1)"}, "invalid setting organizer_url"),
    ],
)
def test_invalid_settings_name_themselves(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text("prot = 80\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings({}, config_file=config)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in TEST_HOOKS:
        assert f"`{name}`" not in readme
    for name in PRODUCTION:
        assert f"`{name}`" in readme, f"README's configuration table misses {name}"


def test_embed_framing_sources_are_kept_as_one_directive() -> None:
    settings = load_settings({"SCHEDULER_EMBED_FRAME_ANCESTORS": " https://a.example  'self' "})
    assert settings.embed_frame_ancestors == "https://a.example 'self'"
    assert load_settings({}).embed_frame_ancestors == "*"
