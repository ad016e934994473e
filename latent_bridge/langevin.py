"""``langevin``: the bridge of a prior's Langevin diffusion (eqs. 2-3), for any prior with an
energy gradient.

The default algorithm, ``auto``, picks by the prior. For a Gaussian mixture of several
components (the fitted ``mixture``, a ``GaussianMixture`` object) it runs ``path-smc``
(``latent_bridge.path_smc``): populations of whole paths, in independent islands, tempered from
a linear guide's exact bridge to the bridge; it finds each route between the mixture's modes
its share, where Markov chains keep the route they start on. For every other prior it runs
``path-mcmc`` (``latent_bridge.path_mcmc``): chains started from the guide's bridge, moved by
blocked preconditioned Crank-Nicolson updates, each returned path the last state of its own
chain (exact, with no sweeps, for a Gaussian prior). The older sequential Monte Carlo sampler
(``algorithm="smc"``, ``latent_bridge.sde.SMCLangevinBridge``) stays selectable for comparison.

Two diffusions share a prior p = exp(-E) as stationary law (``diffusion``):

- ``langevin``: dX = -grad E(X) dt + sqrt(2) dW (the paper's eq. 2);
- ``preconditioned``: dX = -S grad E(X) dt + sqrt(2) S^(1/2) dW, S the prior's covariance; for a
  Gaussian prior N(m, S) this is dX = -(X - m) dt + sqrt(2) S^(1/2) dW, the diffusion that
  ``ou`` and ``gp`` bridge under that prior.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from .bridges import Sampler, time_param
from .path_mcmc import (Frame, chain_ess, frame_for, linear_guide, prior_moments, prior_variances, run_chains,
                         split_rhat, window_levels)
from .path_smc import run_population
from .priors import DiagonalGaussian, Gaussian, GaussianMixture, Independent, Prior, StandardNormal
from .registry import Param, register
from .sde import PRIOR_CHOICES, PRIOR_KINDS, SMC_PARAMS, SMCLangevinBridge, resolved_prior, smc_work_units

__all__ = ["LangevinConfig", "LangevinBridge", "LANGEVIN_PARAMS", "RHAT_LIMIT", "auto_algorithm"]

ALGORITHMS = ("auto", "path-mcmc", "path-smc", "smc")
DIFFUSIONS = ("langevin", "preconditioned")

_MCMC = ("algorithm", ("path-mcmc",))
_MOVES = ("algorithm", ("auto", "path-mcmc", "path-smc"))
_POPULATION = ("algorithm", ("path-smc",))
LANGEVIN_PARAMS = (
    time_param(1.0),
    Param("prior", "choice", "standard-normal",
          "prior of the latents: the standard normal, or fitted to the model's encoded data: a Gaussian "
          "(fitted), a diagonal Gaussian or a Gaussian mixture", choices=PRIOR_CHOICES),
    Param("components", "int", 8, "Gaussian components of the mixture prior fitted to the model's encoded "
          "data", low=1, high=64, when=("prior", ("mixture",))),
    Param("diffusion", "choice", "langevin", "which diffusion is bridged, both with the prior as stationary "
          "law: langevin (drift -grad E, unit noise: the paper's) or preconditioned (drift and noise scaled "
          "by the prior's covariance: with a Gaussian prior the same bridge as ou)", choices=DIFFUSIONS),
    Param("algorithm", "choice", "auto", "auto (the default): path-smc for a Gaussian mixture prior of several "
          "components, path-mcmc for any other; path-mcmc: Markov chains on whole paths, right in any dimension "
          "where the chains cross between the prior's modes (they keep the route they start on through a fitted "
          "mixture's); path-smc: populations (islands) of whole paths tempered from the guide's bridge to the "
          "bridge, right for priors with several modes and costlier (a whole population for any number of "
          "paths); smc: the older particle "
          "sampler, kept for comparison (wrong beyond one dimension)", choices=ALGORITHMS),
    Param("steps", "int", 100, "time steps over [0, T] (at least one per frame interval): more is closer to "
          "the continuous bridge and slower", low=1, high=100_000),
    Param("sweeps", "int", 100, "Markov chain sweeps over the whole path: more forget the starting guess "
          "better; cost grows linearly", low=0, high=100_000, when=_MCMC),
    Param("window", "int", 8, "shortest stretch of time steps moved at once (stretches of 2, 4, ... times "
          "this alternate with it): shorter is accepted more often", low=2, high=100_000, when=_MOVES),
    Param("move", "float", 1.0, "how far one move goes, from 0 (nowhere) to 1 (a fresh draw of the guide's "
          "bridge for the stretch)", low=0.0, high=1.0, low_inclusive=False, when=_MOVES),
    Param("blocks", "int", 8, "groups the latent's coordinates move in, one after another, each of about "
          "size / blocks coordinates (a prior that is a product over coordinates moves every coordinate on its "
          "own): more are accepted more often and cost more", low=1, high=1_000_000, when=_MOVES),
    Param("chains", "int", 4, "independent chains at least, one a returned path (extra ones only check that "
          "the chains agree)", low=2, high=10_000, when=_MCMC),
    Param("rungs", "int", 1, "parallel tempering: each chain becomes a ladder of this many replicas, from "
          "the guide's bridge to the bridge, that exchange paths; 1 (the default) runs plain chains. More "
          "cross between routes a plain chain holds for thousands of sweeps (a fitted mixture's), at this "
          "many times the cost", low=1, high=1_000, when=_MCMC),
    Param("population", "int", 32, "paths carried together (in each island) from the guide's bridge to the "
          "bridge, returned paths drawn from them: more give each route (the modes a path passes) its share "
          "more closely; cost grows linearly", low=2, high=10_000, when=_POPULATION),
    Param("islands", "int", 4, "populations carried side by side, each weighted and resampled on its own "
          "(they share only the tempering steps), the returned paths taken from them in turn: more give a run's "
          "paths more independent routes (one population keeps only a few); cost grows linearly", low=1,
          high=1_000, when=_POPULATION),
    Param("moves", "int", 20, "sweeps of every path at each temperature: more let the paths settle before the "
          "next reweighting (too few keep the guide's routes); cost grows linearly", low=1, high=10_000,
          when=_POPULATION),
    Param("temperatures", "int", 64, "most tempering steps from the guide's bridge to the bridge (fewer are "
          "taken where the paths' weights allow): bounds the cost; a run that needed more says so",
          low=1, high=10_000, when=_POPULATION),
) + SMC_PARAMS

# Work units (at most about 35 ns each) per latent number, grid point and chain of one
# evaluation of the path's density (the prior's gradient, two Gaussian log-densities, the
# proposal and its acceptance): measured 60-63 ns a unit at 3 (the poses mixture, 8 blocks, 4
# chains; a 1,024-D product), on 2 shared cores.
UNITS_A_NUMBER = 6

# Above this split R-hat of the paths' log-density (Phi) the chains may not have forgotten
# where they started. split_rhat cuts the second half of the sweeps into two pieces of N'
# draws (a quarter of the sweeps each); for stationary pieces whose Phi has autocorrelation
# time tau, R-hat^2 is about 1 + tau / N' (Vats & Knudson, Statist. Sci. 36(4), 2021: 1 +
# chains / ESS). So sqrt(2) is, roughly and for Phi only, one effective draw a piece, tau a
# quarter of the sweeps: the returned last states are then several of Phi's autocorrelation
# times from the start. A necessary check, not a sufficient one (slower directions than Phi's
# can still remember the start), and with 4 chains a noisy one. The usual 1.1 (about five
# effective draws a piece) would warn on half or more of the default runs whose paths are
# measured right (docs/methods.md, "Diagnostics").
RHAT_LIMIT = math.sqrt(2.0)
# Below this acceptance the moves barely move the paths.
ACCEPTANCE_LIMIT = 0.1
# Below this exchange rate between two neighbouring rungs a tempered ladder barely carries
# paths from one end to the other (Syed et al. 2022 tune ladders to equal rates well above it).
SWAP_LIMIT = 0.1


@dataclass(frozen=True)
class LangevinConfig:
    """The parameters of ``langevin`` (``LANGEVIN_PARAMS`` has their ranges and help), checked
    once. ``prior`` is a name of ``PRIOR_CHOICES`` or a prior object with ``grad_energy``."""

    T: float = 1.0
    prior: Any = "standard-normal"
    components: int = 8
    diffusion: str = "langevin"
    algorithm: str = "auto"
    steps: int = 100
    sweeps: int = 100
    window: int = 8
    move: float = 1.0
    blocks: int = 8
    chains: int = 4
    rungs: int = 1
    population: int = 32
    islands: int = 4
    moves: int = 20
    temperatures: int = 64
    particles: int = 2048
    target_ess: float = 1.5
    max_particles: int = 2048
    grid: str = "uniform"
    guide: str = "modes"
    ess_threshold: float = 0.5
    pcn_moves: int = 0
    pcn_step: float = 0.3

    def __post_init__(self):
        params = {p.name: p for p in LANGEVIN_PARAMS}
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if name == "prior" and not isinstance(value, str):
                if not callable(getattr(value, "grad_energy", None)):
                    raise ValueError(f"prior must be one of {', '.join(PRIOR_CHOICES)} or a prior object with a "
                                     f"grad_energy method (lb.priors); got {value!r}")
                continue
            object.__setattr__(self, name, params[name].check(value))
        chosen = self.algorithm == "auto"
        if chosen:
            object.__setattr__(self, "algorithm", auto_algorithm(self.prior, self.components))
        for param in LANGEVIN_PARAMS:  # a value for the other algorithm would be silently ignored
            if param.when is not None and param.when[0] == "algorithm" and self.algorithm not in param.when[1] \
                    and getattr(self, param.name) != param.default:
                owners = " or ".join(repr(name) for name in param.when[1] if name != "auto")
                why = f" (what 'auto' runs for {_auto_reason(self.algorithm)})" if chosen else ""
                raise ValueError(f"{param.name} is a parameter of algorithm {owners}; with algorithm "
                                 f"{self.algorithm!r}{why} it has no effect: leave it out, or set algorithm="
                                 f"{param.when[1][0]!r}")
        if self.max_particles < self.particles:
            raise ValueError(f"max_particles must be at least particles ({self.particles}); got {self.max_particles}")
        if self.algorithm == "smc" and self.diffusion != "langevin":
            raise ValueError("algorithm 'smc' bridges the plain Langevin diffusion only: use diffusion='langevin' "
                             "or algorithm='path-mcmc'")


def auto_algorithm(prior: Any, components: int = 8) -> str:
    """What ``algorithm="auto"`` runs for ``prior`` (a name of ``PRIOR_CHOICES`` or a prior
    object; ``components`` of a named mixture): ``path-smc`` for a Gaussian mixture of several
    components, whose modes Markov chains cross too rarely, ``path-mcmc`` for any other prior
    (docs/methods.md, "Which algorithm")."""
    if isinstance(prior, str):
        several = prior == "mixture" and components > 1
    else:
        several = isinstance(prior, GaussianMixture) and prior.weights.numel() > 1
    return "path-smc" if several else "path-mcmc"


def _auto_reason(algorithm: str) -> str:
    return "a mixture prior of several components" if algorithm == "path-smc" else "a prior that is not a mixture"


@register(
    "langevin",
    "Langevin bridge of any prior (eqs. 2-3) against the exact bridge of a linear guide: tempered populations "
    "of whole paths for a mixture prior, Markov chains on whole paths for others; exact for Gaussian priors, "
    "with diagnostics that say when the paths are not yet draws of the bridge.",
    LANGEVIN_PARAMS,
)
class LangevinBridge(Sampler):
    """Bridge of the Langevin diffusion of ``prior`` (module docstring; ``LangevinConfig`` for
    the parameters; ``config.algorithm`` is what ``auto`` chose). path-mcmc: ``run`` returns, per
    path, the last state of its own chain after ``sweeps`` sweeps; with fewer paths than
    ``chains`` the extra chains run only for the diagnostics. path-smc: paths taken from the
    islands' final populations in turn (diagnostics: ``_population_diagnostics``).

    Diagnostics (``path-mcmc``): ``acceptance`` (the fraction of moves accepted),
    ``rhat_density`` (split R-hat over the chains of the paths' log-density Phi, on the second
    half of the sweeps; about 1 when the chains agree, a warning above ``RHAT_LIMIT``),
    ``density_ess`` (its effective sample size over all chains' second halves), ``rhat`` and
    ``chain_ess`` (the worst of the same for a few projections of the path, which move slower
    and are reported only), ``chains``, ``sweeps``, ``steps``, ``exact`` (True when the guide
    is the bridge itself: a Gaussian prior, which runs no sweeps and so ignores ``rungs``), with
    ``rungs`` > 1 ``rungs`` and ``swap_acceptance`` (the exchange rate of each pair of
    neighbouring rungs; a warning under ``SWAP_LIMIT``), and ``warnings`` when they say the
    paths may not be draws of the bridge yet.
    """

    def __init__(self, T: float = 1.0, prior: Any = "standard-normal", **params):
        super().__init__(T)
        self.config = LangevinConfig(T=T, prior=prior, **params)

    @property
    def prior(self):
        return self.config.prior

    def params(self) -> dict[str, Any]:
        # asdict would deep-copy a prior object; the parameters are flat, so read them directly.
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def fitted_prior(self) -> dict[str, Any] | None:
        """The fit a named data prior asks for, ``{"kind": ..., "components": ...}`` (the
        arguments of ``lb.priors.for_model``), or None when the prior needs no data."""
        if isinstance(self.prior, str) and self.prior in PRIOR_KINDS:
            return {"kind": PRIOR_KINDS[self.prior], "components": self.config.components}
        return None

    def with_prior(self, prior: Prior) -> "LangevinBridge":
        """The same sampler with ``prior`` (an object) in place of its named prior."""
        return LangevinBridge(**{**self.params(), "prior": prior})

    # -- cost, for any caller's bounds -------------------------------------------------------

    def grid_steps(self, frames: int) -> int:
        """Time steps of a path of ``frames`` frames: ``steps`` rounded up to a whole number a
        frame interval."""
        intervals = max(1, int(frames) - 1)
        return intervals * math.ceil(self.config.steps / intervals)

    def work_units(self, frames: int, n: int, paths: int = 1, runs: int = 1) -> int:
        """About how much one ``run`` of ``paths`` paths of ``frames`` frames of an
        ``n``-number latent costs (``runs`` such runs: the segments of a path through
        keyframes), in units of at most about 35 ns on one CPU core (the app's
        ``particle_work``). path-mcmc: ``UNITS_A_NUMBER`` x chains x rungs x (2 + sweeps x
        (coordinate blocks + 2)) x grid points x n x prior factor (a mixture's components cost
        more); no sweeps (and no rungs) for a Gaussian prior, whose guide is exact. path-smc:
        the same with islands x population for chains and temperatures x moves for sweeps (the
        most it can take). smc: the particle sampler's own count (``smc_work_units``)."""
        config = self.config
        if config.algorithm == "smc":
            return smc_work_units(self.params(), n, runs, paths)
        sweeps = self._sweeps_run()
        chains = self._replicas(paths)
        points = self.grid_steps(frames) + 1
        factor = _prior_factor(config.prior, n, config.components)
        blocks = 1 if self._is_separable() else math.ceil(n / self.block_size(n))
        return int(UNITS_A_NUMBER * runs * chains * points * n * factor * (2 + sweeps * (blocks + 2)))

    def block_size(self, n: int) -> int:
        """Coordinates a block of an ``n``-number latent moves together: ceil(n / ``blocks``)."""
        return math.ceil(n / min(n, self.config.blocks))

    def memory_bytes(self, frames: int, n: int, paths: int = 1) -> int:
        """About the most memory one ``run`` holds at once, in bytes: the chains' paths (every
        rung's; path-smc: every island's population) in float64 and about ten working copies of them
        (proposal, noise, step terms). smc: the particle sampler's own estimate."""
        if self.config.algorithm == "smc":
            return self._smc().memory_bytes(frames, n, paths)
        return int(8 * 11 * self._replicas(paths) * (self.grid_steps(frames) + 1) * n)

    def _sweeps_run(self) -> int:
        """The sweeps a run makes at most: none for a Gaussian prior, whose guide is exact."""
        if self._is_gaussian():
            return 0
        config = self.config
        return config.temperatures * config.moves if config.algorithm == "path-smc" else config.sweeps

    def _replicas(self, paths: int) -> int:
        """The paths a run of ``paths`` paths holds: path-smc its islands' populations (together
        at least ``paths``); path-mcmc ``chains`` at least, times ``rungs`` when sweeps run (an exact
        guide draws its paths without a ladder)."""
        config = self.config
        if config.algorithm == "path-smc":
            return config.islands * self._island_size(paths)
        chains = max(paths, config.chains)
        return chains * config.rungs if self._sweeps_run() else chains

    def _island_size(self, paths: int) -> int:
        """path-smc: the paths of each island, ``population`` or enough for ``paths`` in all."""
        return max(self.config.population, -(-paths // self.config.islands))

    def _is_gaussian(self) -> bool:
        prior = self.prior
        return prior in ("standard-normal", "fitted", "diagonal") or \
            isinstance(prior, (StandardNormal, DiagonalGaussian, Gaussian))

    def _is_separable(self) -> bool:
        return isinstance(self.prior, Prior) and bool(getattr(self.prior, "separable", False)) \
            and self.config.diffusion == "langevin"

    # -- sampling ----------------------------------------------------------------------------

    def _smc(self) -> SMCLangevinBridge:
        config = self.config
        return SMCLangevinBridge(T=config.T, prior=config.prior, components=config.components, steps=config.steps,
                                 **{p.name: getattr(config, p.name) for p in SMC_PARAMS})

    def particle_systems(self, z0: torch.Tensor, z1: torch.Tensor, frames: int, systems: int,
                         generator: torch.Generator | None = None):
        """algorithm="smc" only: ``systems`` independent particle systems with all their weighted
        particles (``SMCLangevinBridge.particle_systems``)."""
        if self.config.algorithm != "smc":
            raise ValueError("particle_systems belongs to algorithm 'smc'; path-mcmc returns paths through run")
        return self._smc().particle_systems(z0, z1, frames, systems, generator)

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):
        config = self.config
        if config.algorithm == "smc":
            return self._smc()._sample_interior(z0, z1, times, n_paths, generator, callback)
        n = z0.numel()
        frame = frame_for(resolved_prior(self.prior, n, config.components), n, config.diffusion)
        guide = linear_guide(frame, n)
        steps = self.grid_steps(times.numel())
        per_frame = steps // (times.numel() - 1)
        y0, y1 = frame.to_frame(z0), frame.to_frame(z1)
        if config.algorithm == "path-smc":
            return self._sample_population(frame, guide, y0, y1, z0, z1, steps, per_frame, n_paths, generator,
                                           callback)
        chains = max(n_paths, config.chains)
        sweeps = 0 if frame.exact else config.sweeps
        summary = _summaries(frame, z0, z1, n) if sweeps else (lambda paths: paths.new_zeros((paths.shape[0], 0)))
        report = None
        if callback is not None:
            callback(0, max(sweeps, 1), "path-mcmc sweeps")
            report = lambda done: callback(done, sweeps, "path-mcmc sweeps")  # noqa: E731
        found = run_chains(frame, guide, y0, y1, steps, self.T / steps, chains, sweeps, config.window, config.move,
                           self.block_size(n), summary, generator, report, rungs=config.rungs)
        paths = frame.from_frame(found.paths[:n_paths, per_frame:-1:per_frame])
        _check_paths(paths, z0, z1, self.T / steps)
        return paths, _diagnostics(found, frame.exact, sweeps, steps, chains)

    def _sample_population(self, frame, guide, y0, y1, z0, z1, steps, per_frame, n_paths, generator, callback):
        config = self.config
        size = self._island_size(n_paths)
        report = None
        if callback is not None:
            # The schedule is adaptive: progress is beta, in thousandths.
            callback(0, 1000, "path-smc tempering")
            report = lambda beta: callback(int(1000 * beta), 1000, "path-smc tempering")  # noqa: E731
        found = run_population(frame, guide, y0, y1, steps, self.T / steps, size, config.moves, config.temperatures,
                               config.window, config.move, self.block_size(z0.numel()), generator, callback=report,
                               islands=config.islands)
        # Resampling leaves copies of one path side by side: return a random subset, the islands
        # in turn (the first path of each, then the second, ...) so that few paths still span them.
        shuffled = torch.stack([torch.randperm(size, generator=generator) + i * size for i in range(config.islands)], 1)
        chosen = shuffled.reshape(-1)[:n_paths]
        paths = frame.from_frame(found.paths[chosen, per_frame:-1:per_frame])
        _check_paths(paths, z0, z1, self.T / steps)
        return paths, _population_diagnostics(found, frame.exact, size, config, steps)


def _prior_factor(prior: Any, n: int, components: int) -> float:
    """How much a prior's energy gradient multiplies the cost of a latent number: 1 + components / 32
    for a mixture (measured in the particle sampler, ``sde.prior_factor``), 1 + n / 32 for a full
    Gaussian (a matrix product), 1 otherwise."""
    if prior == "mixture" or isinstance(prior, GaussianMixture):
        k = components if isinstance(prior, str) else prior.weights.numel()
        return 1 + k / 32
    if isinstance(prior, Independent) and isinstance(prior.factor, GaussianMixture):
        return 1 + prior.factor.weights.numel() / 32
    if prior == "fitted" or isinstance(prior, Gaussian):
        return 1 + n / 32
    return 1.0


def _summaries(frame: Frame, z0: torch.Tensor, z1: torch.Tensor, n: int):
    """What the chains are compared on: the path's time average and its midpoint projected on
    the direction from z0 to z1, and the time average on the prior's two top principal
    directions (of the latents; the two coordinates of largest variance above ``_MAX_EIGH``
    numbers, where an eigendecomposition would cost more than the run). (C, L + 1, n) frame
    paths -> float64 (C, 5)."""
    if n <= _MAX_EIGH:
        _, vectors = torch.linalg.eigh(prior_moments(frame.base, n)[1])
        top = vectors[:, -2:].flip(1)
    else:
        top = torch.eye(n, 2, dtype=torch.float64)[prior_variances(frame.base, n).argsort(descending=True).argsort()]
    top = top if n > 1 else top[:, :1].expand(n, 2)
    along = z1 - z0
    along = along / along.norm() if along.norm() > 0 else top[:, 0]
    projections = torch.cat([along[:, None], top], 1)                  # (n, 3)

    def summary(paths):
        paths = frame.from_frame(paths)
        inner = paths[:, 1:-1]
        average = inner.mean(1) @ projections                            # (C, 3)
        middle = paths[:, paths.shape[1] // 2] @ projections[:, :2]      # (C, 2)
        return torch.cat([average, middle], 1)

    return summary


# Largest latent whose principal directions the diagnostics compute (an n x n eigendecomposition).
_MAX_EIGH = 2048


def _check_paths(paths: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, h: float) -> None:
    """Refuse non-finite or exploded paths (never returned): far beyond the endpoints' scale."""
    scale = 100.0 * (1.0 + float(torch.maximum(z0.abs().max(), z1.abs().max())))
    if not torch.isfinite(paths).all() or float(paths.abs().max()) > scale:
        raise ValueError(
            f"the Langevin paths left the prior's range (values beyond {scale:.3g}): the prior's energy is too "
            f"steep for time steps of {h:.3g}; raise steps, or use diffusion='preconditioned' or a Gaussian prior")


def _population_diagnostics(found, exact: bool, size: int, config: LangevinConfig, steps: int) -> dict[str, Any]:
    """The population's numbers (``path_smc.Population``), with a warning in words when they say
    the paths may not be draws of the bridge yet."""
    diagnostics: dict[str, Any] = {"algorithm": "path-smc", "exact": exact, "population": size,
                                   "islands": found.islands, "steps": steps}
    if exact:
        return diagnostics
    # The sweeps cycle through the window lengths, whose acceptances differ several-fold: read
    # the last temperature's sweeps, and at least one whole cycle.
    final = found.accepted_by_sweep[-max(config.moves, window_levels(steps, config.window)):]
    diagnostics.update(temperatures=found.betas.numel() - 1, moves=config.moves,
                       acceptance=float(found.acceptance.mean()), final_acceptance=float(final.mean()),
                       min_ess=float(found.ess.min()), ancestors=found.ancestors,
                       fewest_ancestors=found.fewest_ancestors)
    warnings = []
    if found.forced:
        warnings.append(f"the tempering needed more than {config.temperatures} temperatures to keep the paths' "
                        f"weights even (the lowest effective sample size was {100 * diagnostics['min_ess']:.0f} % of "
                        "the population): the paths may not be draws of the bridge; raise temperatures")
    if found.fewest_ancestors < 2:
        where = f"all {size} paths" if found.islands == 1 else f"all {size} paths of an island"
        warnings.append(f"{where} descend from one draw of the guide's bridge: the population collapsed, so "
                        "its routes are one draw's; raise population or moves")
    if diagnostics["final_acceptance"] < ACCEPTANCE_LIMIT:
        warnings.append(f"only {100 * diagnostics['final_acceptance']:.1f} % of the last moves were accepted: the "
                        "paths barely move; lower move or window, or raise blocks")
    if warnings:
        diagnostics["warnings"] = warnings
    return diagnostics


def _diagnostics(found, exact: bool, sweeps: int, steps: int, chains: int) -> dict[str, Any]:
    """The chains' numbers, with a warning in words when they say the paths may not be draws of
    the bridge yet."""
    diagnostics: dict[str, Any] = {"algorithm": "path-mcmc", "exact": exact, "chains": chains, "sweeps": sweeps,
                                   "steps": steps, "acceptance": found.acceptance}
    if exact:
        return diagnostics
    warnings = []
    if sweeps < 8:
        warnings.append(f"only {sweeps} sweeps: the paths are still close to the guide's bridge, not draws of the "
                        "Langevin bridge; raise sweeps")
    else:
        half = found.trace.shape[0] // 2
        second = torch.cat([found.trace[half:], found.log_density[half:, :, None]], 2)
        rhat, ess = split_rhat(second), chain_ess(second)
        diagnostics["rhat"] = float(rhat[:-1].max())
        diagnostics["chain_ess"] = float(ess[:-1].min())
        diagnostics["rhat_density"] = float(rhat[-1])
        diagnostics["density_ess"] = float(ess[-1])
        if diagnostics["rhat_density"] > RHAT_LIMIT:
            warnings.append(
                f"the {chains} chains disagree on the paths' log-density over the second half of their sweeps "
                f"(R-hat {diagnostics['rhat_density']:.2f} > {RHAT_LIMIT:.2f}): they may not have forgotten where they "
                "started, so the paths may not be draws of the bridge yet; raise sweeps (and keep move and blocks at "
                "their defaults or higher), or where the prior has several modes use algorithm='path-smc' (a "
                "tempered population) or rungs (parallel tempering), or lower T; ou with the fitted prior is an "
                "exact bridge (of the preconditioned diffusion, under the fitted Gaussian)")
    if found.swap_acceptance.numel():
        diagnostics["rungs"] = found.swap_acceptance.numel() + 1
        # None for a pair never tried (fewer than 2 sweeps): the diagnostics travel as JSON.
        diagnostics["swap_acceptance"] = [None if math.isnan(rate) else round(rate, 3)
                                          for rate in found.swap_acceptance.tolist()]
        lowest = float(found.swap_acceptance.nan_to_num(nan=1.0).min())
        if sweeps >= 8 and lowest < SWAP_LIMIT:
            warnings.append(f"neighbouring rungs exchanged paths on only {100 * lowest:.1f} % of tries: the ladder "
                            "barely carries paths between the guide's bridge and the bridge; raise rungs")
    if found.acceptance < ACCEPTANCE_LIMIT:
        warnings.append(f"only {100 * found.acceptance:.1f} % of the moves were accepted: the paths barely move; "
                        "lower move or window, or raise blocks")
    if warnings:
        diagnostics["warnings"] = warnings
    return diagnostics
