"""What running one trial came to, as the worker loop sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """The result of running one trial's objective somewhere (thread, process, Ray task).

    ``kind``: ``"complete"`` (``values`` valid), ``"pruned"``, ``"fail"`` (the objective
    raised or returned an invalid value), ``"crash"`` (the process running it died),
    ``"timeout"`` (killed at the per-trial time limit) or ``"interrupted"`` (the sweep
    was stopped).
    """

    kind: str
    values: list[float] = field(default_factory=list)
    reason: str = ""
    traceback: str = ""

    @property
    def retryable(self) -> bool:
        """Failures of the infrastructure, not of the configuration."""
        return self.kind in ("crash", "interrupted")
