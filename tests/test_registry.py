"""The sampler registry and parameter descriptions that the app and the CLI are built from."""

import ast
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import latent_bridge as lb
from latent_bridge.bridges import check_sample_args
from latent_bridge.registry import Param


def test_every_registered_sampler_describes_its_parameters():
    methods = lb.registry.available()
    assert {"linear", "slerp", "ou", "ou-sde", "gp", "langevin"} <= set(methods)
    for name, info in methods.items():
        assert info["description"], name
        for p in info["params"]:
            assert p.help and p.kind in {"float", "int", "bool", "choice"}, (name, p)
            # Every default is itself a valid value, so a UI built from defaults works.
            assert p.check(p.default) == p.default, (name, p.name)


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown method 'nope'; choose one of .*linear"):
        lb.registry.get("nope")


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(ValueError, match=r"has no parameter 'bogus'"):
        lb.registry.get("ou", bogus=1.0)


@pytest.mark.parametrize(
    "param, value, message",
    [
        (Param("alpha", "float", 1.0, "h", low=0, high=2, low_inclusive=False), 2.5, r"alpha must be in \(0, 2\]; got 2.5"),
        (Param("alpha", "float", 1.0, "h", low=0, high=2, low_inclusive=False), 0, r"alpha must be in \(0, 2\]; got 0"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), math.nan, "T must be a finite number"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), math.inf, "T must be a finite number"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), "abc", "T must be a number"),
        (Param("particles", "int", 8, "h", low=1), 2.5, "particles must be a whole number"),
        (Param("particles", "int", 8, "h", low=1), 0, r"particles must be in \[1, inf\); got 0"),
        (Param("kernel", "choice", "a", "h", choices=("a", "b")), "c", "kernel must be one of a, b; got 'c'"),
    ],
)
def test_parameter_checks_name_the_parameter_and_its_range(param, value, message):
    with pytest.raises(ValueError, match=message):
        param.check(value)


def test_integer_parameters_accept_whole_floats_from_sliders():
    assert Param("frames", "int", 8, "h", low=2).check(12.0) == 12


@pytest.mark.parametrize(
    "z0, z1, frames, n_paths, message",
    [
        (torch.zeros(3), torch.zeros(4), 5, 1, "same shape"),
        (torch.full((3,), math.nan), torch.zeros(3), 5, 1, "finite"),
        (torch.zeros(3), torch.zeros(3), 1, 1, "frames must be a whole number >= 2"),
        (torch.zeros(3), torch.zeros(3), 0, 1, "frames must be a whole number >= 2"),
        (torch.zeros(3), torch.zeros(3), 5, 0, "n_paths must be a whole number >= 1"),
        (torch.zeros(0), torch.zeros(0), 5, 1, "must not be empty"),
    ],
)
def test_sample_arguments_are_checked_up_front(z0, z1, frames, n_paths, message):
    with pytest.raises(ValueError, match=message):
        check_sample_args(z0, z1, frames, n_paths)


# --- the sampler contract: run() returns what it found; sample() is run().latents ----------


SMALL = {"langevin": {"prior": lb.priors.GaussianMixture([0.5, 0.5], torch.stack([-torch.ones(6), torch.ones(6)]),
                                                        torch.full((2, 6), 0.7)), "steps": 12,
                      "population": 4, "islands": 2, "moves": 2, "temperatures": 4},   # auto: path-smc, small
         "ou-sde": {"steps": 40}}


@pytest.mark.parametrize("name", sorted(lb.registry.available()))
def test_run_returns_paths_with_json_diagnostics_and_sample_is_its_latents(name):
    sampler = lb.registry.get(name, **SMALL.get(name, {}))
    z0, z1 = torch.randn(6, generator=torch.Generator().manual_seed(1)), torch.randn(6)
    run = sampler.run(z0, z1, frames=7, n_paths=3, generator=torch.Generator().manual_seed(5))
    assert isinstance(run, lb.bridges.Paths)
    assert run.latents.shape == (3, 7, 6) and run.latents.dtype == torch.float32
    assert torch.equal(run.times, sampler.times(7))
    json.dumps(run.diagnostics)  # plain numbers, strings and lists
    assert all(isinstance(w, str) for w in run.diagnostics.get("warnings", []))
    again = sampler.sample(z0, z1, frames=7, n_paths=3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again, run.latents)
    assert not hasattr(sampler, "last_diagnostics")


def test_langevin_reports_progress_through_its_steps_and_pcn_sweeps():
    sampler = lb.registry.get("langevin", algorithm="smc", particles=8, max_particles=8, steps=200, pcn_moves=2)
    calls = []
    run = sampler.run(torch.zeros(3), torch.ones(3), frames=9, callback=lambda *a: calls.append(a))
    steps = run.diagnostics["steps"]
    done = [c[0] for c in calls]
    assert all(c[1] == 3 * steps for c in calls)  # one integration and two sweeps
    assert done == sorted(done) and done[-1] == 3 * steps and len(calls) >= 100
    assert {c[2] for c in calls} == {"sequential Monte Carlo, 8 particles", "pCN sweep 1", "pCN sweep 2"}


def test_langevin_rounds_restart_the_count_with_twice_the_particles():
    sampler = lb.registry.get("langevin", algorithm="smc", particles=8, max_particles=32, steps=50, target_ess=48)
    calls = []
    run = sampler.run(torch.zeros(3), torch.ones(3), frames=5, callback=lambda *a: calls.append(a))
    # The standard normal's weights are all equal: the first round already reaches any ESS it can.
    assert run.diagnostics["rounds"] == 3 and run.diagnostics["particles"] == 32  # 8 < 48, 16 < 48, 32: the cap
    assert [m for m in dict.fromkeys(c[2] for c in calls)] == [
        f"sequential Monte Carlo, {p} particles" for p in (8, 16, 32)]


def test_a_failing_callback_stops_the_run():
    class Stop(Exception):
        pass

    def stop(done, total, message):
        if done > total // 4:
            raise Stop

    with pytest.raises(Stop):
        lb.registry.get("ou-sde").run(torch.zeros(2), torch.ones(2), frames=5, callback=stop)


def test_one_sampler_shared_by_two_threads_keeps_their_diagnostics_apart():
    # Slerp falls back to the line for parallel latents only: each run says what it did.
    slerp = lb.registry.get("slerp")
    z = torch.randn(16, generator=torch.Generator().manual_seed(2))
    other = torch.randn(16, generator=torch.Generator().manual_seed(3))
    barrier = threading.Barrier(2)

    def many(z1):
        barrier.wait()
        return [slerp.run(z, z1, frames=5).diagnostics for _ in range(200)]

    with ThreadPoolExecutor(2) as pool:
        parallel, crossing = pool.map(many, [2.0 * z, other])
    assert all(d["fallback"] == "linear" for d in parallel)
    assert all("fallback" not in d for d in crossing)


# --- one description per parameter -----------------------------------------------------------


def test_param_applies_follows_its_when_condition():
    period = next(p for p in lb.registry.available()["gp"]["params"] if p.name == "period")
    assert period.applies({"kernel": "periodic"}) and period.applies({"kernel": "locally-periodic"})
    assert not period.applies({"kernel": "exponential"}) and not period.applies({})
    assert Param("x", "float", 1.0, "h").applies({})


def test_all_params_holds_each_name_once_in_registration_order():
    params = lb.registry.all_params()
    names = [p.name for info in lb.registry.available().values() for p in info["params"]]
    assert list(params) == list(dict.fromkeys(names))
    assert params["T"].name == "T" and "kernel" in params and "particles" in params


def test_gp_parameters_come_from_the_kernel_table():
    gp = {p.name: p for p in lb.registry.available()["gp"]["params"]}
    for named in lb.kernels.KERNELS.values():
        for param in named.params:
            assert gp[param.name].default == param.default and gp[param.name].low == param.low
            assert named.name in gp[param.name].when[1]
    assert gp["kernel"].choices == lb.kernels.KERNEL_NAMES


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_never_numbers(value):
    with pytest.raises(ValueError, match="must be a number"):
        Param("T", "float", 1.0, "h").check(value)
    with pytest.raises(ValueError, match="must be a whole number"):
        lb.checks.check_whole("frames", value, 2)


def test_whole_numbers_are_exact_and_loose_only_when_asked():
    assert lb.checks.whole_number(2**53 + 1) == 2**53 + 1
    assert lb.checks.whole_number("9007199254740993") == 9007199254740993
    assert lb.checks.whole_number(4.0) == 4 and lb.checks.whole_number(4.0, loose=False) is None
    assert lb.checks.whole_number("4", loose=False) is None and lb.checks.whole_number(4.5) is None
    with pytest.raises(ValueError, match=r"frames must be at most 240 on this server; got 300"):
        lb.checks.check_whole("frames", 300, 4, 240, limit=" on this server")
    with pytest.raises(ValueError, match=r"frames must be a whole number from 4 to 240; got 300"):
        lb.checks.check_whole("frames", 300, 4, 240)


def test_walk_params_close_the_loop_in_one_place():
    assert lb.pipeline.walk_params("gp") == {"kernel": "periodic", "T": 4.0}
    assert lb.pipeline.walk_params("gp", {"period": 6.0}) == {"kernel": "periodic", "period": 6.0, "T": 6.0}
    assert lb.pipeline.walk_params("gp", {"kernel": "matern"}) == {"kernel": "matern"}
    assert lb.pipeline.walk_params("gp", {"T": 2.0})["T"] == 2.0
    assert lb.pipeline.walk_params("ou") == {"T": 1.0} and lb.pipeline.walk_params("linear") == {}
    sampler = lb.pipeline.default_walk_sampler()
    z = torch.randn(4)
    assert torch.equal(sampler.sample(z, z, 9, 2)[:, -1], z.expand(2, -1))


# --- the import graph flows one way ----------------------------------------------------------

PACKAGE = Path(lb.__file__).parent
# The package's modules in data-flow order: each may import only modules before it (checkpoints/,
# at the repository's top, holds the models and imports none of them).
ORDER = ["checks", "registry", "data", "models", "kernels", "priors", "bridges", "sde", "path_mcmc", "path_smc", "langevin",
         "testing", "metrics", "pipeline", "media", "plots", "train", "publish", "familiarity", "reproduce", "cli", "app"]


def _top_module(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def internal_imports(path: Path) -> set[str]:
    """The package's top-level modules that ``path`` imports, at any depth: an import inside a
    function is an edge too."""
    package = list(path.relative_to(PACKAGE).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            found.update(parts[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "latent_bridge":
            parts = node.module.split(".")[1:]
            found.update(parts[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("latent_bridge."))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lb":
            found.add(node.attr)  # `import latent_bridge as lb`, then lb.models...
    modules = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    pipeline_functions = {"interpolate", "random_walk", "compare"}  # lb.interpolate is pipeline's
    found = {"pipeline" if name in pipeline_functions else name for name in found}
    return {name for name in found if name in modules} - {_top_module(path)}


def test_the_package_imports_flow_one_way_with_no_cycle():
    position = {name: i for i, name in enumerate(ORDER)}
    modules = set()
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name in ("__init__.py", "__main__.py"):
            continue  # the package root imports the samplers to register them; __main__ runs the CLI
        top = _top_module(path)
        modules.add(top)
        for imported in internal_imports(path):
            assert position[imported] < position[top], \
                f"{path.relative_to(PACKAGE)} imports {imported}, which comes after it in the data flow"
    assert modules == set(ORDER)
