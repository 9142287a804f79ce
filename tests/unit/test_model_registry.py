"""``versions.registry`` against a real MLflow registry (a local SQLite store, no server and no
mock): aliases resolve to the predictions' model_version through ``version_format``, an unset
challenger alias adds no challenger, ``move`` points an alias at a version, and each failure is
one line naming the key."""

from __future__ import annotations

import sys

import pytest

from perfmon_spark.config import parse_config
from perfmon_spark.errors import ConfigError, InputError, MissingDependencyError
from perfmon_spark.registry import Registry, resolved
from tests.helpers import with_changes


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A registry with model ``fraud``, versions 1 to 3, ``champion`` on 2."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'registry.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("fraud")
    for i in range(3):
        client.create_model_version("fraud", source=str(tmp_path_factory.mktemp(f"model{i}")))
    client.set_registered_model_alias("fraud", "champion", "2")
    return uri, client


def config(uri, **registry):
    versions = {"registry": {"model": "fraud", "uri": uri, "version_format": "v{version}", **registry}}
    return parse_config(
        with_changes(alerts=[{"name": "a", "metric": "roc_auc", "minor": {"ratio": 0.9}}], versions=versions)
    )


def test_aliases_resolve_to_model_versions_and_an_unset_challenger_adds_none(store):
    uri, client = store
    found = resolved(config(uri))
    assert (found.cfg.versions.champion, found.cfg.versions.challengers) == ("v2", ())
    assert found.aliases == {"champion": "v2"}
    client.set_registered_model_alias("fraud", "challenger", "3")
    try:
        found = resolved(config(uri))
        assert (found.cfg.versions.champion, found.cfg.versions.challengers) == ("v2", ("v3",))
        assert found.aliases == {"champion": "v2", "challenger": "v3"}
        assert found.cfg.source_hash == config(uri).source_hash  # an alias is no edit of the config
    finally:
        client.delete_registered_model_alias("fraud", "challenger")


def test_move_points_the_alias_at_the_version_as_the_predictions_write_it(store):
    uri, client = store
    registry = Registry.connect(config(uri).versions.registry, "test")
    registry.move("staging", "v1")
    assert str(client.get_model_version_by_alias("fraud", "staging").version) == "1"
    assert registry.version("staging") == "v1" and registry.version("nowhere") is None
    with pytest.raises(ConfigError, match=r"version_format: model_version '1' is not written as 'v\{version\}'"):
        registry.move("staging", "1")
    with pytest.raises(InputError, match="could not point alias 'staging' of model 'fraud' at version 9: "):
        registry.move("staging", "v9")  # the registry has versions 1 to 3


def test_a_missing_alias_model_or_package_is_one_line(store, monkeypatch):
    uri, _ = store
    with pytest.raises(InputError, match="champion_alias: 'prod' is not set on model 'fraud'; set it in the registry"):
        resolved(config(uri, champion_alias="prod"))
    with pytest.raises(InputError, match=r"^input error: versions\.registry\.model: 'fraud'"):
        resolved(config(uri.replace("registry.db", "empty.db")))
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as where the extra is not installed
    with pytest.raises(MissingDependencyError, match=r"perfmon run needs mlflow-skinny.*'perfmon-spark\[mlflow\]'"):
        resolved(config(uri), "perfmon run")
