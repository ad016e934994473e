"""The project as people install it: requirements that agree, and a wheel that carries its models."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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
            assert re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z]+\])?==[0-9][0-9A-Za-z.]*", line), (path.name, line)
    assert "torch==2.13.0" in requirement_lines(ROOT / "requirements.txt")


def test_ci_runs_the_readme_test_command():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "pip install -r requirements-dev.txt && python -m pytest"
    assert f"```bash\n{commands[-1]}\n```" in (ROOT / "README.md").read_text()


def test_pyproject_lists_every_package_and_maps_the_top_level_checkpoints_into_it():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "latent_bridge").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"latent_bridge.checkpoints"}
    assert setuptools["package-dir"] == {"latent_bridge.checkpoints": "checkpoints"}


def clean_checkout(folder: Path) -> Path:
    """The files git tracks (and new ones it does not ignore), as they are now, copied into
    ``folder``: setuptools reuses an in-tree build/ folder, stale files and all, and a file
    left out of git must not reach the wheel from this working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True, cwd=ROOT, timeout=60).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


@pytest.mark.slow
def test_wheel_carries_the_models_and_runs_them_from_any_folder(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy cleanly")
    source = clean_checkout(tmp_path / "source")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source],
                   check=True, env=env, cwd=tmp_path, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("latent_bridge-*.whl")
    # Every file of the top-level checkpoints/ (but a trial run's preview.png), inside the package.
    shipped = {"latent_bridge/" + str(p.relative_to(source)) for p in (source / "checkpoints").rglob("*")
               if p.is_file() and p.name != "preview.png"}
    with zipfile.ZipFile(wheel) as archive:
        assert shipped <= set(archive.namelist())
        assert not [name for name in archive.namelist() if name.startswith("checkpoints/")]

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True, env=env,
                   timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    # Each embedded model loads from the installed package and decodes its own example.
    script = """
import json, latent_bridge as lb
from latent_bridge.checkpoints import CHECKPOINTS_DIR
out = {"package": lb.__file__, "checkpoints": str(CHECKPOINTS_DIR)}
for name in ("digits", "fashion", "poses"):
    vae = lb.models.load(name)
    result = lb.interpolate(vae, *vae.example_images()[:2], lb.registry.get("ou"), frames=4, n_paths=1)
    out[name] = [str(vae.folder), list(result.frames.shape)]
print(json.dumps(out))
"""
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=run_env,
                         cwd=elsewhere, timeout=120)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["checkpoints"]) == site / "latent_bridge" / "checkpoints"
    for name in ("digits", "fashion", "poses"):
        folder, shape = found[name]
        assert Path(folder) == site / "latent_bridge" / "checkpoints" / name and shape[:2] == [1, 4]
    # The installed command copies the examples out and runs on them, on the default model.
    command = site / "bin" / "latent-bridge"
    run_env["HF_HUB_CACHE"] = str(tmp_path / "empty-hub")
    for args in (["examples", "pictures"],
                 ["interpolate", "pictures/poses_0.png", "pictures/poses_1.png", "--frames", "8", "--out", "path.gif"]):
        out = subprocess.run([command, *args], capture_output=True, text=True, env=run_env, cwd=elsewhere,
                             timeout=120)
        assert out.returncode == 0, out.stderr
    assert "model: poses" in out.stderr and (elsewhere / "path.gif").stat().st_size > 0


def test_every_benchmark_script_starts_from_a_checkout():
    # README: `python benchmarks/NAME.py` from a checkout. Each script (a file with a __main__
    # block) is run up to that block, from another folder: its imports must resolve, and
    # latent_bridge must be the checkout's even where a copy is installed. All at once.
    scripts = [s for s in sorted((ROOT / "benchmarks").glob("*.py")) if '__name__ == "__main__"' in s.read_text()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = ("import pathlib, runpy, sys; runpy.run_path(sys.argv[1], run_name='imported'); "
             "import latent_bridge; assert pathlib.Path(latent_bridge.__file__).resolve().is_relative_to(sys.argv[2]), "
             "latent_bridge.__file__")
    runs = [(s.name, subprocess.Popen([sys.executable, "-c", check, str(s), str(ROOT)], cwd=ROOT / "docs", env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for s in scripts]
    failed = []
    try:
        for name, run in runs:
            _, err = run.communicate(timeout=240)
            if run.returncode != 0:
                failed.append((name, err.strip().splitlines()[-1:]))
    finally:
        for _, run in runs:
            if run.poll() is None:
                run.kill()
    assert len(runs) >= 8 and not failed, failed
