"""invoke's Executor with INVOKE_* variables that never crash: a value that does not fit its setting's type stays
the string it was, and `settings.Settings` rejects it with a usage error (exit 2) naming the variable.

invoke casts each `INVOKE_<SECTION>_<KEY>` variable to the type of the setting's current value, and a failed cast
(`INVOKE_GITOPS_JOBS=abc`, any value of a list setting) is a Python traceback before a task runs. The project
program uses this executor; plain `invoke` uses it when invoke.yaml says `tasks.executor_class:
phoenix_gitops_cli.executor.Executor`.

Usage:
    Program(namespace=ns, executor_class=Executor)
"""
from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.config import Config
from invoke.env import Environment
from invoke.exceptions import UncastableEnvVar
from invoke.executor import Executor as InvokeExecutor
from invoke.parser.parser import ParseResult

__all__ = ["Executor", "LenientConfig"]


class _LenientEnvironment(Environment):
    def _cast(self, old: Any, new: Any) -> Any:
        try:
            return super()._cast(old, new)
        except (ValueError, UncastableEnvVar):
            return new


class LenientConfig(Config):
    """A Config whose INVOKE_* variables load as `_LenientEnvironment` reads them."""

    def load_shell_env(self) -> None:
        self.merge()
        self._set(_env=_LenientEnvironment(config=self._config, prefix=self._env_prefix).load())
        self.merge()


class Executor(InvokeExecutor):
    """invoke's Executor, running tasks with a `LenientConfig` copy of the program's configuration."""

    def __init__(self, collection: Collection, config: Config | None = None,
                 core: ParseResult | None = None) -> None:
        super().__init__(collection, (config or Config()).clone(into=LenientConfig), core)
