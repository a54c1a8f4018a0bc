"""Demo steps other apps add to ``manage.py demo`` (usage may not import them: they register here).

A step is ``fn(now=datetime)`` run once the demo's traffic is stored; it returns lines to print.
``costs`` registers one at ready that writes and imports a cost export of the demo's traffic.
"""

from collections.abc import Callable
from datetime import datetime

DemoStep = Callable[..., list[str]]
_steps: list[DemoStep] = []


def demo_step_register(fn: DemoStep) -> None:
    if fn not in _steps:
        _steps.append(fn)


def demo_steps_run(*, now: datetime) -> list[str]:
    """Run every registered step in registration order; their lines, in order."""
    lines: list[str] = []
    for step in _steps:
        lines.extend(step(now=now))
    return lines
