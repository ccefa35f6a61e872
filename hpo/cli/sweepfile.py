"""The sweep file: validated settings of a sweep, with errors that give file and line.

Example ``sweep.yaml``::

    name: ppo-cartpole
    objective: examples.cartpole:train        # a decorated function, or instead:
    # command: "python train.py --lr {lr}"    # prints JSON lines {"step": 1, "return": 87.5}
    metric: {name: return, direction: maximize}
    space:                                     # for commands
      lr: {type: loguniform, low: 1.0e-5, high: 1.0e-2}
    sampler: {name: tpe, seed: 0}
    pruner: {name: asha}                       # default: no pruning
    budget: {trials: 50}
    workers: 2
    gpus_per_trial: 0
    storage: sqlite:///sweeps/ppo-cartpole.db  # default: <output_dir>/study.db
    artifact_store: s3://my-bucket/hpo         # checkpoints; default: next to a file
                                               # storage, else <output_dir>/artifacts
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from optuna.distributions import BaseDistribution
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import hpo
from hpo._registry import PLANNED, PRUNERS, SAMPLERS, build

__all__ = ["SweepConfig", "SweepFileError", "load_sweep"]


class SweepFileError(ValueError):
    """A sweep file that cannot be used; the message lists every problem with its line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metric(_Model):
    name: str
    direction: Literal["minimize", "maximize"] = "minimize"


class Param(_Model):
    type: Literal["uniform", "loguniform", "int", "integer", "choice", "fixed", "unbounded"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    values: list[Any] | None = None
    value: Any = None
    default: Any = None  # unbounded: the search centre
    scale: float | None = None  # unbounded: basic-space scale (CARBS)
    integer: bool = False  # unbounded: whole numbers

    def distribution(self) -> BaseDistribution:
        need = {"uniform": ("low", "high"), "loguniform": ("low", "high"),
                "int": ("low", "high"), "integer": ("low", "high"),
                "choice": ("values",), "fixed": ("value",),
                "unbounded": ("default", "scale")}[self.type]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"type {self.type} needs {missing}")
        if self.type == "uniform":
            return hpo.uniform(self.low, self.high, step=self.step)  # type: ignore[arg-type]
        if self.type == "loguniform":
            return hpo.loguniform(self.low, self.high)  # type: ignore[arg-type]
        if self.type in ("int", "integer"):
            for k in ("low", "high", "step"):
                v = getattr(self, k)
                if v is not None and v != int(v):
                    raise ValueError(f"{k} must be a whole number for type {self.type}, got {v}")
            return hpo.integer(int(self.low), int(self.high), log=self.log,  # type: ignore[arg-type]
                               step=int(self.step or 1))
        if self.type == "choice":
            return hpo.choice(self.values)  # type: ignore[arg-type]
        if self.type == "unbounded":
            return hpo.unbounded(self.default, scale=self.scale,  # type: ignore[arg-type]
                                 low=self.low, high=self.high, log=self.log,
                                 integer=self.integer)
        return hpo.fixed(self.value)


class Named(BaseModel):
    """``{name: ..., <options>}``: the options go to the class's constructor."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetModel(_Model):
    trials: Annotated[int, Field(gt=0)] | None = None
    seconds: Annotated[float, Field(gt=0)] | None = None
    resource: Annotated[int | float, Field(gt=0)] | None = None


class Retries(_Model):
    max: Annotated[int, Field(ge=0)] = 2
    when: list[Literal["crash", "fail", "timeout"]] = ["crash"]


class RayModel(_Model):
    address: str | None = None


_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class SweepConfig(_Model):
    """The validated content of a sweep file (see the module docstring)."""

    name: Annotated[str, Field(min_length=1)]
    objective: str | None = None
    command: str | None = None
    metric: Metric | list[Metric] | None = None
    space: dict[str, Param] = {}
    sampler: Named | None = None  # None: hpo's default sampler (hpo.samplers.default_sampler)
    pruner: Named | None = None  # None: no pruning (Optuna's NopPruner), as in W&B sweeps
    budget: BudgetModel = BudgetModel()
    max_resource: Annotated[int | float, Field(gt=0)] | None = None  # int stays int
    workers: Annotated[int, Field(ge=1)] = 1
    gpus_per_trial: Annotated[float, Field(ge=0)] = 0
    backend: Literal["local", "ray"] = "local"
    ray: RayModel = RayModel()
    isolation: Literal["process", "none"] = "process"
    trial_timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Retries = Retries()
    storage: str | None = None
    artifact_store: str | None = None  # None: next to a file storage, else <out>/artifacts
    output_dir: str | None = None
    heartbeat_interval: Annotated[float, Field(gt=0)] = 10.0
    grace_period: Annotated[float, Field(gt=0)] = 60.0
    max_initial_failures: Annotated[int, Field(ge=0)] = 5  # 0: never stop on failures
    base_dir: str = "."  # the sweep file's directory; relative paths are resolved from it

    @field_validator("name")
    @classmethod
    def _one_path_component(cls, v: str) -> str:
        # the name is a directory (sweeps/<name>) and a study name: one plain component
        if not _SAFE_NAME.fullmatch(v):
            raise ValueError(f"{v!r} is not a plain name: use letters, digits, '_', '-' and "
                             "'.' (not first), at most 128 characters, e.g. ppo-cartpole; it "
                             "names the sweep's directory sweeps/<name>")
        return v

    @field_validator("objective")
    @classmethod
    def _module_function(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError(f"must be 'module:function', e.g. examples.cartpole:train, got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if (self.objective is None) == (self.command is None):
            raise ValueError("give exactly one of 'objective' (module:function) or 'command'")
        if self.command is not None:
            if self.metric is None:
                raise ValueError("'metric' is needed with 'command': the JSON key(s) to read")
            if not self.space:
                raise ValueError("'space' is needed with 'command'")
        if self.objective is not None and self.space:
            raise ValueError("'space' is for commands; a decorated objective carries its own")
        if self.artifact_store is not None:
            from hpo.artifacts import open_store

            open_store(self.artifact_store)  # raises naming what is wrong with the URL
        if self.budget.trials is None and self.budget.seconds is None and \
                self.budget.resource is None:
            raise ValueError("budget: give at least one of trials, seconds, resource")
        return self

    # -- derived -----------------------------------------------------------------------

    @property
    def metrics(self) -> list[Metric]:
        if self.metric is None:
            return []
        return self.metric if isinstance(self.metric, list) else [self.metric]

    @property
    def out(self) -> Path:
        base = Path(self.base_dir)
        return (base / (self.output_dir or f"sweeps/{self.name}")).resolve()

    @property
    def storage_url(self) -> str:
        if self.storage is None:
            return f"sqlite:///{self.out / 'study.db'}"
        for scheme in ("sqlite:///", "journal:///"):  # relative paths: from the sweep file
            if self.storage.startswith(scheme) and not self.storage.startswith(scheme + "/") \
                    and ":memory:" not in self.storage:
                return scheme + str((Path(self.base_dir) / self.storage[len(scheme):]).resolve())
        return self.storage

    @property
    def artifact_store_url(self) -> str | None:
        """``artifact_store`` with a relative directory resolved from the sweep file."""
        if self.artifact_store is None or "://" in self.artifact_store:
            return self.artifact_store
        return str((Path(self.base_dir) / self.artifact_store).resolve())

    def build_objective(self) -> tuple[Callable[..., Any], list[str]]:
        """The objective and its directions."""
        from hpo.runner.command import CommandObjective

        if self.command is not None:
            space = {n: p.distribution() for n, p in self.space.items()}
            obj = CommandObjective(self.command, [m.name for m in self.metrics], space,
                                   max_resource=self.max_resource, workdir=self.base_dir)
            return obj, [m.direction for m in self.metrics]
        assert self.objective is not None
        module, attr = self.objective.split(":")
        for p in (str(Path(self.base_dir).resolve()), str(Path.cwd())):
            if p not in sys.path:
                sys.path.insert(0, p)
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise SweepFileError(f"objective: cannot import {self.objective!r}: {exc}") from exc
        if not callable(fn):
            raise SweepFileError(f"objective: {self.objective!r} is not callable")
        declared = getattr(fn, "directions", None)
        if self.metrics and declared and [m.direction for m in self.metrics] != declared:
            raise SweepFileError(f"metric: directions {[m.direction for m in self.metrics]} "
                                 f"contradict {self.objective}'s declared {declared}")
        return fn, declared or [m.direction for m in self.metrics] or ["minimize"]

    def build_sampler(self, n_objectives: int) -> Any:
        if self.sampler is None:
            from hpo.samplers import default_sampler

            return default_sampler(n_objectives)
        return build("sampler", self.sampler.name, self.sampler.options, SAMPLERS)

    def build_pruner(self) -> Any:
        """The pruner the file names; without ``pruner:``, one that prunes nothing."""
        if self.pruner is None:
            from optuna.pruners import NopPruner

            return NopPruner()
        return build("pruner", self.pruner.name, self.pruner.options, PRUNERS)


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest ancestor)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and \
                key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; every problem is reported with its line.

    Raises:
        SweepFileError: listing each problem as ``file:line: key: message``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepFileError(f"{path}: cannot read the sweep file: {exc}") from exc
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SweepFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SweepFileError(f"{path}:1: the sweep file must be a mapping of settings")
    if "base_dir" in data:
        raise SweepFileError(f"{path}:{_line(node, ('base_dir',))}: base_dir: not a setting")
    try:
        config = SweepConfig(**data, base_dir=str(path.resolve().parent))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(k) for k in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}:{_line(node, loc)}: {where}: {msg}")
        raise SweepFileError("invalid sweep file:\n  " + "\n  ".join(problems)) from None
    found = _named_problems(config)
    for name, p in config.space.items():
        try:
            p.distribution()
        except ValueError as exc:
            found.append((("space", name), str(exc)))
    if found:
        lines = sorted((_line(node, loc) or 0, ".".join(map(str, loc)), msg) for loc, msg in found)
        raise SweepFileError("invalid sweep file:\n  " + "\n  ".join(
            f"{path}:{line}: {where}: {msg}" for line, where, msg in lines))
    return config


def _named_problems(config: SweepConfig) -> list[tuple[tuple[str, ...], str]]:
    """Unknown sampler, pruner or searcher names, and searchers that cannot be one (a
    scheduler, a population sampler, FreezeThaw: each decides continuations itself), as
    (key path, message) for :func:`load_sweep` to give their lines."""
    from hpo.samplers.protocols import DecidesContinuation

    out: list[tuple[tuple[str, ...], str]] = []
    for key, named, registry in (("sampler", config.sampler, SAMPLERS),
                                 ("pruner", config.pruner, PRUNERS)):
        if named is not None and named.name not in registry:
            planned = " (planned, not yet available)" if named.name in PLANNED else ""
            out.append(((key, "name"), f"unknown {key} {named.name!r}{planned}; allowed: "
                                       f"{sorted(registry)}"))
    searcher = config.sampler.options.get("searcher") if config.sampler else None
    name = searcher.get("name") if isinstance(searcher, dict) else searcher
    if isinstance(name, str):
        loc = ("sampler", "searcher") + (("name",) if isinstance(searcher, dict) else ())
        if name not in SAMPLERS:
            out.append((loc, f"unknown sampler {name!r}; allowed: {sorted(SAMPLERS)}"))
        else:
            module, attr = SAMPLERS[name].split(":")
            # the class itself carries the protocol's marker attribute
            if isinstance(getattr(importlib.import_module(module), attr), DecidesContinuation):
                out.append((loc, f"{name} cannot be a searcher: it decides itself which "
                                 "trials continue (a scheduler, a population sampler or "
                                 "FreezeThaw); a searcher proposes new configurations, "
                                 "e.g. tpe, random, gp, multifidelity"))
    return out
