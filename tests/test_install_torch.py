"""`make`'s torch step (scripts/install-torch): it says what it does, keeps a CPU build that is
there, and stops with one line before downloading a CUDA build, or when one is installed.

PyPI's Linux CUDA wheel of torch is several GB and cannot be fetched here, so two stand-in
wheels play it: real wheels, installed by real pip into a real virtualenv, whose metadata
(`Requires-Dist: nvidia-…`) and `torch.version.cuda` say what the real CUDA build says."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install-torch"


def _wheel(folder: Path, version: str, cuda: str | None, requires: list[str]) -> Path:
    """A minimal real wheel named torch: METADATA, WHEEL, RECORD and torch/version.py."""
    name = f"torch-{version}-py3-none-any.whl"
    dist = f"torch-{version}.dist-info"
    files = {
        "torch/__init__.py": f"__version__ = {version!r}\nfrom torch import version\n",
        "torch/version.py": f"cuda = {cuda!r}\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: torch\n"
        f"Version: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / name, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return folder / name


@pytest.fixture
def fresh_python(tmp_path) -> Path:
    """A virtualenv with pip and no torch."""
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    return tmp_path / "venv" / "bin" / "python"


def _run(python: Path, wheels: Path, *extra: str) -> subprocess.CompletedProcess:
    """The script with pip looking only at `wheels`, and a CPU index that refuses at once."""
    env = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_CONSTRAINT": "",
        "PIP_CONFIG_FILE": os.devnull,
        "TORCH_CPU_INDEX": "http://127.0.0.1:9",  # the discard port: nothing listens
    }
    return subprocess.run(
        ["bash", str(SCRIPT), str(python), "2.13.0", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_cuda_build_is_refused_before_it_is_downloaded(fresh_python, tmp_path):
    wheels = tmp_path / "wheels"
    _wheel(wheels, "2.13.0", "12.8", ["nvidia-cuda-runtime-cu12==12.8.90", "filelock"])
    run = _run(fresh_python, wheels)
    assert run.returncode == 1
    assert "does not answer; looking in pip's configured indexes" in run.stdout
    [line] = [line for line in run.stderr.splitlines() if line.startswith("install-torch:")]
    assert "torch pip can reach is 2.13.0, a CUDA build" in line
    assert "make http://127.0.0.1:9 reachable" in line
    check = subprocess.run([str(fresh_python), "-c", "import torch"], capture_output=True)
    assert check.returncode != 0  # nothing was installed


def test_a_cpu_build_is_installed_and_then_kept_and_a_cuda_one_in_place_is_named(
    fresh_python, tmp_path
):
    wheels = tmp_path / "wheels"
    _wheel(wheels, "2.13.0+cpu", None, ["filelock"])
    _wheel(tmp_path / "other", "2.13.0", "12.8", [])
    _wheel_named(wheels, "filelock", "3.0.0")  # its one dependency, for pip to find offline
    first = _run(fresh_python, wheels)
    assert first.returncode == 0, first.stderr
    assert "==> installing torch 2.13.0+cpu from file://" in first.stdout
    assert first.stdout.rstrip().endswith("==> torch 2.13.0+cpu installed (CPU build)")
    again = _run(fresh_python, wheels)
    assert again.stdout.strip() == "==> torch 2.13.0+cpu is installed already (CPU build)"

    swap = [str(fresh_python), "-m", "pip", "install", "--no-index", "--no-deps", "-q"]
    subprocess.run([*swap, "--force-reinstall", str(next((tmp_path / "other").iterdir()))])
    stuck = _run(fresh_python, wheels)
    assert stuck.returncode == 1
    assert "torch 2.13.0 in" in stuck.stderr and "is a CUDA build (cuda 12.8)" in stuck.stderr


def _wheel_named(folder: Path, name: str, version: str) -> None:
    """A tiny wheel for a dependency (pip must resolve it, offline)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist}/RECORD", "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"]))


def test_the_interpreter_running_the_tests_has_the_cpu_build():
    """The lead's environment, as `make` left it: the step is a no-op that says so."""
    run = subprocess.run(
        ["bash", str(SCRIPT), sys.executable, "2.13.0"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "==> torch 2.13.0+cpu is installed already (CPU build)"
