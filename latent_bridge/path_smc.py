"""Sequential Monte Carlo on path space for the Langevin bridge (``langevin``'s
``algorithm="path-smc"``).

A population of paths is carried from the guide's bridge (the reference of
``latent_bridge.path_mcmc``) to the bridge through the tempered targets

    pi_beta(y) proportional to reference(y) exp(beta Phi(y)),   0 = beta_0 < ... < beta_M = 1,

Phi the path's log-density against the reference (``path_mcmc.step_log_ratio``): an SMC
sampler (Del Moral, Doucet & Jasra, JRSS B 68(3), 2006) with an adaptive schedule (Jasra,
Stephens, Doucet & Tsagaris, Scand. J. Statist. 38(1), 2011). At each temperature

1. the next beta is the largest whose incremental weights exp((beta' - beta) Phi) keep the
   conditional effective sample size (Zhou, Johansen & Aston, JCGS 25(3), 2016) at
   ``target_ess`` of each island's population (or the step ``temperatures`` allows, if larger);
2. the weights take the increment; an island whose ESS falls under half its population, and
   every island at beta 1, is resampled within itself (systematic resampling), so the returned
   paths weigh the same;
3. every path makes ``moves`` sweeps of the chains' blocked pCN moves at the new beta
   (``path_mcmc.pcn_sweep``), which keep pi_beta.

Islands: a population resampled 35-40 times on its way (``poses``) descends from a handful of
its starting draws, so its paths share few routes and one run's route mix is a few draws'. So
``islands`` populations run side by side, each weighted and resampled on its own (they share
only the schedule, each step the smallest any island asks for): an island particle model
(Vergé, Dubarry, Del Moral & Moulines, Stat. Comput. 25(2), 2015) whose islands are never
weighted against each other, i.e. runs batched into one that share only the schedule (and each
sweep's window offsets). On ``poses`` 4 islands of 32 gave runs that agree (docs/methods.md,
table 8) where one population of 64 did not.

Why: a Gaussian mixture's bridge has routes (the components a path passes through on its way)
that a chain holds for thousands of sweeps (docs/methods.md, "Langevin bridges"). Here a path's
route is drawn where beta is small, where moves are accepted nearly always and routes change
freely, and the routes' shares are then set by the weights instead of by crossings.

Shapes: paths float64 ``(I N, L + 1, n)``, I islands of N paths (island i the rows i N to
(i + 1) N - 1), in the frame's coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .path_mcmc import Frame, LinearGuide, _total, pcn_sweep, prepare_moves, reference_bridge
from .sde import effective_sample_size, resample_groups

__all__ = ["Population", "run_population", "next_temperature"]

# Resample when the weights' effective sample size falls under this fraction of the population.
# Resampling less often (0.2) kept no more routes a run on poses: 4 runs of 32 disagreed more
# (R-hat 1.50 and 1.42 along z1 - z0, against 1.14 and 1.18; docs/methods.md).
RESAMPLE_ESS = 0.5


@dataclass(frozen=True)
class Population:
    """What ``run_population`` found. paths: float64 ``(I N, L + 1, n)`` equally weighted draws
    (the I islands' last populations of N, after their moves; island i the rows i N to
    (i + 1) N - 1); betas: float64 ``(M + 1,)`` the schedule from 0 to
    1; ess: float64 ``(M,)`` the weights' effective sample size over N after each reweighting
    (the lowest island's);
    acceptance: float64 ``(M,)`` the fraction of moves accepted at each temperature;
    accepted_by_sweep: float64 ``(M x moves,)`` the same for each sweep, in order; origin: int64
    ``(I N,)`` which of the I N starting paths (draws of the guide's bridge, in the same rows)
    each path descends from; forced: True when ``temperatures`` made a step larger than
    ``target_ess`` allows; islands: I."""

    paths: torch.Tensor
    betas: torch.Tensor
    ess: torch.Tensor
    acceptance: torch.Tensor
    accepted_by_sweep: torch.Tensor
    origin: torch.Tensor
    forced: bool
    islands: int = 1

    @property
    def ancestors(self) -> int:
        """How many starting paths the last populations descend from."""
        return int(self.origin.unique().numel())

    @property
    def fewest_ancestors(self) -> int:
        """The same count in the island that descends from the fewest."""
        return min(int(row.unique().numel()) for row in self.origin.reshape(self.islands, -1))


def next_temperature(log_weights: torch.Tensor, phi: torch.Tensor, beta: float, target_ess: float) -> float:
    """The largest beta' in (beta, 1] whose increment exp((beta' - beta) phi) keeps the
    conditional ESS, (sum W w)^2 / sum W w^2 with W the current normalised weights, at least
    ``target_ess`` (bisection; it falls as beta' grows). log_weights, phi: float64 ``(N,)``, or
    ``(I, N)`` for I islands, each of which must keep it."""
    log_w = torch.log_softmax(log_weights, -1)

    def conditional_ess(candidate: float) -> float:
        step = (candidate - beta) * phi
        return math.exp(float((2 * torch.logsumexp(log_w + step, -1) - torch.logsumexp(log_w + 2 * step, -1)).min()))

    if conditional_ess(1.0) >= target_ess:
        return 1.0
    low, high = beta, 1.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if conditional_ess(middle) >= target_ess else (low, middle)
    return low


def run_population(frame: Frame, guide: LinearGuide, y0: torch.Tensor, y1: torch.Tensor, steps: int, h: float,
                   particles: int, moves: int, temperatures: int, window: int, step: float, block: int,
                   generator: torch.Generator | None, target_ess: float = 0.9,
                   callback: Callable[[float], None] | None = None, islands: int = 1) -> Population:
    """``islands`` populations of ``particles`` paths each from y0 to y1 on the grid of
    ``steps`` steps of h, carried together from the guide's bridge to the bridge (module
    docstring) in at most ``temperatures`` steps of beta, with ``moves`` sweeps of ``pcn_sweep``
    (windows of ``window`` steps and up, pCN parameter ``step``, coordinate blocks of ``block``)
    after each. The islands share the schedule (each step the largest all of them allow) and
    nothing else: each is weighted and resampled on its own, so its paths descend from its own
    starting draws (module docstring, "Islands"). ``callback(beta)`` after each temperature. An
    exact guide (a Gaussian prior) returns draws of the reference itself."""
    total = islands * particles
    paths = reference_bridge(guide, y0, y1, steps, h, total, generator)
    empty = torch.zeros(0, dtype=torch.float64)
    if frame.exact:
        return Population(paths, torch.ones(1, dtype=torch.float64), empty, empty, empty, torch.arange(total),
                          False, islands)
    stepping, separable, blocks, log_ratio = prepare_moves(frame, guide, paths, h, block)
    log_weights = torch.zeros(islands, particles, dtype=torch.float64)
    origin = torch.arange(total)
    betas, ess, acceptance, by_sweep = [0.0], [], [], []
    forced, sweep = False, 0
    while betas[-1] < 1.0:
        beta, phi = betas[-1], _total(log_ratio).reshape(islands, particles)
        adaptive = next_temperature(log_weights, phi, beta, target_ess)
        # At most ``temperatures`` steps in all: no step shorter than an even share of what is left.
        least = beta + (1.0 - beta) / (temperatures - len(ess))
        new = 1.0 if len(ess) + 1 >= temperatures else max(adaptive, least)
        forced |= new > adaptive
        log_weights = log_weights + (new - beta) * phi
        sizes = effective_sample_size(log_weights) / particles       # (islands,)
        ess.append(float(sizes.min()))
        low = (sizes < RESAMPLE_ESS) | (new >= 1.0)
        if bool(low.any()):
            chosen = resample_groups(log_weights, low, generator)
            paths, log_ratio, origin = paths[chosen], log_ratio[chosen], origin[chosen]
            log_weights = torch.where(low[:, None], 0.0, log_weights)
        tilt = torch.full((total,), new, dtype=torch.float64)
        accepted, tried = 0.0, 0
        for _ in range(moves):
            paths, log_ratio, count, each = pcn_sweep(paths, log_ratio, tilt, sweep, frame, guide, stepping, steps, h,
                                                      window, step, blocks, separable, generator)
            accepted, tried, sweep = accepted + float(count.sum()), tried + each * total, sweep + 1
            by_sweep.append(float(count.sum()) / (each * total))
        acceptance.append(accepted / tried if tried else math.nan)
        betas.append(new)
        if callback is not None:
            callback(new)
    return Population(paths, torch.tensor(betas, dtype=torch.float64), torch.tensor(ess, dtype=torch.float64),
                      torch.tensor(acceptance, dtype=torch.float64), torch.tensor(by_sweep, dtype=torch.float64),
                      origin, forced, islands)
