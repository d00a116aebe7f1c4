"""How every task spells its options: one table of short flags, and the Task class that applies it.

invoke gives each option the first free letter of its name, so the same letter meant different options in
different tasks. Here `SHORT_FLAGS` is the only source of short flags: the same letter is the same option in
every task, and an option not in the table has only its long name. Whole-number options refuse anything else
with a one-line parse error (invoke's own cast would print a traceback).

`optional_positionals` names positionals that may be left out: `render prod`, `render env=prod`, `render --env
prod` and bare `render` (the task then gets its default). invoke's parser (3.0) has no such thing: it fills a
positional from the next bare word only while the positional has no value, and refuses to finish a task whose
positional has none (`ParseMachine.complete_context`). So an optional positional has no value until given one,
and `complete_context` is wrapped to give the unfilled optional ones their defaults first. The wrapper changes
nothing for any other argument, and works the same under plain `invoke` and the `phoenix-gitops` program.

A `variadic` positional (the last one) takes every bare word after the task name: `lint a.yaml k8s/ overlays/prod`.
While the parser reads it has no value, so invoke keeps handing it words; `complete_context` closes it, and the
task gets the list (none given is a parse error, like any missing positional).

Usage:
    @task(optional_positionals=["env"], help={"env": "Environment ...", ...})
    def render(c, env="all", check=False, jobs=-1): ...
    @task(variadic="paths", help={"paths": "Files or folders.", ...})
    def lint(c, paths=None, format="text"): ...       # paths: ['a.yaml', 'k8s/']
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from invoke.exceptions import ParseError
from invoke.parser.argument import Argument
from invoke.parser.parser import ParseMachine
from invoke.tasks import Task

__all__ = ["ALL_ENVS_HELP", "APP_HELP", "ENV_HELP", "JOBS_HELP", "SHORT_FLAGS", "GitopsTask", "task"]

SHORT_FLAGS: dict[str, str] = {
    "env": "e",
    "app": "a",
    "image": "i",
    "check": "c",
    "jobs": "j",
    "format": "f",
    "base": "b",
}
"""Long option name -> its short flag, for every task."""

ENV_HELP = "The environment, e.g. prod (`env=prod` works too)."
ALL_ENVS_HELP = ("Environment: dev, staging, prod, ... or `all` (the default). `env=prod`, `prod` and `--env prod` "
                 "all work.")
APP_HELP = "The app, e.g. api."
JOBS_HELP = "Parallel kustomize builds (default: gitops.jobs, 0 = one per CPU)."
"""Help texts of options several tasks share."""


class _Option(Argument):
    """An Argument whose whole-number values are checked: `--jobs abc` is a ParseError, not a traceback."""

    @classmethod
    def like(cls, arg: Argument) -> _Option:
        return cls(names=arg.names, kind=arg.kind, default=arg.default, help=arg.help, positional=arg.positional,
                   optional=arg.optional, incrementable=arg.incrementable, attr_name=arg.attr_name)

    def set_value(self, value: Any, cast: bool = True) -> None:
        if self.positional and isinstance(value, str) and value.startswith("-"):
            raise ParseError(f"No idea what {value!r} is!")  # an unknown flag where a positional was due
        if cast and self.kind is int and not self.incrementable:
            text = str(value).strip()
            if not text.isdigit():
                raise ParseError(f"--{self.names[0]}: {value!r} is not a whole number (0 or more)")
            value, cast = int(text), False
        super().set_value(value, cast)


class _OptionalPositional(_Option):
    """A positional that may be left out: valueless (not defaulted) until the parser gives it a word."""

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


class _VariadicPositional(_Option):
    """The last positional, taking every bare word that follows: valueless while the parser reads (so it keeps
    asking for more), the list of words once `close` is called."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.words: list[str] = []
        self.open = True

    @property
    def value(self) -> Any:
        return None if self.open or not self.words else list(self.words)

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)

    def set_value(self, value: Any, cast: bool = True) -> None:
        if isinstance(value, str) and value.startswith("-"):
            raise ParseError(f"No idea what {value!r} is!")  # an unknown flag where a word was due
        self.raw_value = value
        self.words.append(str(value))

    def close(self) -> None:
        self.open = False


_invoke_complete_context = ParseMachine.complete_context


def _complete_context(self: ParseMachine) -> None:
    """invoke's `complete_context`, after giving the unfilled optional positionals their defaults and closing a
    variadic one."""
    for arg in self.context.positional_args if self.context is not None else ():
        if isinstance(arg, _OptionalPositional) and arg.value is None:
            arg.set_value(arg.default, cast=False)
        if isinstance(arg, _VariadicPositional):
            arg.close()
    _invoke_complete_context(self)


# The wrap is deliberate (see the module docstring); mypy refuses any assignment to a method.
ParseMachine.complete_context = _complete_context  # type: ignore[method-assign]


class GitopsTask(Task[Callable[..., None]]):
    """A task whose short flags come from `SHORT_FLAGS` only, with checked numbers and `optional_positionals`."""

    def __init__(self, body: Callable[..., None], optional_positionals: Iterable[str] = (), variadic: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(body, auto_shortflags=False, **kwargs)
        self.optional_positionals = tuple(optional_positionals)
        self.variadic = variadic

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(opts["names"][0])
        if short:
            opts["names"].append(short)
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        texts = dict(self.help)  # invoke consumes the help texts; the parser is built more than once
        try:
            return [(_OptionalPositional if arg.name in self.optional_positionals
                     else _VariadicPositional if arg.name == self.variadic else _Option).like(arg)
                    for arg in super().get_arguments(ignore_unknown_help)]
        finally:
            self.help = texts


def task(*, help: dict[str, str], positional: Iterable[str] = (), optional_positionals: Iterable[str] = (),
         variadic: str | None = None) -> Callable[[Callable[..., None]], GitopsTask]:
    """The `@task` of this project: a GitopsTask with explicit positionals (`optional_positionals` after the others,
    then `variadic`) and a help text for every option."""

    def make(body: Callable[..., None]) -> GitopsTask:
        return GitopsTask(body, optional_positionals=optional_positionals, variadic=variadic,
                          positional=[*positional, *optional_positionals, *([variadic] if variadic else [])],
                          help=help)

    return make
