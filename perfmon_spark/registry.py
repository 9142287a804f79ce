"""The model registry that says which version serves: MLflow's client (``mlflow-skinny``, the
``mlflow`` extra), which speaks to a local or remote MLflow registry and to Unity Catalog's
(``databricks-uc``) alike.

A run resolves ``versions.registry``'s aliases once, at its start (``resolved``), and records
them in ``runs.registry_versions``; ``perfmon rollback --apply`` moves the champion alias
(``Registry.move``). Registry version numbers are written as the predictions' ``model_version``
through ``versions.registry.version_format`` (``7`` -> ``v7``), and read back through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfmon_spark.config import MonitorConfig, RegistryConfig
from perfmon_spark.errors import ConfigError, InputError, MissingDependencyError


@dataclass(frozen=True)
class Registry:
    """One registered model of an MLflow registry (``versions.registry``)."""

    cfg: RegistryConfig
    client: Any  # mlflow.MlflowClient

    @classmethod
    def connect(cls, cfg: RegistryConfig, command: str) -> Registry:
        """A client on ``cfg.uri`` (MLflow's default without it); ``command`` names who needs it
        in the error when the extra is not installed."""
        try:
            from mlflow import MlflowClient
        except ImportError as e:
            raise MissingDependencyError("mlflow-skinny", "mlflow", command) from e
        return cls(cfg, MlflowClient(tracking_uri=cfg.uri, registry_uri=cfg.uri) if cfg.uri else MlflowClient())

    def version(self, alias: str) -> str | None:
        """The ``model_version`` the alias points at, None where the alias is not set.

        Raises:
            InputError: the registry cannot be read, or has no such model.
        """
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version_by_alias(self.cfg.model, alias)
        except MlflowException as e:
            if self._has_model():
                return None  # the model is there: the alias is not set
            raise InputError(f"versions.registry.model: {self.cfg.model!r}: {_first_line(e)}") from e
        return self.cfg.version_format.replace("{version}", str(found.version))

    def move(self, alias: str, model_version: str) -> None:
        """Point ``alias`` at the registry version written as ``model_version``.

        Raises:
            ConfigError: ``model_version`` is not written as ``version_format`` says.
            InputError: the registry refused (no such version, no permission).
        """
        from mlflow.exceptions import MlflowException

        number = self.number(model_version)
        try:
            self.client.set_registered_model_alias(self.cfg.model, alias, number)
        except MlflowException as e:
            raise InputError(
                f"versions.registry: could not point alias {alias!r} of model {self.cfg.model!r} at version {number}: "
                f"{_first_line(e)}"
            ) from e

    def number(self, model_version: str) -> str:
        """The registry's version number of a ``model_version`` (``v7`` -> ``7``)."""
        head, _, tail = self.cfg.version_format.partition("{version}")
        inner = model_version[len(head) : len(model_version) - len(tail)]
        if not (model_version.startswith(head) and model_version.endswith(tail) and inner.isdigit()):
            raise ConfigError(
                f"versions.registry.version_format: model_version {model_version!r} is not written as "
                f"{self.cfg.version_format!r}; give the format the predictions use"
            )
        return inner

    def _has_model(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.cfg.model)
        except MlflowException:
            return False
        return True


@dataclass(frozen=True)
class Resolved:
    """A config whose champion and challengers the registry gave, and what each alias said."""

    cfg: MonitorConfig
    aliases: dict[str, str] | None  # alias -> model_version; None without a registry


def resolved(cfg: MonitorConfig, command: str = "versions.registry") -> Resolved:
    """``cfg`` with ``versions.champion`` and the challenger alias's version (after the listed
    challengers) read from the registry; ``cfg`` itself without ``versions.registry``.

    Raises:
        InputError: the champion alias is not set, or the registry cannot be read.
    """
    r = cfg.versions.registry
    if r is None:
        return Resolved(cfg, None)
    registry = Registry.connect(r, command)
    champion = registry.version(r.champion_alias)
    if champion is None:
        raise InputError(
            f"versions.registry.champion_alias: {r.champion_alias!r} is not set on model {r.model!r}; set it in the "
            "registry, or give versions.champion instead of versions.registry"
        )
    aliases = {r.champion_alias: champion}
    challengers = cfg.versions.challengers
    if r.challenger_alias is not None and (challenger := registry.version(r.challenger_alias)) is not None:
        aliases[r.challenger_alias] = challenger
        challengers = tuple(dict.fromkeys((*challengers, challenger)))
    return Resolved(cfg.comparing(champion, tuple(c for c in challengers if c != champion)), aliases)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
