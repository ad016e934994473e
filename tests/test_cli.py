"""The command line: end to end in a subprocess, as a user runs it, and its checks in process."""

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge import cli as command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "checkpoints" / "digits" / "examples").glob("*.png"))
# The model of the runs below: without --model the command takes what the local Hugging Face
# cache holds (test_default_model_*), which differs from machine to machine.
DIGITS = ("--model", "digits")


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "latent_bridge", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def cli_in_process(args, capsys):
    """(exit code, stdout, stderr) of ``latent-bridge ARGS`` run in this process."""
    try:
        code = command.main([str(a) for a in args])
    except SystemExit as stop:  # argparse: --help, --version and malformed arguments
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model is loaded: every argument must be checked before that."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(lb.models, "load", refuse)


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


def test_interpolate_writes_a_video_with_every_frame_and_nothing_on_stdout(tmp_path):
    target = tmp_path / "path.mp4"
    out = cli("interpolate", EXAMPLES[0], EXAMPLES[1], *DIGITS, "--method", "ou", "--T", "0.5", "--frames", "12",
              "--paths", "2", "--out", target)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # no "Loading weights from local directory", no notes
    assert f"wrote {target}" in out.stderr
    # 12 frames of an OU bridge correlate about 0.6 from frame to frame: said on stderr.
    assert "latent-bridge: warning: ou: adjacent frames correlate" in out.stderr and "slideshow" in out.stderr
    assert len(list(iio.imiter(target))) == 12


def test_walk_writes_a_looping_gif(tmp_path):
    target = tmp_path / "walk.gif"
    out = cli("walk", EXAMPLES[0], *DIGITS, "--frames", "10", "--quiet", "--out", target)
    assert out.returncode == 0, out.stderr
    with Image.open(target) as gif:
        # A closed walk's last frame repeats its first: the GIF drops it so the loop is seamless.
        assert gif.n_frames == 9 and gif.info.get("loop") == 0


def test_compare_writes_a_grid_per_method_and_both_plots_and_json_on_stdout(tmp_path):
    target, plot, metrics = tmp_path / "compare.png", tmp_path / "norms.png", tmp_path / "metrics.png"
    out = cli("compare", EXAMPLES[0], EXAMPLES[1], *DIGITS, "--methods", "linear", "ou", "gp", "--frames", "8",
              "--quiet", "--json", "--out", target, "--plot", plot, "--metrics-plot", metrics)
    assert out.returncode == 0, out.stderr
    with Image.open(target) as grid:
        assert grid.size[1] == 3 * 96 + 2 * 2  # one 96-px row per method, 2-px gaps
    for path in (plot, metrics):
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size[0] > 400
    report = json.loads(out.stdout)  # one JSON object, nothing else
    assert report["written"] == {"out": str(target), "plot": str(plot), "metrics_plot": str(metrics)}
    assert set(report["diagnostics"]) == {"linear", "ou", "gp"}
    assert report["diagnostics"]["ou"]["frames"] == 8
    assert "wrote" not in out.stderr  # --quiet: no notes


def test_keyframes_write_mp4_gif_and_png_sequences_through_every_image(tmp_path, capsys):
    images = EXAMPLES[:3]
    video, gif, archive, folder = tmp_path / "keys.mp4", tmp_path / "keys.gif", tmp_path / "keys.zip", tmp_path / "keys"
    out = cli("keyframes", *images, *DIGITS, "--loop", "--hold", "2", "--easing", "smooth", "--frames-per-segment", "8",
              "--paths", "1", "--json", "--quiet", "--out", video)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["diagnostics"]["gp"]
    # 3 segments of 8 frames (7 steps each), the first frame, 2 more at each of the 3 keys.
    frames = 3 * 7 + 1 + 3 * 2
    assert report["frames"] == frames and report["key_frames"] == [0, 9, 18, 27]
    assert len(list(iio.imiter(video))) == frames
    for target in (gif, archive, f"{folder}/"):  # the other formats in this process: no interpreter start each
        code, _, stderr = cli_in_process(["keyframes", *images, *DIGITS, "--loop", "--frames-per-segment", "6",
                                          "--paths", "2", "--quiet", "--out", target], capsys)
        assert code == 0, stderr
    with Image.open(gif) as loop:
        assert loop.n_frames == 3 * 5  # a loop: the last frame (the first key again) is dropped
    import zipfile

    with zipfile.ZipFile(archive) as names:
        assert len(names.namelist()) == 2 * 16 and "path2/00015.png" in names.namelist()
    assert sorted(p.name for p in (folder / "path1").iterdir()) == [f"{i:05d}.png" for i in range(16)]
    with Image.open(folder / "path1" / "00005.png") as frame:  # the second key, at the decoded size
        assert frame.size == (32, 32)


def test_keyframes_length_in_seconds_sets_the_frames(tmp_path):
    target = tmp_path / "keys.mp4"
    out = cli("keyframes", *EXAMPLES[:4], *DIGITS, "--seconds", "2", "--fps", "12", "--paths", "1", "--out", target)
    assert out.returncode == 0, out.stderr
    # 2 s at 12 fps = 24 frames ~ 3 (f - 1) + 1: f = 9, 25 frames.
    assert "9 frames per segment: 25 frames in all, 2.08 s at 12 fps" in out.stderr
    assert len(list(iio.imiter(target))) == 25


def test_keyframes_with_a_periodic_kernel_take_the_period_of_all_keys():
    args = command.build_parser().parse_args(["keyframes", "a.png", "b.png", "c.png", "--kernel", "periodic",
                                              "--T", "1.5"])
    assert command._sampler("gp", args).kernel.period == 4.5


def test_keyframes_a_period_apart_must_be_the_same_image(tmp_path, capsys):
    # Known once the images are encoded: the periodic kernel (period 4 = 2 T) forces the
    # path back to image 1 at image 3's time.
    args = ["keyframes", EXAMPLES[0], EXAMPLES[1], EXAMPLES[2], *DIGITS, "--kernel", "periodic", "--period", "4",
            "--quiet", "--out", tmp_path / "x.mp4"]
    code, out, err = cli_in_process(args, capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "keys 1 and 3 (counting a loop's return to the first key) must be equal" in err
    assert cli_in_process(args[:3] + [EXAMPLES[0]] + args[4:], capsys)[0] == 0


def test_keyframes_help_names_its_own_flags(capsys):
    code, text, _ = cli_in_process(["keyframes", "--help"], capsys)
    assert code == 0 and "``" not in text and "lb." not in text
    for flag in ("--frames-per-segment", "--seconds", "--loop", "--hold", "--easing", "(default: 24)", ".zip"):
        assert flag in text
    assert "--frames " not in text


@pytest.mark.parametrize(
    "args, message",
    [
        (("keyframes", "A", "--out", "x.mp4"), "keyframes needs two or more images; got 1"),
        (("keyframes", "A", "B", "--hold", "-1"), "hold must be a whole number >= 0"),
        (("keyframes", "A", "B", "--frames-per-segment", "1"), "frames per segment must be a whole number >= 2"),
        (("keyframes", "A", "B", "--frames-per-segment", "8", "--seconds", "2"), "not allowed with argument"),
        (("keyframes", "A", "B", "--seconds", "0"), "seconds must be a positive number; got '0'"),
        (("keyframes", "A", "B", "--seconds", "0.05"), "0.05 s at 24 fps is 1 frames, too few for 1 segments"),
        (("keyframes", "A", "B", "--easing", "bounce"), "invalid choice: 'bounce'"),
        (("keyframes", "A", "B", "--out", "x.webm"), "--out must end in .mp4, .gif, .png, .zip"),
        (("compare", "A", "B", "--out", "frames/"), "compare writes .mp4 or .png; got a folder"),
        (("interpolate", "A", "B", "--method", "nope"), "unknown method 'nope'"),
        (("interpolate", "A", "B", "--method", "gp", "--alpha", "2.5"), "alpha must be in (0, 2]"),
        (("interpolate", "A", "B", "--frames", "1"), "frames must be"),
        (("interpolate", "A", "B", "--frames", "many"), "frames must be"),
        (("interpolate", "A", "B", "--paths", "0"), "paths must be a whole number >= 1"),
        (("interpolate", "A", "B", "--fps", "0"), "fps must be a whole number from 1 to 120"),
        (("interpolate", "A", "B", "--seed", "18446744073709551616"), "seed must be a whole number from 0 to 4294967295"),
        (("interpolate", "A", "B", "--seed", "-1"), "seed must be a whole number from 0 to 4294967295"),
        (("interpolate", "A", "B", "--method", "ou", "--alpha", "1.5"), "--alpha is not a parameter of ou"),
        (("interpolate", "A", "B", "--out", "x.avi"), "--out must end in .mp4, .gif, .png"),
        (("interpolate", "A", "B", "--plot", "x.jpg"), "--plot must end in .png"),
        (("interpolate", "A", "B", "--metrics-plot", "x.svg"), "--metrics-plot must end in .png"),
        (("interpolate", "A", "B", *DIGITS, "--dtype", "bfloat16"), "--dtype applies to Hub models"),
        (("interpolate", "A", "B", *DIGITS, "--image-size", "64"), "--image-size applies to Hub models"),
        (("interpolate", "A", "B", "--layout", "diagonal"), "invalid choice: 'diagonal'"),
        (("compare", "A", "B", "--out", "x.gif"), "compare writes .mp4 or .png"),
        (("compare", "A", "B", "--paths", "2"), "unrecognized arguments: --paths"),
        (("interpolate", "A", "missing.png"), "no such image file: 'missing.png'"),
        # A terminal's escape byte in a name comes out escaped, never raw.
        (("interpolate", "A", "missing\x1b[2J.png"), "no such image file: 'missing\\x1b[2J.png'"),
        (("walk", "A", "--method", "gp", "--kernel", "periodic", "--T", "-1"), "T must be in [1e-06, inf)"),
    ],
)
def test_bad_input_is_refused_in_one_line_before_any_model_loads(args, message, tmp_path, no_model, capsys):
    args = [str(EXAMPLES[0]) if a == "A" else str(EXAMPLES[1]) if a == "B" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.mp4")]
    code, out, err = cli_in_process(args, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("latent-bridge: error: ")
    assert out == ""


def test_bad_input_in_a_subprocess_exits_2_without_a_traceback(tmp_path):
    out = cli("interpolate", EXAMPLES[0], EXAMPLES[1], "--model", "no-such-model", "--out", tmp_path / "x.mp4")
    assert out.returncode == 2
    assert "unknown model 'no-such-model'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("case", ["folder", "proc", "missing folder", "input", "out is plot", "plot is metrics",
                                  "not a regular file", "read-only folder"])
def test_output_paths_are_checked_before_any_work(case, tmp_path, no_model, capsys):
    a, b = EXAMPLES[0], EXAMPLES[1]
    image_copy = tmp_path / "a.png"
    image_copy.write_bytes(a.read_bytes())
    flags, message = {
        "folder": (["--out", tmp_path], "--out is a folder"),
        "proc": (["--out", "/proc/x.mp4"], "--out cannot be written in /proc"),
        "missing folder": (["--out", tmp_path / "no" / "x.mp4"], "the folder of --out does not exist"),
        # Another name for the input (a symbolic link), the same file all the same.
        "input": (["--out", tmp_path / "alias.png"], "--out is the input image"),
        "out is plot": (["--out", tmp_path / "x.png", "--plot", tmp_path / "x.png"],
                        "--out and --plot name the same file"),
        "plot is metrics": (["--out", tmp_path / "x.mp4", "--plot", tmp_path / "p.png", "--metrics-plot",
                             tmp_path / "p.png"], "--plot and --metrics-plot name the same file"),
        "not a regular file": (["--out", tmp_path / "fifo.mp4"], "--out exists and is not a regular file"),
        "read-only folder": (["--out", tmp_path / "locked" / "x.mp4"], "--out cannot be written in"),
    }[case]
    if case == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    if case == "input":
        (tmp_path / "alias.png").symlink_to(image_copy)
    if case == "not a regular file":
        os.mkfifo(tmp_path / "fifo.mp4")
    if case == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "locked").mkdir(mode=0o500)
    before = image_copy.read_bytes()
    code, out, err = cli_in_process(["interpolate", image_copy, b, *flags], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert image_copy.read_bytes() == before


def test_slideshow_warning_names_the_frames_that_give_smooth_motion():
    ou = lb.registry.get("ou", T=0.5)
    (warning,) = command._slideshow_warnings({"ou": ou}, 16)
    enough = int(warning.split("--frames ")[1].split()[0])
    # The app's measure and threshold: the suggested count is the first that reaches it.
    assert lb.bridges.adjacent_correlation(ou, enough) >= command.SMOOTH_CORRELATION
    assert lb.bridges.adjacent_correlation(ou, enough - 1) < command.SMOOTH_CORRELATION
    assert command._slideshow_warnings({"ou": ou}, 64) == []  # the default frame count is smooth
    assert command._slideshow_warnings({"linear": lb.registry.get("linear")}, 8) == []  # deterministic
    # A million frames would need a 10^6 x 10^6 covariance to judge: no warning, no allocation.
    assert command._slideshow_warnings({"gp": lb.registry.get("gp")}, 10**6) == []


def test_defaults_are_the_librarys_which_the_app_shares():
    from latent_bridge.app import limits as app_support

    defaults = lb.pipeline.DEFAULTS
    args = command.build_parser().parse_args(["interpolate", "a.png", "b.png"])
    assert (args.frames, args.paths, args.seed, args.fps) == (defaults.frames, defaults.paths, defaults.seed,
                                                              defaults.fps) == (64, 2, 0, 24)
    assert app_support.DEFAULTS is defaults and app_support.SMOOTH_CORRELATION == lb.bridges.SMOOTH_CORRELATION


def test_the_command_line_loads_neither_the_app_layer_nor_gradio():
    code = ("import sys, latent_bridge.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('latent_bridge.app', 'gradio'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_whole_number_flags_are_checked_by_the_librarys_rule():
    parse = command._whole("frames", 2)
    assert parse("12") == 12 == lb.checks.check_whole("frames", "12", 2, loose=True)
    for text in ("1", "1.5", "twelve"):
        with pytest.raises(Exception, match=r"frames must be a whole number >= 2; got '"):
            parse(text)


def test_version(capsys):
    code, out, _ = cli_in_process(["--version"], capsys)
    assert code == 0 and out.strip() == f"latent-bridge {lb.__version__}"


@pytest.mark.parametrize("name", ["interpolate", "walk", "compare"])
def test_help_reads_cleanly_and_shows_only_the_commands_flags(name, capsys):
    code, text, _ = cli_in_process([name, "--help"], capsys)
    assert code == 0
    assert "``" not in text and "lb." not in text and "caller" not in text
    assert "(default: 64)" in text and "(default: 24)" in text
    assert "(default: the best model this machine has without a download: sd-vae when" in " ".join(text.split())
    # Method flags are grouped by the methods that take them, each with its methods' defaults.
    assert "parameters of gp:" in text and "parameters of langevin:" in text
    assert "0.5 (ou, ou-sde)" in text
    assert ("--methods" in text) == (name == "compare")
    assert ("IMAGE_B" in text) == (name != "walk")
    assert ("--layout" in text) == ("--paths" in text) == (name != "compare")


def test_embedded_model_refuses_a_missing_cuda_device_in_one_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    code, _, err = cli_in_process(["interpolate", EXAMPLES[0], EXAMPLES[1], *DIGITS, "--device", "cuda", "--out",
                                   tmp_path / "x.mp4"], capsys)
    assert code == 2 and "no CUDA GPU is available" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, T", [
    ([], 4.0),                                               # gp walks default to the periodic kernel
    (["--kernel", "periodic"], 4.0),                         # T follows the period ...
    (["--kernel", "periodic", "--period", "6"], 6.0),
    (["--kernel", "periodic", "--T", "8"], 8.0),             # ... unless T is given
    (["--kernel", "exponential"], 2.0),                      # other kernels keep gp's default T
])
def test_walk_with_a_periodic_kernel_sets_T_to_the_period(flags, T):
    args = command.build_parser().parse_args(["walk", "pose.png", "--method", "gp", *flags])
    sampler = command._sampler("gp", args, walk=True)
    assert sampler.T == T


def test_large_runs_stream_and_write_the_same_video(tmp_path, monkeypatch, capsys):
    # Streaming (frames decoded while the video is written) gives the frames of the in-memory run.
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
    def fail(args):
        raise error

    monkeypatch.setattr(command, "run", fail)
    assert command.main(["methods"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latent-bridge: error: out of memory")


def test_other_runtime_errors_are_not_hidden(monkeypatch):
    def fail(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(command, "run", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        command.main(["methods"])


def test_a_samplers_warnings_are_printed(tmp_path, capsys):
    # Two particles under a fitted mixture cannot reach a target ESS of 48: the sampler says so,
    # and so does the command, on stderr; the JSON report carries the same sentences.
    target = tmp_path / "grid.png"
    code, out, err = cli_in_process(["interpolate", EXAMPLES[0], EXAMPLES[1], *DIGITS, "--method", "langevin",
                                     "--algorithm", "smc", "--prior", "mixture", "--target-ess", "48",
                                     "--particles", "2", "--max-particles", "2", "--steps", "20", "--frames", "6",
                                     "--out", target, "--json", "--quiet"], capsys)
    assert code == 0, err
    assert "latent-bridge: warning: langevin: the particles hold an effective sample size of only" in err
    assert json.loads(out)["diagnostics"]["langevin"]["warnings"]


def readme_command_lines() -> list[str]:
    """The command lines of README.md's "On the command line" section, as printed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## On the command line", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_command_lines_run_as_printed_in_a_fresh_folder(tmp_path):
    lines = readme_command_lines()
    assert len(lines) >= 8 and all(line.startswith("latent-bridge ") for line in lines), lines
    # `latent-bridge` is the console script of cli.main (what `pip install .` makes); from a
    # checkout the same function runs each line's own arguments, in one interpreter for speed.
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"latent-bridge": "latent_bridge.cli:main"}
    argvs = [shlex.split(line, comments=True)[1:] for line in lines]
    driver = """
import json, sys
from latent_bridge.cli import main
for argv in json.loads(sys.argv[1]):
    print("$ latent-bridge", *argv, file=sys.stderr, flush=True)
    code = main(argv)
    if code:
        sys.exit(code)
"""
    # An empty Hugging Face cache: without --model the lines run on the embedded default.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    folder = tmp_path / "fresh"
    folder.mkdir()
    ran = subprocess.run([sys.executable, "-c", driver, json.dumps(argvs)], capture_output=True, text=True,
                         env=env, cwd=folder, timeout=240)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "model: poses (the best this machine has without a download" in ran.stderr
    outputs = [argv[argv.index("--out") + 1] for argv in argvs if "--out" in argv]
    assert outputs and all((folder / out).exists() for out in outputs), sorted(p.name for p in folder.iterdir())


# --- progress ----------------------------------------------------------------------------------


def test_progress_is_printed_once_per_stage_tenth_when_stderr_is_not_a_terminal(tmp_path, capsys):
    code = command.main(["interpolate", str(EXAMPLES[0]), str(EXAMPLES[1]), *DIGITS, "--frames", "64",
                         "--out", str(tmp_path / "path.gif")])
    err = capsys.readouterr().err
    assert code == 0, err
    progress = [line for line in err.splitlines() if line.startswith("decoding")]
    assert "\r" not in err and len(progress) == len(set(progress)) >= 2, err
    # 2 paths of 64 frames share their endpoints: 2 + 2 x 62 frames to decode.
    assert progress[0] == "decoding endpoints: 2/126 frames" and progress[-1] == "decoding: 126/126 frames"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_draws_each_update_once(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    report = command._Progress(True)
    updates = [(2, 10, "decoding endpoints"), (5, 10, "decoding"), (10, 10, "decoding")]
    for update in updates:
        report(*update)
    drawn = terminal.getvalue().split("\r")[1:]  # tqdm starts each drawing with a carriage return
    assert [line.split("|")[0].split(":")[0] for line in drawn] == [message for _, _, message in updates]
    report.close()  # leaves the finished bar on its own line
    finished = terminal.getvalue().split("\r")[-1]
    assert "10/10" in finished and finished.endswith("\n")


def test_quiet_runs_report_nothing(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    report = command._Progress(False)
    report(1, 2, "decoding")
    report.close()
    assert terminal.getvalue() == ""


# --- the default model and the example images -------------------------------------------------


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty local Hugging Face cache (returned), offline; tests put models into it."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_default_model_is_poses_when_the_cache_holds_no_photo_model(hub_cache, tmp_path, capsys):
    code, _, err = cli_in_process(["interpolate", EXAMPLES[0], EXAMPLES[1], "--frames", "4", "--device", "cpu",
                                   "--json", "--out", tmp_path / "grid.png"], capsys)
    assert code == 0, err
    assert "model: poses (the best this machine has without a download; --model picks another)" in err
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size[0] >= 4 * 64  # poses' 64 px frames, not digits' 32


def test_default_model_is_a_cached_sd_vae_with_fast_preview_on_a_cpu(hub_cache, tmp_path, capsys):
    from tiny_hub import sd_pair_cache

    sd_pair_cache(hub_cache, tmp_path / "saved")
    code, out, err = cli_in_process(["interpolate", EXAMPLES[0], EXAMPLES[1], "--frames", "4", "--paths", "1",
                                     "--device", "cpu", "--image-size", "16", "--json", "--out",
                                     tmp_path / "grid.png"], capsys)
    assert code == 0, err
    assert "model: sd-vae (the best this machine has without a download, with fast preview;" in err
    assert json.loads(out)["diagnostics"]["ou"]["decoder"] == "fast"  # TAESD's


def test_examples_copies_every_embedded_models_examples_once(tmp_path, capsys):
    folder = tmp_path / "new" / "examples"
    code, _, err = cli_in_process(["examples", folder], capsys)
    assert code == 0, err
    shipped = {p.name: p.read_bytes() for p in (ROOT / "checkpoints").glob("*/examples/*.png")}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == shipped and len(shipped) == 18
    assert "digits_0.png to digits_5.png, fashion_0.png to fashion_5.png, poses_0.png to poses_5.png" in err
    assert cli_in_process(["examples", folder, "--quiet"], capsys)[0] == 0  # again: the same files, left


def test_examples_refuses_a_folder_with_other_files_of_those_names_before_copying(tmp_path, capsys):
    (tmp_path / "poses_3.png").write_bytes(b"mine")
    (tmp_path / "digits_1.png").mkdir()
    code, _, err = cli_in_process(["examples", tmp_path], capsys)
    assert code == 2 and "holds other files named digits_1.png, poses_3.png" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_1.png", "poses_3.png"]
