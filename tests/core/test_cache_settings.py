"""settings.yaml's `cache` section: defaults, per environment, errors that name the value, and
that a use case cannot set it (every use case runs the one compiled pipeline)."""

import pytest
import yaml

from mlops.core.cache_settings import CacheSettingsError, load_cache_settings
from mlops.core.errors import BuildError


def _project(tmp_path, settings, overlay=None):
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump({"usecase": "u", **settings}))
    folder = tmp_path / "pipelines" / "usecases" / "u"
    folder.mkdir(parents=True)
    (folder / "settings.yaml").write_text(yaml.safe_dump(overlay or {"model": {"name": "m"}}))
    return tmp_path


def test_the_repositorys_settings_cache_for_thirty_days():
    from mlops.core.paths import REPO

    settings = load_cache_settings(REPO)
    assert settings.enabled is True and settings.max_age_s == 30 * 86400


def test_no_section_means_caching_without_an_age_limit(tmp_path):
    settings = load_cache_settings(_project(tmp_path, {}))
    assert (settings.enabled, settings.max_age_s) == (True, None)


def test_an_environment_can_turn_caching_off(tmp_path):
    root = _project(
        tmp_path,
        {"cache": {"enabled": True}, "environments": {"dev": {"cache": {"enabled": False}}}},
    )
    assert load_cache_settings(root, "dev").enabled is False
    assert load_cache_settings(root, "local").enabled is True


@pytest.mark.parametrize(
    "section, message",
    [
        ({"enabled": "yes"}, "cache.enabled is 'yes'; expected true or false"),
        ({"max_age_s": 0}, "cache.max_age_s is 0; expected a number of seconds above 0"),
        ({"max_age_s": "7d"}, "cache.max_age_s is '7d'"),
    ],
)
def test_wrong_values_are_named(tmp_path, section, message):
    with pytest.raises(CacheSettingsError, match=message):
        load_cache_settings(_project(tmp_path, {"cache": section}))


@pytest.mark.parametrize(
    "overlay",
    [
        {"cache": {"enabled": False}},
        {"environments": {"dev": {"cache": {"enabled": False}}}},
    ],
)
def test_a_use_case_cannot_set_caching(tmp_path, overlay):
    root = _project(tmp_path, {"environments": {"dev": {}}}, overlay)
    with pytest.raises(BuildError, match=r"\['cache'\] belong to settings.yaml"):
        load_cache_settings(root, "dev")
