"""Find a Python 3.12+ interpreter and keep the peers' virtualenv in step with requirements.txt.

Django 6, which django-tasks-db needs, requires Python 3.12 or newer, while
the rest of the project runs on 3.11. The virtualenv lives in .venv-peers/
at the repository root and stores the hash of requirements.txt and the
interpreter, so a changed file or interpreter rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
VENV = ROOT / ".venv-peers"
STAMP = VENV / "requirements.sha256"
MINIMUM_VERSION = (3, 12)
#: Interpreter names to look for on PATH.
CANDIDATE_NAMES = ["python3.13", "python3.12", "python3"]


class SetupError(Exception):
    """No suitable Python was found, or building the virtualenv failed."""


def find_python(override: str | None = None) -> str:
    """Return the path of a Python 3.12+ interpreter.

    ``override`` (the --python option) wins, then the PEERS_PYTHON variable.
    Otherwise the oldest 3.12+ version among python3.13, python3.12 and
    python3 on PATH and the versions that pyenv installed under ``pyenv root``.
    A candidate counts only if it runs and reports its version, because
    pyenv's shims exist on PATH even for versions that aren't selected.
    """
    chosen = override or os.environ.get("PEERS_PYTHON")
    if chosen:
        version = _python_version(chosen)
        if version is None or version < MINIMUM_VERSION:
            found = "does not run" if version is None else f"is Python {version[0]}.{version[1]}"
            raise SetupError(f"The Python {chosen!r} {found}: the peers need Python 3.12 or newer.")
        return chosen

    versions = {}
    for candidate in [*filter(None, map(shutil.which, CANDIDATE_NAMES)), *_pyenv_pythons()]:
        version = _python_version(candidate)
        if version is not None and version >= MINIMUM_VERSION:
            versions.setdefault(version, candidate)
    if versions:
        # The oldest suitable version: requirements.txt was resolved on 3.12.
        return versions[min(versions)]
    raise SetupError(
        "No Python 3.12 or newer found on PATH or among pyenv's versions; Django 6 needs it for "
        "django-tasks-db. Install one (`apt-get install python3.12`, or `pyenv install 3.12`), "
        "or pass its path with --python or the PEERS_PYTHON variable."
    )


def ensure_virtualenv(python: str) -> Path:
    """Build .venv-peers/ from requirements.txt unless it was built from the same file and Python.

    Returns the virtualenv's python.
    """
    venv_python = VENV / "bin" / "python"
    expected_stamp = _stamp(python)
    if venv_python.exists() and STAMP.exists() and STAMP.read_text().strip() == expected_stamp:
        return venv_python

    print(f"Building {VENV} with {python} from {REQUIREMENTS} (a few minutes the first time)...",
          file=sys.stderr, flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    _run([python, "-m", "venv", str(VENV)])
    _run([str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "--requirement", str(REQUIREMENTS)])
    STAMP.write_text(expected_stamp + "\n")
    return venv_python


def _stamp(python: str) -> str:
    """Hash requirements.txt together with the interpreter's real path and version."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    version = _python_version(python)
    digest.update(f"{os.path.realpath(python)} {version}".encode())
    return digest.hexdigest()


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        completed = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    major, minor = completed.stdout.split()
    return int(major), int(minor)


def _pyenv_pythons() -> list[str]:
    """Return pyenv's installed python3 binaries, newest version first; none without pyenv."""
    try:
        completed = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if completed.returncode != 0:
        return []
    versions = Path(completed.stdout.strip()) / "versions"
    binaries = [path / "bin" / "python3" for path in versions.glob("3.*")]
    binaries = [path for path in binaries if path.exists()]
    return [str(path) for path in sorted(binaries, key=_version_key, reverse=True)]


def _version_key(path: Path) -> tuple[int, ...]:
    parts = path.parent.parent.name.split(".")
    return tuple(int(part) if part.isdigit() else -1 for part in parts)


def _run(command: list[str]) -> None:
    completed = subprocess.run(command)
    if completed.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        raise SetupError(f"{' '.join(command)} failed with status {completed.returncode}; "
                                f"removed {VENV} so the next run starts afresh.")
