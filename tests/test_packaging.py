"""The project as people install it: requirements that agree, and a wheel that carries its models."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from latent_bridge.checkpoints import CHECKPOINTS_DIR

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a requirements file, without comments and ``-r`` lines."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def names(requirements: list[str]) -> set[str]:
    """The normalised package names of requirement specifiers ("Pillow==12.3.0" -> "pillow")."""
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pyproject_declares_exactly_the_runtime_requirements():
    assert names(pyproject()["dependencies"]) == names(requirement_lines(ROOT / "requirements.txt"))


def test_dev_requirements_add_the_test_tools_to_the_runtime_ones():
    dev = ROOT / "requirements-dev.txt"
    assert "-r requirements.txt" in dev.read_text().splitlines()
    tools = names(requirement_lines(dev))
    assert names(pyproject()["optional-dependencies"]["dev"]) == tools
    assert not tools & names(requirement_lines(ROOT / "requirements.txt"))


def test_every_requirement_is_pinned_and_torch_exactly():
    for path in (ROOT / "requirements.txt", ROOT / "requirements-dev.txt"):
        for line in requirement_lines(path):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line), (path.name, line)
    assert "torch==2.13.0" in requirement_lines(ROOT / "requirements.txt")


def test_ci_runs_the_readme_test_command():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "pip install -r requirements-dev.txt && python -m pytest"
    assert f"```bash\n{commands[-1]}\n```" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_wheel_carries_the_models_and_runs_them_from_any_folder(tmp_path):
    # Built from a clean copy: setuptools reuses an in-tree build/ folder, stale files and all.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "latent_bridge", source / "latent_bridge",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "preview.png"))
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source],
                   check=True, env=env, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("latent_bridge-*.whl")
    shipped = {str(p.relative_to(CHECKPOINTS_DIR.parents[1])) for p in CHECKPOINTS_DIR.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.name != "preview.png"}
    with zipfile.ZipFile(wheel) as archive:
        assert shipped <= set(archive.namelist())

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True, env=env,
                   timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    where = subprocess.run([sys.executable, "-c", "import latent_bridge; print(latent_bridge.__file__)"],
                           capture_output=True, text=True, env=run_env, cwd=elsewhere, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr
    examples = site / "latent_bridge" / "checkpoints" / "digits" / "examples"
    out = subprocess.run([site / "bin" / "latent-bridge", "interpolate", examples / "digits_0.png",
                          examples / "digits_1.png", "--model", "digits", "--frames", "8", "--quiet",
                          "--out", "path.gif"],
                         capture_output=True, text=True, env=run_env, cwd=elsewhere, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (elsewhere / "path.gif").stat().st_size > 0
