"""The latent-bridge command (also ``python -m latent_bridge``).

    latent-bridge examples examples/   # the embedded models' example images, to try the rest on
    latent-bridge interpolate examples/poses_0.png examples/poses_1.png --method ou --T 0.5 --out path.mp4
    latent-bridge walk examples/poses_2.png --paths 3 --out walk.gif
    latent-bridge compare examples/poses_0.png examples/poses_1.png --methods linear slerp ou gp --out compare.png
    latent-bridge keyframes examples/poses_0.png examples/poses_3.png examples/poses_4.png --loop --out loop.mp4
    latent-bridge methods        # every method and its parameters
    latent-bridge models         # every model name
    latent-bridge train my_images/ --out my-vae --minutes 2   # a VAE of your own images
    latent-bridge push-embedded ORG                          # the embedded models onto the Hub

Each method's parameters become flags (``--T``, ``--kernel``, ``--length-scale``...) generated
from the sampler registry, so a newly registered sampler needs no change here; ``--help``
groups them by the methods that take them. The output's extension picks the format: .mp4
(H.264 video), .gif (looping), .png (frame grid), .zip (a PNG per frame), or a folder named with
a trailing slash (``frames/``: a PNG per frame in it).

Every argument is checked before a model is loaded or a sample drawn; bad input ends with one
line on stderr, ``latent-bridge: error: ...``, and exit code 2. stdout stays empty unless
``--json`` asks for the outputs and diagnostics there; progress, notes and warnings (a frame
count that makes a slideshow) go to stderr. Defaults (64 frames, 2 paths, seed 0, 24 fps) are
the library's, which the app shares (``lb.pipeline.DEFAULTS``); so is the model taken without
--model (``lb.models.best_local_model``: a photo VAE already in the local Hugging Face cache,
else the embedded poses).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from tqdm import tqdm

import latent_bridge as lb
from latent_bridge.bridges import SMOOTH_CORRELATION
from latent_bridge.pipeline import DEFAULTS

FORMATS = (".mp4", ".gif", ".png", ".zip")
COMPARE_FORMATS = (".mp4", ".png")
# Outputs written as PNG sequences: a zip, or a folder (an --out ending in a slash).
SEQUENCES = (".zip", "/")
# Above this many bytes of decoded frames the CLI streams: frames are decoded while the output
# is written and never all held (the SSIM of adjacent frames, which needs them all, is skipped).
KEEP_FRAMES_BYTES = 1 << 30
# The slideshow warning looks this far for a frame count that gives smooth motion, and says
# nothing above it (the closed-form covariance it reads grows as frames squared).
MOST_FRAMES_SUGGESTED = 2048

DESCRIPTION = """Random paths in the latent space of a VAE: between the latent codes of two images
(interpolations), from one back to itself (loops), or through several in order (keyframes)."""
EPILOG = """'latent-bridge COMMAND --help' lists a command's options.

examples:
  latent-bridge examples examples/   # the embedded models' example images: digits_0.png ... poses_5.png
  latent-bridge interpolate examples/poses_0.png examples/poses_1.png --method ou --T 0.5 --out path.mp4
  latent-bridge walk examples/poses_2.png --paths 3 --out walk.gif
  latent-bridge compare examples/poses_0.png examples/poses_1.png --methods linear slerp ou gp --out compare.png
  latent-bridge keyframes examples/poses_0.png examples/poses_3.png examples/poses_4.png --loop --out loop.mp4
  latent-bridge interpolate examples/digits_0.png examples/digits_1.png --model digits --out digits.gif
  latent-bridge methods        # every method, its flags, defaults and ranges
  latent-bridge models         # every model name
  latent-bridge train my_images/ --out my-vae --minutes 2   # a VAE of a folder of your own images

Without --model a command takes the best model this machine has without a download: sd-vae
when the local Hugging Face cache holds it (on a CPU only with taesd too), else taesd, else
the embedded poses."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks, never splits a word at its hyphen, and shows the
    default of every option that has one."""

    def __init__(self, prog, **kwargs):
        super().__init__(prog, max_help_position=28, **kwargs)

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default is argparse.SUPPRESS
        if action.option_strings and not unset and "%(default)" not in text:
            shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
            text += f" (default: {shown.replace('%', '%%')})"
        return text


class _Parser(argparse.ArgumentParser):
    """Refuses bad syntax with the same one line as every other refusal."""

    def error(self, message):
        self.exit(2, f"latent-bridge: error: {message} (see '{self.prog} --help')\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------------------------
# Values checked while parsing


def _whole(name: str, low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            return lb.checks.check_whole(name, text, low, high, loose=True)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _seed(text: str) -> int:
    try:
        return lb.pipeline.check_seed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# ---------------------------------------------------------------------------------------------
# The parser


def _param_takers() -> dict[str, dict[str, "lb.registry.Param"]]:
    """{parameter name: {method: its Param}} over all methods: one flag per name (same name,
    same meaning), in the registry's order."""
    takers: dict = {}
    for method, info in lb.registry.available().items():
        for param in info["params"]:
            takers.setdefault(param.name, {})[method] = param
    return takers


# Parenthesised remarks for Python callers (naming ``lb.``...): the command resolves those itself.
_LIBRARY_REMARK = re.compile(r"\s*\([^()]*\blb\.[^()]*\)")


def _param_help(takers: dict[str, "lb.registry.Param"]) -> str:
    """A method flag's help: what it does, its range, when it applies, each method's default."""
    param = next(iter(takers.values()))
    parts = [_LIBRARY_REMARK.sub("", param.help), param.range_text()]
    if param.when:
        parts.append(f"for {_when_text(param)}")
    by_default: dict = {}
    for method, own in takers.items():
        by_default.setdefault(own.default, []).append(method)
    if len(by_default) == 1:
        parts.append(f"default: {next(iter(by_default))}")
    else:
        parts.append("default: " + ", ".join(f"{value} ({', '.join(methods)})" for value, methods in by_default.items()))
    return "; ".join(parts).replace("%", "%%")


def _add_method_flags(parser: argparse.ArgumentParser) -> None:
    """The method parameters, one group per set of methods that take them."""
    methods = list(lb.registry.available())
    groups: dict[tuple, argparse._ArgumentGroup] = {}
    for name, own in _param_takers().items():
        key = tuple(own)
        if key not in groups:
            title = "every method" if len(key) == len(methods) else ", ".join(key)
            groups[key] = parser.add_argument_group(f"parameters of {title}")
        param = next(iter(own.values()))
        kwargs = dict(dest=f"param_{name}", default=None, help=_param_help(own))
        if param.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = name.upper() if param.kind == "choice" else param.kind.upper()
        groups[key].add_argument(_flag(name), **kwargs)


def _add_run_flags(parser: argparse.ArgumentParser, default_out: str, command: str) -> None:
    sampling = parser.add_argument_group("sampling")
    if command == "keyframes":
        _add_keyframe_flags(sampling)
    else:
        sampling.add_argument("--frames", type=_whole("frames", 2), default=DEFAULTS.frames,
                              help="frames per path, endpoints included; below about 64 a rough bridge "
                                   "flickers (a warning says so)")
    if command != "compare":  # a comparison shows one path per method
        sampling.add_argument("--paths", type=_whole("paths", 1), default=DEFAULTS.paths,
                              help="number of random paths")
    sampling.add_argument("--seed", type=_seed, default=DEFAULTS.seed,
                          help=f"random seed, 0 to {lb.pipeline.MAX_SEED}")

    model = parser.add_argument_group("model")
    model.add_argument("--model", default=None,
                       help="model name, Hub repo id or folder (listed by 'latent-bridge models') (default: the "
                            "best model this machine has without a download: sd-vae when the local Hugging Face "
                            "cache holds it (on a CPU only with taesd too, whose decoder then gives fast "
                            "previews), else taesd when cached, else the embedded poses)")
    model.add_argument("--device", default=None,
                       help="cpu, cuda, cuda:N or auto (CUDA where there is a GPU) (default: auto for Hub "
                            "models, cpu for the embedded ones)")
    model.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default=None,
                       help="precision of a Hub model's weights: auto picks the fastest safe one (float16 or "
                            "bfloat16 on CUDA, bfloat16 on a CPU with native bfloat16, else float32); float16 "
                            "needs CUDA (default: auto)")
    model.add_argument("--image-size", type=_whole("--image-size", 8), default=None, metavar="PIXELS",
                       help="a Hub model's resolution: the longer side of the frames in pixels; the first "
                            "image's aspect ratio is kept, the others are scaled to cover it and "
                            "centre-cropped; the embedded models have their own (default: 256)")
    model.add_argument("--fast-preview", action="store_true",
                       help="decode with the tiny decoder of the same latent space (TAESD for sd-vae, "
                            "TAESDXL for sdxl-vae); on without --model when that picks sd-vae on a CPU")

    formats = (".mp4 (video) or .png (grid)" if command == "compare" else
               ".mp4 (video), .gif, .png (grid), .zip (a PNG per frame) or a folder ending in / (a PNG per "
               "frame in it; new or empty)")
    output = parser.add_argument_group("output")
    # Text, not a Path: a trailing slash (a folder for a PNG sequence) must survive.
    output.add_argument("--out", default=default_out, help=f"output: {formats}")
    output.add_argument("--fps", type=_whole("fps", 1, 120), default=DEFAULTS.fps,
                        help="frames per second of videos and GIFs")
    if command != "compare":
        output.add_argument("--layout", choices=lb.media.LAYOUTS, default="side-by-side",
                            help="paths in an .mp4: side by side, or one after another")
    output.add_argument("--plot", type=Path, default=None,
                        help="also write the norm-profile plot |z(t)|/sqrt(n) to this .png")
    output.add_argument("--metrics-plot", type=Path, default=None,
                        help="also write the other path metrics (step length, adjacent-frame SSIM, "
                             "distance to the data, log prior) to this .png")
    output.add_argument("--json", action="store_true",
                        help="print the files written and each method's diagnostics as one JSON object on stdout")
    output.add_argument("--quiet", action="store_true", help="no progress bar and no notes on stderr (warnings stay)")


# Frames per segment of a path through keyframes unless --frames-per-segment or --seconds says.
KEYFRAME_FRAMES = 24


def _add_keyframe_flags(sampling) -> None:
    length = sampling.add_mutually_exclusive_group()
    length.add_argument("--frames-per-segment", type=_whole("frames per segment", 2), default=None,
                        help=f"frames from one image to the next, both included (default: {KEYFRAME_FRAMES})")
    length.add_argument("--seconds", type=_positive("seconds"), default=None,
                        help="the video's length instead: frames per segment follow from it and --fps")
    sampling.add_argument("--loop", action="store_true", help="go on from the last image back to the first")
    sampling.add_argument("--hold", type=_whole("hold", 0), default=0,
                          help="frames to rest on each image (each is shown hold + 1 times)")
    sampling.add_argument("--easing", choices=lb.bridges.EASINGS, default="linear",
                          help="frame times within each segment: evenly spaced, or a smoothstep that slows "
                               "into and out of each image")


def _positive(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a positive number; got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="latent-bridge", description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter,
                     usage="latent-bridge [--version] COMMAND [options]")
    parser.add_argument("--version", action="version", version=f"%(prog)s {lb.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands")
    methods = ", ".join(lb.registry.available()) + " (their parameters: 'latent-bridge methods')"

    def command(name: str, summary: str, description: str, arguments: str = "") -> argparse.ArgumentParser:
        usage = f"latent-bridge {name} {arguments}[options]" if arguments else None
        return commands.add_parser(name, prog=f"latent-bridge {name}", help=summary, usage=usage,
                                   description=description, formatter_class=_HelpFormatter)

    p = command("interpolate", "random paths between two images",
                "Random paths from the latent code of IMAGE_A to that of IMAGE_B.", "IMAGE_A IMAGE_B ")
    p.add_argument("image_a", type=Path, metavar="IMAGE_A", help="first image (any format Pillow reads)")
    p.add_argument("image_b", type=Path, metavar="IMAGE_B", help="last image")
    p.add_argument("--method", default="ou", help=f"sampler: {methods}")
    _add_run_flags(p, "interpolation.mp4", "interpolate")
    _add_method_flags(p)

    p = command("walk", "random walks that leave an image and loop back to it",
                "Random walks that leave the latent code of IMAGE and return to it: a seamless loop.\n"
                "gp uses the periodic kernel unless --kernel says otherwise, and a periodic kernel\n"
                "without --T gets T equal to its period, so the loop closes; ou takes T = 1 unless\n"
                "--T says otherwise, as in the app.", "IMAGE ")
    p.add_argument("image", type=Path, metavar="IMAGE", help="the image the walks start from and return to")
    p.add_argument("--method", default="gp", help=f"sampler: {methods}")
    _add_run_flags(p, "walk.mp4", "walk")
    _add_method_flags(p)

    p = command("compare", "several methods between the same two images, same seed",
                "One path per method between the same two images with the same seed, side by side\n"
                "(.mp4) or a row each (.png).", "IMAGE_A IMAGE_B [--methods METHOD ...] ")
    p.add_argument("image_a", type=Path, metavar="IMAGE_A", help="first image")
    p.add_argument("image_b", type=Path, metavar="IMAGE_B", help="last image")
    p.add_argument("--methods", nargs="+", default=["linear", "slerp", "ou", "gp"], metavar="METHOD",
                   help=f"samplers: {methods}")
    _add_run_flags(p, "comparison.mp4", "compare")
    _add_method_flags(p)

    p = command("keyframes", "random paths through several images in order",
                "Random paths through the latent codes of IMAGE ... in order, image j at time j T. gp\n"
                "conditions on every image at once (smooth through them with a smooth kernel); the\n"
                "other methods join one bridge per pair. --loop goes on back to the first image. A\n"
                "periodic kernel without --period takes period = (number of images) x T, so no two\n"
                "images sit a period apart and a loop closes smoothly.",
                "IMAGE IMAGE [IMAGE ...] ")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="two or more images, in order")
    p.add_argument("--method", default="gp", help=f"sampler: {methods}")
    _add_run_flags(p, "keyframes.mp4", "keyframes")
    _add_method_flags(p)

    command("methods", "list the methods and their parameters", "Every method with its flags, defaults and ranges.")
    command("models", "list the model names", "Every model name: the embedded models, then the Hub aliases.")
    p = command("examples", "copy the embedded models' example images into a folder",
                "Copy the example images of the embedded models (held-out images: digits_0.png to\n"
                "digits_5.png, fashion_0.png ..., poses_0.png ...) into DIR, made if it is missing,\n"
                "to try the other commands on.", "DIR ")
    p.add_argument("folder", type=Path, metavar="DIR",
                   help="where to copy them: a new folder, or one without other files of those names")
    p.add_argument("--quiet", action="store_true", help="no note on stderr")
    _add_train_commands(command)
    return parser


def _add_train_commands(command) -> None:
    p = command("train", "train a VAE on a folder of your own images",
                "Train a small VAE on every PNG, JPEG and WebP image under IMAGES_DIR (nested folders\n"
                "too) for a time budget, measure it on held-out images and write a checkpoint folder\n"
                "that --model, lb.models.load and the app take (and, pushed, a Hub repo id).",
                "IMAGES_DIR --out DIR ")
    p.add_argument("images_dir", type=Path, metavar="IMAGES_DIR", help="the folder of training images")
    p.add_argument("--out", type=Path, required=True, help="the checkpoint folder to write (new, or a checkpoint)")
    p.add_argument("--size", type=int, choices=lb.data.folder.SIDES, default=None, metavar="PIXELS",
                   help="side of the square training images: 16, 32, 64 or 128 (default: 32 for images "
                        "whose typical shorter side is at most 32, else 64)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="1 (grayscale) or 3 (colour) (default: grayscale when every image is gray)")
    p.add_argument("--latent-dim", type=_whole("--latent-dim", 1, 1024), default=32, help="size of the latent vector")
    p.add_argument("--minutes", type=_positive("--minutes"), default=2.0, help="wall-time budget for training")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction of the images held out to measure the error")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights, the split and the batches")
    p.add_argument("--name", default=None, help="the model's name (default: the folder's)")
    p.add_argument("--threads", type=_whole("--threads", 1, 256), default=2, help="CPU threads for torch")
    p.add_argument("--push-to-hub", default=None, metavar="ORG/NAME",
                   help="then upload the checkpoint to this Hub model repo (needs a token: `hf auth login`)")
    p.add_argument("--private", action="store_true", help="make the pushed repo private")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no notes on stderr")

    p = command("push-embedded", "publish the three embedded models on the Hub",
                "Upload the embedded models as ORG/latent-bridge-digits, ORG/latent-bridge-fashion and\n"
                "ORG/latent-bridge-poses (needs a token with write access: `hf auth login`).", "ORG ")
    p.add_argument("org", metavar="ORG", help="the user or organisation to publish under")
    p.add_argument("--private", action="store_true", help="make the repos private")


def _train(args: argparse.Namespace) -> int:
    import torch

    from latent_bridge.publish import push_checkpoint
    from latent_bridge.train import train_folder

    if args.push_to_hub is not None:
        lb.models.resolve_repo_id(args.push_to_hub)  # before the minutes of training
    torch.set_num_threads(args.threads)
    metrics = train_folder(args.images_dir, args.out, side=args.size, channels=args.channels,
                           latent_dim=args.latent_dim, minutes=args.minutes, holdout=args.holdout, seed=args.seed,
                           name=args.name, repo_id=args.push_to_hub, progress=not args.quiet,
                           note=lambda text: _note(args, text))
    _note(args, f"wrote {args.out}: held-out MSE {metrics['heldout_mse']}, "
                f"{metrics['mse_ratio_to_mean_image']:.1%} of the mean image's, {metrics['steps']} steps")
    if args.push_to_hub is not None:
        _note(args, f"pushed to {push_checkpoint(args.out, args.push_to_hub, private=args.private)}")
    print(json.dumps(metrics))
    return 0


def _push_embedded(args: argparse.Namespace) -> int:
    from latent_bridge.publish import push_embedded

    for name, repo_id in push_embedded(args.org, private=args.private).items():
        print(f"{name}: lb.models.load({repo_id!r})")
    return 0


# ---------------------------------------------------------------------------------------------
# Checks before any work


def _sampler(method: str, args: argparse.Namespace, walk: bool = False):
    """The sampler for ``method`` with the flags the user set (the method's own defaults
    otherwise; for a walk, completed to loop by ``lb.pipeline.walk_params``; through
    keyframes, by ``lb.pipeline.keyframe_params``)."""
    info = lb.registry.available()
    if method not in info:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(info)}")
    own = {p.name for p in info[method]["params"]}
    chosen = {name: getattr(args, f"param_{name}") for name in own if getattr(args, f"param_{name}") is not None}
    if walk:
        chosen = lb.pipeline.walk_params(method, chosen)
    if args.command == "keyframes":
        chosen = lb.pipeline.keyframe_params(method, chosen, len(args.images))
    return lb.registry.get(method, **chosen)


def _check_flags_used(methods: list[str], args: argparse.Namespace) -> None:
    """A method flag none of the chosen methods takes is a mistake, not something to ignore."""
    taken = {p.name for m in methods for p in lb.registry.available()[m]["params"]}
    for name in _param_takers():
        if getattr(args, f"param_{name}") is not None and name not in taken:
            raise ValueError(f"{_flag(name)} is not a parameter of {', '.join(methods)} "
                             "(see 'latent-bridge methods')")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _check_writable(flag: str, path: Path) -> None:
    """Refuse, before any work, an output that could not be written where it is asked for."""
    if path.exists() and not path.is_file():
        raise ValueError(f"{flag} exists and is not a regular file: {path}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"the folder of {flag} does not exist: {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} cannot be overwritten (permission denied): {path}")
    try:  # creating a file is the one sure test (permissions, read-only or virtual file systems)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".latent-bridge-", suffix=".probe")
    except OSError as error:
        raise ValueError(f"{flag} cannot be written in {folder}: {error.strerror.lower()}") from None
    os.close(handle)
    os.unlink(probe)


def _check_outputs(args: argparse.Namespace, inputs: list[Path]) -> None:
    """Each output has a supported suffix, can be written, and is neither an input nor another output."""
    formats = COMPARE_FORMATS if args.command == "compare" else FORMATS
    outputs = {"--out": (args.out, formats), "--plot": (args.plot, (".png",)),
               "--metrics-plot": (args.metrics_plot, (".png",))}
    checked: dict[str, Path] = {}
    for flag, (path, suffixes) in outputs.items():
        if path is None:
            continue
        if flag == "--out" and args.out_folder:
            if args.command == "compare":
                raise ValueError("compare writes .mp4 or .png; got a folder")
            _check_sequence_folder(path)
            checked[flag] = path
            continue
        if path.is_dir():
            fix = "" if args.command == "compare" else " (or end it with / for a PNG per frame in that folder)"
            raise ValueError(f"{flag} is a folder: {path}; give a file name in it{fix}")
        if path.suffix.lower() not in suffixes:
            if args.command == "compare" and path.suffix.lower() == ".gif":
                raise ValueError("compare writes .mp4 or .png; got .gif")
            raise ValueError(f"{flag} must end in {', '.join(suffixes)}; got {path.name!r}")
        _check_writable(flag, path)
        for image in inputs:
            if _same_file(path, image):
                raise ValueError(f"{flag} is the input image {image}: it would be overwritten; "
                                 "give the output another name")
        for other_flag, other in checked.items():
            if _same_file(path, other):
                raise ValueError(f"{other_flag} and {flag} name the same file ({path}); give each its own")
        checked[flag] = path


def _keyframe_frames(args: argparse.Namespace) -> None:
    """Frames per segment (from --frames-per-segment, or from --seconds and --fps) and the
    path's frame count in all, as ``args.frames_per_segment`` and ``args.frames``."""
    count = len(args.images)
    if count < 2:
        raise ValueError(f"keyframes needs two or more images; got {count}")
    if args.seconds is not None:
        args.frames_per_segment = lb.pipeline.frames_per_segment_for(args.seconds, args.fps, count, args.loop,
                                                                     args.hold)
    elif args.frames_per_segment is None:
        args.frames_per_segment = KEYFRAME_FRAMES
    args.frames = lb.pipeline.keyframe_count(count, args.frames_per_segment, args.loop, args.hold)
    if args.seconds is not None:
        _note(args, f"{args.frames_per_segment} frames per segment: {args.frames} frames in all, "
                    f"{args.frames / args.fps:.2f} s at {args.fps} fps")


def _check_sequence_folder(path: Path) -> None:
    """A folder for a PNG sequence: new (its parent writable) or empty (and writable)."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path}/ names a folder, but {path} exists and is not one")
    if path.is_dir():
        if any(path.iterdir()):
            raise ValueError(f"--out {path}/ holds files already: give a new or empty folder (frames of "
                             "another run would mix with these)")
        _check_writable("--out", path / "00000.png")
    else:
        _check_writable("--out", path)


def _check_inputs(images: list[Path]) -> None:
    for image in images:
        if not image.is_file():
            # repr: a name with a terminal's escape bytes must not reach the terminal raw
            raise ValueError(f"no such image file: {str(image)!r}" if not image.exists() else
                             f"not a file: {str(image)!r}")


def _slideshow_warnings(samplers: dict, frames: int, flag: str = "--frames") -> list[str]:
    """Why the chosen frame count will look like a slideshow, per method (none if smooth).

    The measure is the app's: the correlation of adjacent frames' random parts, from the
    bridge's closed-form covariance (``lb.bridges.adjacent_correlation``); through keyframes,
    that of one segment's bridge with ``frames`` frames (``flag`` names the setting)."""
    if frames < 4:
        return [f"{frames} frames make a slideshow, not motion: use {flag} {DEFAULTS.frames} or more"]
    if frames > MOST_FRAMES_SUGGESTED:
        return []
    warnings = []
    for name, sampler in samplers.items():
        if not sampler.stochastic or not hasattr(sampler, "covariance"):
            continue
        correlation = lb.bridges.adjacent_correlation(sampler, frames)
        if correlation >= SMOOTH_CORRELATION:
            continue
        enough = lb.bridges.frames_for_smooth_motion(sampler, frames, most=MOST_FRAMES_SUGGESTED)
        fix = (f"{flag} {enough} or more gives {SMOOTH_CORRELATION:g}" if enough is not None
               else "a smoother kernel would help")
        warnings.append(f"{name}: adjacent frames correlate {correlation:.3f} at {frames} frames, below "
                        f"{SMOOTH_CORRELATION:g}: the video will look like a slideshow ({fix})")
    return warnings


def _model_options(args: argparse.Namespace) -> dict:
    """The options for ``lb.models.load``; Hub-only ones given for an embedded model are refused."""
    options = {"device": args.device, "dtype": args.dtype, "image_size": args.image_size}
    options = {name: value for name, value in options.items() if value is not None}
    if args.model in lb.models.EMBEDDED:
        for name in ("dtype", "image_size"):
            if name in options:
                raise ValueError(f"{_flag(name)} applies to Hub models; the embedded model {args.model!r} "
                                 "has its own (it takes only --device)")
    elif args.fast_preview:
        alias = lb.models.hub.HUB_ALIASES.get(args.model)
        if alias is not None and alias[0] not in lb.models.hub.FAST_DECODER_FOR:
            raise ValueError(f"--fast-preview: {args.model!r} has no paired tiny decoder (sd-vae and sdxl-vae "
                             "have one); leave the flag out")
        options["fast_decoder"] = True
    return options


def _check_output_size(args: argparse.Namespace, image_side: int) -> None:
    """Refuse an output too large to lay out before the paths are sampled and decoded."""
    if args.command == "compare":  # one path per method, side by side or a row each
        count, kind = len(args.methods), "video" if args.out.suffix.lower() == ".mp4" else "grid"
    elif _output_kind(args) in SEQUENCES:  # a PNG per frame and path, at the decoded size
        return
    else:
        count, kind = args.paths, {".mp4": "video", ".gif": "gif"}.get(args.out.suffix.lower(), "grid")
    lb.media.check_output_size(kind, count, image_side, getattr(args, "layout", "side-by-side"))


def _keep_frames(args: argparse.Namespace, image_side: int) -> bool:
    """Whether the run keeps every decoded frame in memory (else it streams)."""
    count = len(args.methods) if args.command == "compare" else args.paths
    return args.frames * count * image_side * image_side * 3 <= KEEP_FRAMES_BYTES


def _output_kind(args: argparse.Namespace) -> str:
    """The output's format: its suffix in lower case, or "/" for a folder."""
    return "/" if args.out_folder else args.out.suffix.lower()


# ---------------------------------------------------------------------------------------------
# Running


def _write(result, path: Path, kind: str, fps: int, layout: str, progress=None) -> None:
    suffix = kind
    if suffix in SEQUENCES:
        lb.media.write_png_sequence(result, path)
    elif suffix == ".mp4" and result.frames is None and layout == "side-by-side":
        # Streamed: decoded chunk by chunk as the video is written, with progress.
        lb.media.write_video(result.iter_frames(progress=progress), path, fps=fps)
    elif suffix == ".mp4":
        lb.media.write_video(result, path, fps=fps, layout=layout)
    elif suffix == ".gif":
        lb.media.write_gif(result, path, fps=fps)
    elif result.key_frames is not None:
        lb.media.keyframe_grid(result).save(path)
    else:
        lb.media.frame_grid(result).save(path)


def _write_comparison(results: dict, path: Path, fps: int) -> None:
    if path.suffix.lower() == ".mp4":
        lb.media.comparison_video(results, path, fps=fps)
    else:
        lb.media.comparison_grid(results).save(path)


class _Progress:
    """The pipeline's ``progress(done, total, message)`` on stderr: on a terminal a bar redrawn
    in place; elsewhere (a pipe, a log file) a plain line at each tenth of each stage, each
    printed once. ``close()`` ends it."""

    def __init__(self, enabled: bool):
        self.enabled, self.terminal = enabled, sys.stderr.isatty()
        self.bar, self.shown = None, None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled:
            return
        message = message or "decoding"
        unit = "step" if ":" in message else "frame"  # a sampler's count ("langevin: ..."), then frames
        if self.terminal:
            if self.bar is None:  # tqdm draws this first state itself
                self.bar = tqdm(total=total, initial=done, unit=unit, desc=message, file=sys.stderr)
                return
            self.bar.total, self.bar.n, self.bar.unit = total, done, unit
            self.bar.set_description(message, refresh=False)  # it draws too unless told not to
            self.bar.refresh()
            return
        tenth = (message, 10 * done // max(total, 1))
        if tenth != self.shown:
            self.shown = tenth
            print(f"{message}: {done}/{total} {unit}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _list(command: str) -> None:
    if command == "methods":
        for name, info in lb.registry.available().items():
            print(f"{name}: {info['description']}")
            for p in info["params"]:
                only = f" (for {_when_text(p)})" if p.when else ""
                print(f"    {_flag(p.name)} = {p.default!r}  {p.range_text()}  {_LIBRARY_REMARK.sub('', p.help)}{only}")
    else:
        for name, text, kind in lb.models.available():
            print(f"{name:10s} [{kind}] {text}")
        print("Any Hub repo id holding a diffusers AutoencoderKL or AutoencoderTiny, or a latent-bridge VAE, "
              "loads too, and so does a folder written by `latent-bridge train`.")


def _copy_examples(args: argparse.Namespace) -> int:
    """The embedded models' example images, copied into ``args.folder`` under their own names
    (unique across the models). Anything else of one of those names already there is refused
    before anything is copied (a copy of the same image is fine)."""
    by_model = {name: sorted((lb.models.CHECKPOINTS_DIR / name / "examples").glob("*.png"))
                for name in lb.models.EMBEDDED}
    images = [image for group in by_model.values() for image in group]
    if args.folder.exists() and not args.folder.is_dir():
        raise ValueError(f"{args.folder} exists and is not a folder")
    targets = {image: args.folder / image.name for image in images}
    taken = [target.name for image, target in targets.items() if target.exists()
             and (not target.is_file() or target.read_bytes() != image.read_bytes())]
    if taken:
        raise ValueError(f"{args.folder} holds other files named {', '.join(taken[:3])}"
                         f"{' ...' if len(taken) > 3 else ''}: give a new or another folder")
    try:
        args.folder.mkdir(parents=True, exist_ok=True)
        for image, target in targets.items():
            shutil.copyfile(image, target)
    except OSError as error:
        raise ValueError(f"cannot write the examples into {args.folder}: {error.strerror or error}") from None
    _note(args, f"copied {len(images)} images into {args.folder}: "
                + ", ".join(f"{group[0].name} to {group[-1].name}" for group in by_model.values() if group))
    return 0


def _default_model(args: argparse.Namespace) -> None:
    """Without --model: the best model this machine has without a download
    (``lb.models.best_local_model``), the app's choice too; sd-vae on a CPU decodes through its
    tiny decoder, as the app's fast preview does."""
    cuda = lb.models.pick_device(args.device or "auto").type == "cuda"
    args.model = lb.models.best_local_model(cuda=cuda)
    fast = args.model == "sd-vae" and not cuda
    args.fast_preview = args.fast_preview or fast
    _note(args, f"model: {args.model} (the best this machine has without a download"
                f"{', with fast preview' if fast else ''}; --model picks another)")


def run(args: argparse.Namespace) -> int:
    if args.command in ("methods", "models"):
        _list(args.command)
        return 0
    if args.command == "examples":
        return _copy_examples(args)
    if args.command == "train":
        return _train(args)
    if args.command == "push-embedded":
        return _push_embedded(args)

    # Everything the command line says is checked here, before a model loads or a sample is drawn.
    compare, keyframes = args.command == "compare", args.command == "keyframes"
    args.out_folder = args.out.endswith(("/", os.sep))
    args.out = Path(args.out)
    if keyframes:
        inputs = args.images
        _keyframe_frames(args)
    elif args.command == "walk":
        inputs = [args.image]
    else:
        inputs = [args.image_a, args.image_b]
    methods = args.methods if compare else [args.method]
    samplers = {m: _sampler(m, args, walk=args.command == "walk") for m in methods}
    _check_flags_used(methods, args)
    _check_inputs(inputs)
    _check_outputs(args, inputs)
    if args.model is None:
        _default_model(args)
    options = _model_options(args)
    if _output_kind(args) in (".mp4", ".gif"):
        per_segment = ((args.frames_per_segment, "--frames-per-segment") if keyframes else (args.frames, "--frames"))
        for warning in _slideshow_warnings(samplers, *per_segment):
            print(f"latent-bridge: warning: {warning}", file=sys.stderr)

    vae = lb.models.load(args.model, **options)
    _check_output_size(args, vae.image_size)
    keep = _keep_frames(args, vae.image_size)
    if not keep:
        _note(args, "streaming: the frames are decoded as the output is written (more than "
                    f"{KEEP_FRAMES_BYTES >> 30} GiB to keep); the SSIM of adjacent frames is skipped")
    report = _Progress(not args.quiet)
    run_args = dict(n_paths=1 if compare else args.paths, seed=args.seed, progress=report,
                    fast_preview=args.fast_preview, keep_frames=keep)
    try:
        if compare:
            results = lb.compare(vae, args.image_a, args.image_b, samplers, frames=args.frames, **run_args)
            _write_comparison(results, args.out, args.fps)
        else:
            sampler = samplers[args.method]
            if args.command == "interpolate":
                result = lb.interpolate(vae, args.image_a, args.image_b, sampler, frames=args.frames, **run_args)
            elif args.command == "walk":
                result = lb.random_walk(vae, args.image, sampler, frames=args.frames, **run_args)
            else:
                result = lb.keyframes(vae, args.images, sampler, frames_per_segment=args.frames_per_segment,
                                      loop=args.loop, hold=args.hold, easing=args.easing, **run_args)
            _write(result, args.out, _output_kind(args), args.fps, args.layout, report)
            results = {result.method: result}
    finally:
        report.close()
    for name, result in results.items():  # what the sampler found too weak to trust, in words
        for warning in result.diagnostics.get("warnings", []):
            print(f"latent-bridge: warning: {name}: {warning}", file=sys.stderr)
    written = {"out": str(args.out)}
    _note(args, f"wrote {args.out}")
    if args.plot is not None:
        lb.plots.save_figure(lb.plots.norm_profile_plot(results), args.plot)
        written["plot"] = str(args.plot)
        _note(args, f"wrote {args.plot}")
    if args.metrics_plot is not None:
        lb.plots.save_figure(lb.plots.metrics_plot(results), args.metrics_plot)
        written["metrics_plot"] = str(args.metrics_plot)
        _note(args, f"wrote {args.metrics_plot}")
    if args.json:
        diagnostics = {name: lb.metrics.rounded(result.diagnostics) for name, result in results.items()}
        print(json.dumps({"written": written, "diagnostics": diagnostics}, default=str))
    return 0


def _when_text(param) -> str:
    key, values = param.when
    return f"--{key} {' or '.join(map(str, values))}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"latent-bridge: error: {error}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        # torch reports a failed allocation as a RuntimeError; any other one is a bug to show.
        if isinstance(error, RuntimeError) and "alloc" not in str(error).lower():
            raise
        detail = f" ({str(error).splitlines()[0][:120]})" if str(error) else ""
        print(f"latent-bridge: error: out of memory{detail}: lower --frames or --paths, or pick a "
              "smaller model", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (`latent-bridge methods | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
