"""The ``latent-bridge`` command (also ``python -m latent_bridge``).

    latent-bridge interpolate a.png b.png --model digits --method ou --T 0.5 --out path.mp4
    latent-bridge walk pose.png --model poses --paths 3 --out walk.gif
    latent-bridge compare a.png b.png --methods linear slerp ou gp --out compare.png
    latent-bridge methods        # every method and its parameters
    latent-bridge models         # every model name

Each method's parameters become flags (``--T``, ``--kernel``, ``--length-scale``...) generated
from the sampler registry, so a newly registered sampler needs no change here. The output's
extension picks the format: .mp4 (H.264 video), .gif (looping), .png (frame grid).
Bad input ends with a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

import latent_bridge as lb

FORMATS = (".mp4", ".gif", ".png")
# Above this many bytes of decoded frames the CLI streams: frames are decoded while the output
# is written and never all held (the SSIM of adjacent frames, which needs them all, is skipped).
KEEP_FRAMES_BYTES = 1 << 30


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _method_params() -> dict[str, "lb.bridges.Param"]:
    """One flag per distinct parameter name over all methods (same name, same meaning)."""
    params: dict = {}
    for info in lb.bridges.available().values():
        for param in info["params"]:
            params.setdefault(param.name, param)
    return params


def _add_method_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method parameters (each method uses its own; see `methods`)")
    for name, param in _method_params().items():
        kwargs = dict(dest=f"param_{name}", default=None, help=f"{param.help}; {param.range_text()}")
        if param.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = "|".join(map(str, param.choices)) if param.kind == "choice" else param.kind.upper()
        group.add_argument(_flag(name), **kwargs)


def _add_common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--model", default="digits", help="model name, Hub repo id or folder (see `models`)")
    parser.add_argument("--frames", type=int, default=48, help="frames per path, endpoints included")
    parser.add_argument("--paths", type=int, default=1, help="number of random paths")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--fps", type=int, default=12, help="frames per second of videos and GIFs")
    parser.add_argument("--out", type=Path, default=Path(default_out), help="output file: .mp4, .gif or .png")
    parser.add_argument("--layout", choices=lb.media.LAYOUTS, default="side-by-side",
                        help="paths in an .mp4: side by side, or one after another")
    parser.add_argument("--fast-preview", action="store_true",
                        help="decode with the model's fast decoder (TAESD) where it has one")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also write the norm-profile plot |z(t)|/sqrt(n) to this .png")
    parser.add_argument("--metrics-plot", type=Path, default=None,
                        help="also write the other path metrics (step length, adjacent-frame SSIM, "
                             "distance to the data, log prior) to this .png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latent-bridge", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("interpolate", help="random paths between two images")
    p.add_argument("image_a", type=Path)
    p.add_argument("image_b", type=Path)
    p.add_argument("--method", default="ou", help="sampler name (see `methods`)")
    _add_common(p, "interpolation.mp4")
    _add_method_flags(p)

    p = commands.add_parser("walk", help="random walks that leave an image and loop back to it")
    p.add_argument("image", type=Path)
    p.add_argument("--method", default="gp", help="sampler name; gp defaults to the periodic kernel")
    _add_common(p, "walk.mp4")
    _add_method_flags(p)

    p = commands.add_parser("compare", help="several methods between the same two images, same seed")
    p.add_argument("image_a", type=Path)
    p.add_argument("image_b", type=Path)
    p.add_argument("--methods", nargs="+", default=["linear", "slerp", "ou", "gp"], help="sampler names")
    _add_common(p, "comparison.mp4")
    _add_method_flags(p)

    commands.add_parser("methods", help="list the methods and their parameters")
    commands.add_parser("models", help="list the model names")
    return parser


def _sampler(method: str, args: argparse.Namespace, walk: bool = False):
    """The sampler for ``method`` with the flags the user set (the method's own defaults otherwise)."""
    info = lb.bridges.available()
    if method not in info:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(info)}")
    own = {p.name for p in info[method]["params"]}
    chosen = {name: getattr(args, f"param_{name}") for name in own if getattr(args, f"param_{name}") is not None}
    if walk and method == "gp":
        # A walk loops: the periodic kernel with T equal to its period returns exactly.
        chosen.setdefault("kernel", "periodic")
        if chosen["kernel"] in ("periodic", "locally-periodic") and "T" not in chosen:
            period = chosen.get("period") or next(p.default for p in info["gp"]["params"] if p.name == "period")
            chosen["T"] = period
    return lb.bridges.get(method, **chosen)


def _check_flags_used(methods: list[str], args: argparse.Namespace) -> None:
    """A method flag none of the chosen methods takes is a mistake, not something to ignore."""
    info = lb.bridges.available()
    taken = {p.name for m in methods if m in info for p in info[m]["params"]}
    for name in _method_params():
        if getattr(args, f"param_{name}") is not None and name not in taken:
            raise ValueError(f"{_flag(name)} is not a parameter of {', '.join(methods)} "
                             "(see `latent-bridge methods`)")


def _check_out(path: Path, command: str) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}; got {path.name!r}")
    if command == "compare" and path.suffix.lower() == ".gif":
        raise ValueError("compare writes .mp4 or .png; got .gif")
    if path.parent and not path.parent.exists():
        raise ValueError(f"the folder of --out does not exist: {path.parent}")


def _check_plot(path: Path | None, flag: str = "--plot") -> None:
    if path is None:
        return
    if path.suffix.lower() != ".png":
        raise ValueError(f"{flag} must end in .png; got {path.name!r}")
    if path.parent and not path.parent.exists():
        raise ValueError(f"the folder of {flag} does not exist: {path.parent}")


def _check_output_size(args: argparse.Namespace, image_side: int) -> None:
    """Refuse an output too large to lay out before the paths are sampled and decoded."""
    if args.command == "compare":  # one path per method, side by side or a row each
        count, kind = len(args.methods), "video" if args.out.suffix.lower() == ".mp4" else "grid"
    else:
        count, kind = args.paths, {".mp4": "video", ".gif": "gif"}.get(args.out.suffix.lower(), "grid")
    lb.media.check_output_size(kind, count, image_side, getattr(args, "layout", "side-by-side"))


def _keep_frames(args: argparse.Namespace, image_side: int) -> bool:
    """Whether the run keeps every decoded frame in memory (else it streams)."""
    methods = len(args.methods) if args.command == "compare" else 1
    return args.frames * args.paths * methods * image_side * image_side * 3 <= KEEP_FRAMES_BYTES


def _write(result, path: Path, fps: int, layout: str, progress=None) -> None:
    suffix = path.suffix.lower()
    if suffix == ".mp4" and result.frames is None and layout == "side-by-side":
        # Streamed: decoded chunk by chunk as the video is written, with progress.
        lb.media.write_video(result.iter_frames(progress=progress), path, fps=fps)
    elif suffix == ".mp4":
        lb.media.write_video(result, path, fps=fps, layout=layout)
    elif suffix == ".gif":
        lb.media.write_gif(result, path, fps=fps)
    else:
        lb.media.frame_grid(result).save(path)


def _write_comparison(results: dict, path: Path, fps: int) -> None:
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        lb.media.comparison_video(results, path, fps=fps)
    else:
        lb.media.comparison_grid(results).save(path)


def _progress(enabled: bool):
    bar = tqdm(total=0, unit="frame", disable=not enabled, file=sys.stderr)

    def report(done, total, message=""):
        bar.total = total
        bar.n = done
        bar.set_description(message or "decoding")
        bar.refresh()

    return report, bar


def _summary(diagnostics: dict) -> str:
    """The scalar diagnostics as one JSON line, floats to 4 significant digits."""
    scalars = {k: v for k, v in diagnostics.items() if not isinstance(v, (list, dict))}
    return json.dumps(lb.metrics.rounded(scalars), default=str)


def run(args: argparse.Namespace) -> int:
    if args.command == "methods":
        for name, info in lb.bridges.available().items():
            print(f"{name}: {info['description']}")
            for p in info["params"]:
                only = f" (for {args_when(p)})" if p.when else ""
                print(f"    {_flag(p.name)} = {p.default!r}  {p.range_text()}  {p.help}{only}")
        return 0
    if args.command == "models":
        for name, text, kind in lb.models.available():
            print(f"{name:10s} [{kind}] {text}")
        print("Any Hub repo id holding a diffusers AutoencoderKL or AutoencoderTiny loads too.")
        return 0

    _check_out(args.out, args.command)
    _check_plot(args.plot)
    _check_plot(args.metrics_plot, "--metrics-plot")
    _check_flags_used(args.methods if args.command == "compare" else [args.method], args)
    vae = lb.models.load(args.model)
    _check_output_size(args, vae.image_size)
    report, bar = _progress(not args.quiet)
    keep = _keep_frames(args, vae.image_size)
    if not keep and not args.quiet:
        print("streaming: the frames are decoded as the output is written (more than "
              f"{KEEP_FRAMES_BYTES >> 30} GiB to keep); the SSIM of adjacent frames is skipped", file=sys.stderr)
    run_args = dict(frames=args.frames, n_paths=args.paths, seed=args.seed, progress=report,
                    fast_preview=args.fast_preview, keep_frames=keep)
    try:
        if args.command == "interpolate":
            result = lb.interpolate(vae, args.image_a, args.image_b, _sampler(args.method, args), **run_args)
            _write(result, args.out, args.fps, args.layout, report)
            results = {result.method: result}
        elif args.command == "walk":
            result = lb.random_walk(vae, args.image, _sampler(args.method, args, walk=True), **run_args)
            _write(result, args.out, args.fps, args.layout, report)
            results = {result.method: result}
        else:
            samplers = {m: _sampler(m, args) for m in args.methods}
            results = lb.compare(vae, args.image_a, args.image_b, samplers, **run_args)
            _write_comparison(results, args.out, args.fps)
    finally:
        bar.close()
    for name, result in results.items():
        print(f"{name}: {_summary(result.diagnostics)}")
    print(f"wrote {args.out}")
    if args.plot is not None:
        lb.media.save_figure(lb.media.norm_profile_plot(results), args.plot)
        print(f"wrote {args.plot}")
    if args.metrics_plot is not None:
        lb.media.save_figure(lb.media.metrics_plot(results), args.metrics_plot)
        print(f"wrote {args.metrics_plot}")
    return 0


def args_when(param) -> str:
    key, values = param.when
    return f"{key} = {' or '.join(map(str, values))}"


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


if __name__ == "__main__":
    raise SystemExit(main())
