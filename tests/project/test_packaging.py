"""Reproducible installs: requirements.lock pins every dependency of pyproject.toml, with hashes,
at versions pyproject allows; the Dockerfile installs from it."""

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", re.M)


def _pins() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall((ROOT / "requirements.lock").read_text())}


def test_the_lock_pins_every_dependency_at_an_allowed_version():
    pins = _pins()
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in dependencies:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from requirements.lock: run pip-compile again (see README)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}"
        )


def test_every_pin_has_a_hash_and_no_local_index_leaks_in():
    text = (ROOT / "requirements.lock").read_text()
    hashed = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+", text, re.M)
    assert len(hashed) == len(_pins()) > 10
    assert "--index-url" not in text and "--find-links" not in text and "file://" not in text


def test_the_image_installs_from_the_lock_with_hashes():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r /tmp/smsbot/requirements.lock" in dockerfile
    assert "pip install --no-build-isolation --no-deps /tmp/smsbot" in dockerfile
    assert "COPY requirements.lock" in dockerfile


# -- the build backend, pinned the same way ---------------------------------------------------------
BUILD_LOCK = ROOT / "build-requirements.lock"


def test_the_build_backend_is_pinned_with_hashes_at_a_version_pyproject_allows():
    text = BUILD_LOCK.read_text()
    pins = {canonicalize_name(name): version for name, version in PIN.findall(text)}
    hashed = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+", text, re.M)
    assert len(hashed) == len(pins) >= 1
    assert "--index-url" not in text and "--find-links" not in text and "file://" not in text
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for line in build["requires"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} (pyproject's build-system) is missing from build-requirements.lock"
        assert requirement.specifier.contains(pins[name]), (
            f"build-requirements.lock pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}"
        )


def test_the_license_is_an_spdx_expression_not_a_deprecated_table():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


def test_the_image_and_the_server_install_build_with_the_locked_backend():
    dockerfile = (ROOT / "Dockerfile").read_text()
    locked = dockerfile.index("pip install --require-hashes -r /tmp/smsbot/build-requirements.lock")
    assert "COPY requirements.lock build-requirements.lock" in dockerfile
    assert locked < dockerfile.index("pip install --no-build-isolation --no-deps /tmp/smsbot")
    for guide in ("docs/operations.md", "deploy/smsbot.service"):
        text = (ROOT / guide).read_text()
        assert "--no-deps ." in text, guide
        for line in text.splitlines():  # every build of smsbot there uses the backend installed before it
            if "--no-deps ." in line:
                assert "--no-build-isolation" in line, f"{guide}: {line.strip()}"
        assert text.index("-r build-requirements.lock") < text.index("--no-deps ."), guide
