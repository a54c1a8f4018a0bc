"""Every module of the project imports on its own after ``django.setup()``.

An import cycle (an app's API module importing back from the module that collects the routers)
only shows when that module is the first one imported, which a whole-suite run hides. Each
module is imported in a child process forked right after setup, so none sees another's imports.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aoai_portal", "usage", "audit", "quotas", "costs")

_CHILD = textwrap.dedent(
    """
    import importlib, os, sys, traceback
    import django
    django.setup()
    failed = []
    for name in sys.argv[1:]:
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status:
            failed.append(name)
    print("FAILED:", " ".join(failed))
    sys.exit(1 if failed else 0)
    """
)


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_first():
    modules = _modules()
    assert "aoai_portal.api" in modules and "audit.api" in modules
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "aoai_portal.settings"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
