"""The command line, end to end in a subprocess, as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "latent_bridge" / "checkpoints" / "digits" / "examples").glob("*.png"))


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "latent_bridge", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_methods_lists_every_sampler_with_its_parameters():
    out = cli("methods")
    assert out.returncode == 0, out.stderr
    for name in ("linear", "slerp", "ou", "gp", "ou-sde", "langevin"):
        assert f"{name}:" in out.stdout
    assert "--length-scale" in out.stdout and "(0, 2]" in out.stdout


def test_models_lists_the_embedded_models_first():
    out = cli("models")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("digits")


def test_interpolate_writes_a_video_with_every_frame(tmp_path):
    target = tmp_path / "path.mp4"
    out = cli("interpolate", EXAMPLES[0], EXAMPLES[1], "--method", "ou", "--T", "0.5", "--frames", "12",
              "--paths", "2", "--quiet", "--out", target)
    assert out.returncode == 0, out.stderr
    assert f"wrote {target}" in out.stdout
    assert len(list(iio.imiter(target))) == 12


def test_walk_writes_a_looping_gif(tmp_path):
    target = tmp_path / "walk.gif"
    out = cli("walk", EXAMPLES[0], "--frames", "10", "--quiet", "--out", target)
    assert out.returncode == 0, out.stderr
    with Image.open(target) as gif:
        # A closed walk's last frame repeats its first: the GIF drops it so the loop is seamless.
        assert gif.n_frames == 9 and gif.info.get("loop") == 0


def test_compare_writes_a_grid_per_method_and_both_plots(tmp_path):
    target, plot, metrics = tmp_path / "compare.png", tmp_path / "norms.png", tmp_path / "metrics.png"
    out = cli("compare", EXAMPLES[0], EXAMPLES[1], "--methods", "linear", "ou", "gp", "--frames", "8",
              "--quiet", "--out", target, "--plot", plot, "--metrics-plot", metrics)
    assert out.returncode == 0, out.stderr
    with Image.open(target) as grid:
        assert grid.size[1] == 3 * 96 + 2 * 2  # one 96-px row per method, 2-px gaps
    for path in (plot, metrics):
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size[0] > 400
    assert "linear:" in out.stdout and "gp:" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("interpolate", "A", "B", "--method", "nope"), "unknown method 'nope'"),
        (("interpolate", "A", "B", "--method", "gp", "--alpha", "2.5"), "alpha must be in (0, 2]"),
        (("interpolate", "A", "B", "--frames", "1"), "frames must be"),
        (("interpolate", "A", "B", "--method", "ou", "--alpha", "1.5"), "--alpha is not a parameter of ou"),
        (("interpolate", "A", "B", "--out", "x.avi"), "--out must end in .mp4, .gif, .png"),
        (("interpolate", "A", "B", "--plot", "x.jpg"), "--plot must end in .png"),
        (("interpolate", "A", "B", "--metrics-plot", "x.svg"), "--metrics-plot must end in .png"),
        (("compare", "A", "B", "--out", "x.gif"), "compare writes .mp4 or .png"),
        (("interpolate", "A", "missing.png"), "missing.png"),
        (("interpolate", "A", "B", "--model", "no-such-model"), "unknown model 'no-such-model'"),
        (("walk", "A", "--method", "gp", "--kernel", "periodic", "--T", "-1"), "T must be in (0, inf)"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(args, message, tmp_path):
    args = [str(EXAMPLES[0]) if a == "A" else str(EXAMPLES[1]) if a == "B" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.mp4")]
    out = cli(*args, "--quiet")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("flags, T", [
    ([], 4.0),                                               # gp walks default to the periodic kernel
    (["--kernel", "periodic"], 4.0),                         # T follows the period ...
    (["--kernel", "periodic", "--period", "6"], 6.0),
    (["--kernel", "periodic", "--T", "8"], 8.0),             # ... unless T is given
    (["--kernel", "exponential"], 2.0),                      # other kernels keep gp's default T
])
def test_walk_with_a_periodic_kernel_sets_T_to_the_period(flags, T):
    from latent_bridge import cli

    args = cli.build_parser().parse_args(["walk", "pose.png", "--method", "gp", *flags])
    sampler = cli._sampler("gp", args, walk=True)
    assert sampler.T == T


def test_large_runs_stream_and_write_the_same_video(tmp_path, monkeypatch, capsys):
    # Streaming (frames decoded while the video is written) gives the frames of the in-memory run.
    from latent_bridge import cli as command

    common = ["interpolate", str(EXAMPLES[0]), str(EXAMPLES[1]), "--method", "ou", "--frames", "12",
              "--paths", "2", "--model", "digits"]
    assert command.main([*common, "--quiet", "--out", str(tmp_path / "kept.mp4")]) == 0
    monkeypatch.setattr(command, "KEEP_FRAMES_BYTES", 0)
    assert command.main([*common, "--out", str(tmp_path / "streamed.mp4")]) == 0
    assert "streaming: the frames are decoded as the output is written" in capsys.readouterr().err
    kept, streamed = (iio.imread(tmp_path / name) for name in ("kept.mp4", "streamed.mp4"))
    assert kept.shape == streamed.shape and kept.shape[0] == 12
    assert (kept == streamed).all()


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_running_out_of_memory_ends_with_one_line(error, monkeypatch, capsys):
    from latent_bridge import cli as command

    def fail(args):
        raise error

    monkeypatch.setattr(command, "run", fail)
    assert command.main(["methods"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latent-bridge: error: out of memory")


def test_other_runtime_errors_are_not_hidden(monkeypatch):
    from latent_bridge import cli as command

    def fail(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(command, "run", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        command.main(["methods"])
