#!/usr/bin/env python3
"""Run the test suite in a virtual environment that this script keeps up to date.

    python3 runtests.py                        # SQLite, Django 5.2 LTS
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/activejob python3 runtests.py
    DATABASE_URL=mysql://root@127.0.0.1:3306/activejob python3 runtests.py
    DJANGO_SERIES=6 python3 runtests.py -k worker   # Django 6.x (Python 3.12+)

Arguments go to pytest. The environment lives in .venv-test/<python>-django<series>/
and is reinstalled when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DJANGO_PINS = {"5.2": "Django>=5.2,<5.3", "6": "Django>=6.0,<7"}


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the venv exists
        sys.exit(f"Python 3.11 or newer is required; this is {sys.version.split()[0]}.")
    series = os.environ.get("DJANGO_SERIES", "5.2")
    if series not in DJANGO_PINS:
        sys.exit(f"DJANGO_SERIES={series!r} is invalid: use one of {sorted(DJANGO_PINS)}.")
    if series == "6" and sys.version_info < (3, 12):
        sys.exit("Django 6 needs Python 3.12 or newer: run this script with python3.12.")

    database_url = os.environ.get("DATABASE_URL", "")
    extras = "dev,mysql" if database_url.startswith(("mysql", "mariadb")) else "dev"
    python = ensure_environment(series, extras)
    return subprocess.call([str(python), "-m", "pytest", *argv], cwd=ROOT)


def ensure_environment(series: str, extras: str) -> Path:
    """Create or refresh the test virtualenv and return its python."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    home = ROOT / ".venv-test" / f"py{version}-django{series}"
    python = home / "bin" / "python"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = home / ".installed"
    installed = stamp.read_text().split() if stamp.exists() else []
    # The stamp contains the pyproject digest and the extras installed with it;
    # an environment that has more extras than asked for is reused.
    if installed[:1] == [digest] and set(extras.split(",")) <= set(installed[1:]):
        return python
    if installed[:1] == [digest]:
        extras = ",".join(sorted(set(extras.split(",")) | set(installed[1:])))
    requirements = [f"-e.[{extras}]", DJANGO_PINS[series]]

    if not python.exists():
        print(f"Creating {home.relative_to(ROOT)}", flush=True)
        venv.create(home, with_pip=True)
    print(f"Installing {' '.join(requirements)}", flush=True)
    subprocess.check_call(
        [str(python), "-m", "pip", "install", "--quiet", *requirements], cwd=ROOT
    )
    stamp.write_text(" ".join([digest, *extras.split(",")]))
    return python


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
