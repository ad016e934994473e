"""Bridges integrated as SDEs: ``ou-sde`` (eq. 4) and ``langevin`` (eqs. 2-3).

Both simulate a diffusion dX = drift(t, X) dt + sqrt(2) dW from X(0) = z0 that is pulled to
X(T) = z1 by the OU bridge's guiding term (docs/methods.md, "OU bridge as an SDE")

    r(t, x) = e^{-tau} (z1 - x e^{-tau}) / (1 - e^{-2 tau}),   tau = T - t,

i.e. the score grad_x log p(T, z1 | t, x) of the OU transition density. One integrator,
``integrate``, does the work for both: Euler-Maruyama on a grid refined toward T (the guiding
term is singular there), holding every output frame time, with the last step landing exactly
on z1; optionally it carries importance weights and resamples (sequential Monte Carlo).

- ``ou-sde``: drift -x + 2 r(t, x), eq. (4). The same bridge as ``ou`` (sampled exactly in
  ``latent_bridge.bridges``), here as a check of the SDE route.
- ``langevin``: the bridge of the Langevin diffusion dX = -grad E(X) dt + sqrt(2) dW of a prior
  p proportional to exp(-E), which has no closed form. Guided proposals (Delyon & Hu 2006;
  Schauer, van der Meulen & van Zanten 2017) use the drift -grad E(x) + 2 r(t, x) and weight
  each path by

      log w = integral_0^T (-grad E(X_s) + X_s) . r(s, X_s) ds

  (their Theorem 1 with the OU process as the auxiliary process; the trace term vanishes as
  both have diffusion coefficient sqrt(2)). For E(z) = |z|^2 / 2 every weight is exactly 1
  and ``langevin`` is ``ou-sde``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .bridges import Callback, OUBridge, Sampler, time_param
from .priors import DiagonalGaussian, GaussianMixture, Prior, StandardNormal
from .registry import Param, register

__all__ = [
    "refined_grid", "guiding_term", "integrate", "Integration", "effective_sample_size",
    "systematic_resample", "resample_groups", "ou_guide", "mixture_guide", "OUSDEBridge", "SMCLangevinBridge", "SMC_PARAMS",
    "PRIOR_CHOICES", "smc_work_units", "prior_factor", "STEP_WORK", "resolved_prior",
]

# A drift field: (t, x (P, n) float64) -> (drift (P, n), log-weight rate (P,) or None).
Field = Callable[[float, torch.Tensor], "tuple[torch.Tensor, torch.Tensor | None]"]

# The driving noise of pCN moves is stored (particles x steps x n float32); refuse above this.
_MAX_NOISE_BYTES = 4 * 2**30


def refined_grid(times: torch.Tensor, T: float, steps: int, toward_T: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Integration grid on [0, T] refined toward T, holding every frame time.

    times: float64 ``(M,)`` increasing from 0 to T (the output frames). The grid is uniform in
    u under s = T u (2 - u), so steps shrink linearly toward T (ds = 2 T (1 - u) du), where the
    guiding term grows like 1 / (T - s); with ``toward_T=False`` it is uniform in s (equal
    steps). Each frame interval gets its share of ``steps`` in u (at least one step), so the
    grid has about ``steps`` steps, plus at most one per frame.

    Returns (grid float64 ``(L + 1,)`` with grid[0] = 0 and grid[-1] = T, frame_index int64
    ``(M,)`` with ``grid[frame_index] == times`` exactly).
    """
    u = 1.0 - torch.sqrt((1.0 - times / T).clamp(min=0.0)) if toward_T else times / T
    counts = torch.clamp(torch.round(steps * torch.diff(u)), min=1).long()
    pieces = []
    for i, count in enumerate(counts.tolist()):
        piece_u = torch.linspace(float(u[i]), float(u[i + 1]), count + 1, dtype=torch.float64)[:-1]
        piece = T * piece_u * (2.0 - piece_u) if toward_T else T * piece_u
        piece[0] = times[i]
        pieces.append(piece)
    grid = torch.cat(pieces + [times[-1:].to(torch.float64)])
    frame_index = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
    return grid, frame_index


def guiding_term(t: float, x: torch.Tensor, z1: torch.Tensor, T: float) -> torch.Tensor:
    """r(t, x) = e^{-tau} (z1 - x e^{-tau}) / (1 - e^{-2 tau}), tau = T - t > 0: the OU
    transition's score grad_x log p(T, z1 | t, x). x: (P, n), z1: (n,); returns (P, n)."""
    tau = T - t
    decay = math.exp(-tau)
    return (z1 - x * decay) * (decay / -math.expm1(-2.0 * tau))


def effective_sample_size(log_weights: torch.Tensor) -> float | torch.Tensor:
    """(sum w)^2 / sum w^2 for weights given by their logs ``(P,)``: between 1 and P. For
    ``(G, P)`` (G independent particle systems) a float64 ``(G,)`` tensor, one per system."""
    w = torch.softmax(log_weights, dim=-1)
    sizes = 1.0 / (w * w).sum(-1)
    return float(sizes) if log_weights.dim() == 1 else sizes


def systematic_resample(log_weights: torch.Tensor, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """``count`` indices into the particles, particle i chosen about count * w_i times (one
    uniform shared by all: lower variance than multinomial draws). int64 ``(count,)``, sorted.
    For ``(G, P)`` log weights, each row on its own (one uniform per row): int64 ``(G, count)``
    indices into its row."""
    w = torch.softmax(log_weights.double(), dim=-1)
    offset = torch.rand(w.shape[:-1] + (1,), generator=generator, dtype=torch.float64)
    points = (offset + torch.arange(count, dtype=torch.float64)) / count
    return torch.searchsorted(torch.cumsum(w, -1), points).clamp(max=w.shape[-1] - 1)


def resample_groups(log_weights: torch.Tensor, low: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Which row each of G P particles takes when the groups marked ``low`` are resampled, each
    within itself (``systematic_resample``) and the others keep their rows: log_weights ``(G,
    P)``, low bool ``(G,)``; int64 ``(G P,)`` indices into the rows, group g the rows g P to
    (g + 1) P - 1."""
    groups, particles = log_weights.shape
    rows = torch.arange(groups * particles).view(groups, particles)
    picked = systematic_resample(log_weights, particles, generator) + rows[:, :1]
    return torch.where(low[:, None], picked, rows).reshape(-1)


@dataclass
class Integration:
    """What ``integrate`` returns, for G independent particle systems of P particles each,
    stored group after group (rows g P .. (g + 1) P - 1 are system g).

    frames: float32 ``(G P, M - 2, n)`` the particles at the interior frame times (after any
    resampling, each row is one particle's path); log_weights: float64 ``(G, P)`` since the
    last resampling (the current importance weights); path_log_weights: float64 ``(G P,)`` the
    whole path's log weight, log w of the module docstring; log_normaliser: float64 ``(G,)``
    the SMC estimate of log E[w] per system (the log of the mean weight, multiplied over
    resampling epochs): its weight against other independent systems; ess: float64 ``(M - 1,
    G)``, the effective sample size of each system at each frame time after 0; resamplings:
    (step, ancestors int64 (G P,), resampled bool (G,)) per step after which some system
    resampled (the others keep their rows: ancestors[i] = i); lineages: int64 (G P, M - 2),
    which particle each row's frame j was at frame j's time (resampling copies rows, so the
    number of distinct values in column j is how many different paths the particles hold).
    """

    frames: torch.Tensor
    log_weights: torch.Tensor
    path_log_weights: torch.Tensor
    log_normaliser: torch.Tensor | None = None
    ess: torch.Tensor | None = None
    resamplings: list[tuple[int, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    lineages: torch.Tensor | None = None

    def frame_ess(self) -> torch.Tensor:
        """Effective sample size of each system's estimates at each interior frame, float64
        ``(G, M - 2)``: the final weights summed over the particles that share that frame
        (copies made by resampling), then (sum w)^2 / sum w^2. Early frames share ancestors,
        so this is below the final ESS; it is the number to derive error bars from."""
        return pooled_frame_ess(torch.softmax(self.log_weights, dim=-1), self.lineages)


def pooled_frame_ess(weights: torch.Tensor, lineages: torch.Tensor) -> torch.Tensor:
    """Per system and interior frame: weights ``(G, P)`` (each row summing to 1) pooled over
    the particles that share that frame (``lineages`` int64 ``(G P, M - 2)``, equal values =
    one shared frame; rows of different systems never share), then (sum w)^2 / sum w^2.
    float64 ``(G, M - 2)``."""
    groups, particles = weights.shape
    flat = weights.reshape(-1)
    sizes = []
    for column in lineages.T:
        shared = torch.zeros(groups * particles, dtype=torch.float64).index_add_(0, column, flat)
        sizes.append(1.0 / (shared * shared).reshape(groups, particles).sum(1))
    return torch.stack(sizes, 1) if sizes else torch.zeros((groups, 0), dtype=torch.float64)


def bridge_steps(grid: torch.Tensor, T: float) -> torch.Tensor:
    """Per step of ``grid`` (float64 ``(L + 1,)`` from 0 to T), the exact transition of the OU
    bridge to X(T) = z1 and the gain of a drift held constant over the step: float64 ``(L - 1,
    4)`` rows (keep, pull, std, gain) for the steps before the last, so that

        X' = keep X + pull z1 + gain f + std xi

    solves dX = [-X + 2 r(t, X) + f] dt + sqrt(2) dW exactly over the step when f is constant
    (``OUBridge`` gives keep, pull and std; gain = integral of sinh(T - t') / sinh(T - s) ds =
    sinh(tau') log(tanh(tau / 2) / tanh(tau' / 2)), tau and tau' the time left before and
    after the step). The last step lands on z1 and needs none."""
    transitions = OUBridge(T)._transitions(grid)  # steps 0 .. L - 2: grid[k] -> grid[k + 1] < T
    before, after = T - grid[:-2], T - grid[1:-1]

    def log_tanh_half(tau):  # log tanh(tau / 2) = log(1 - e^-tau) - log(1 + e^-tau), accurate at both ends
        decay = torch.exp(-tau)
        small = torch.log(-torch.expm1(-tau.clamp(max=math.log(2.0))))
        return torch.where(tau > math.log(2.0), torch.log1p(-decay), small) - torch.log1p(decay)

    gain = torch.sinh(after) * (log_tanh_half(before) - log_tanh_half(after))
    return torch.cat([transitions, gain[:, None]], dim=1)


def integrate(
    extra_drift: Field | None,
    z0: torch.Tensor,
    z1: torch.Tensor,
    grid: torch.Tensor,
    frame_index: torch.Tensor,
    particles: int,
    noise: Callable[[int], torch.Tensor],
    T: float,
    resample_below: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callable[[int], None] | None = None,
    groups: int = 1,
) -> Integration:
    """Integrate dX = [-X + 2 r(t, X) + f(t, X)] dt + sqrt(2) dW, X(0) = z0, for ``groups``
    independent systems of ``particles`` copies each, to X(T) = z1: the guided OU bridge plus
    an extra drift f.

    The OU bridge's own linear dynamics are integrated exactly (``bridge_steps``) and f is held
    at its value at the start of each step (an exponential integrator): with f = 0 the paths
    are exact OU bridge paths whatever the grid; otherwise the error comes from f alone.
    z0, z1: float64 ``(n,)``; grid, frame_index: from ``refined_grid``. ``extra_drift(t, x)``
    takes all G P particles (rows g P .. (g + 1) P - 1 are system g) and returns f (G P, n) (or
    None for 0) and the rate (G P,) at which the log weight grows (None: unweighted);
    ``extra_drift=None``: f = 0, no weights. ``noise(k)`` gives the standard normal increments
    of step k, float64 (G P, n) (steps 0 .. L - 2; the last step lands on z1 and needs none).
    When a system's effective sample size falls below ``resample_below * particles`` its
    particles are resampled among themselves (systematic, with ``generator``): the systems
    never exchange particles; each particle's recorded frames follow its ancestors. ``callback(k)`` is called after
    step k about a hundred times over the run (and after the last step). Memory: O(G P M n),
    no path history.
    """
    steps = grid.numel() - 1
    frames = frame_index.numel()
    total = groups * particles
    coefficients = bridge_steps(grid, T).tolist()
    x = z0.expand(total, -1).clone()
    log_w = torch.zeros((groups, particles), dtype=torch.float64)
    path_log_w = torch.zeros(total, dtype=torch.float64)
    log_normaliser = torch.zeros(groups, dtype=torch.float64)
    out = Integration(torch.empty((total, frames - 2, z0.numel()), dtype=torch.float32), log_w, path_log_w,
                      lineages=torch.empty((total, frames - 2), dtype=torch.long))
    ess = []
    next_frame = 1
    weighted = False
    report_every = max(1, steps // 100)
    for k in range(steps):
        t, dt = float(grid[k]), float(grid[k + 1] - grid[k])
        extra, rate = extra_drift(t, x) if extra_drift is not None else (None, None)
        if rate is not None:
            weighted = True
            log_w += rate.view(groups, particles) * dt
            path_log_w += rate * dt
        if k == steps - 1:
            x = z1.expand(total, -1).clone()  # the bridge's end, exactly
        else:
            keep, pull, std, gain = coefficients[k]
            moved = x * keep + z1 * pull + noise(k) * std
            x = moved if extra is None else moved + extra * gain
            if not torch.isfinite(x).all() or not torch.isfinite(log_w).all():
                raise ValueError(f"the integration diverged at t = {grid[k + 1]:.4g} (non-finite values): "
                                 "increase steps (the prior's energy is too steep for this step size)")
        sizes = effective_sample_size(log_w) if weighted else None
        if k + 1 == int(frame_index[next_frame]):
            ess.append(sizes if weighted else torch.full((groups,), float(particles), dtype=torch.float64))
            if next_frame < frames - 1:
                out.frames[:, next_frame - 1] = x
            next_frame += 1
        if weighted and resample_below > 0 and k < steps - 1:
            low = sizes < resample_below * particles
            if low.any():
                log_normaliser += torch.where(low, torch.logsumexp(log_w, 1) - math.log(particles), 0.0)
                ancestors = resample_groups(log_w, low, generator)
                x = x[ancestors]
                path_log_w = path_log_w[ancestors]
                log_w = torch.where(low[:, None], 0.0, log_w)
                out.resamplings.append((k, ancestors, low))
        if callback is not None and ((k + 1) % report_every == 0 or k == steps - 1):
            callback(k + 1)
    _follow_ancestors(out, frame_index)
    out.log_weights, out.path_log_weights, out.ess = log_w, path_log_w, torch.stack(ess)
    out.log_normaliser = log_normaliser + torch.logsumexp(log_w, 1) - math.log(particles)
    return out


def _follow_ancestors(out: Integration, frame_index: torch.Tensor) -> None:
    """Reorder ``out.frames`` (recorded as the particles stood at each frame time) so that row
    i holds final particle i's own path, and fill ``out.lineages``: frame j (recorded after
    step frame_index[j + 1] - 1) follows the resamplings made at or after that step. Done
    once at the end, instead of copying every recorded frame at each resampling."""
    lineage = torch.arange(out.frames.shape[0])
    events = out.resamplings[::-1]  # latest first
    e = 0
    for j in reversed(range(out.frames.shape[1])):
        recorded = int(frame_index[j + 1]) - 1
        while e < len(events) and events[e][0] >= recorded:
            lineage = events[e][1][lineage]
            e += 1
        out.frames[:, j] = out.frames[lineage, j]
        out.lineages[:, j] = lineage


def ou_guide(prior, z1: torch.Tensor, T: float) -> Field:
    """The OU bridge's guide (r of the module docstring) for any prior with ``grad_energy``:
    extra drift f = x - grad E(x) (so the drift is -grad E + 2 r) and log-weight rate
    (-grad E(x) + x) . r(t, x). Knows nothing of the prior's modes."""

    def field(t, x):
        extra = x - prior.grad_energy(x)
        return extra, (extra * guiding_term(t, x, z1, T)).sum(1)

    return field


def mixture_guide(prior: GaussianMixture, z1: torch.Tensor, T: float, dtype: torch.dtype = torch.float32) -> Field:
    """A guide that knows the modes of a Gaussian mixture prior sum_k pi_k N(m_k, diag s_k^2).

    Each component k has its own Langevin diffusion, an OU process dX = -(X - m_k) / s_k^2 dt
    + sqrt(2) dW with a Gaussian transition density g_k(t, x) = p_k(T, z1 | t, x) (per
    coordinate: mean m + (x - m) a, a = e^{-tau / s^2}, variance v = s^2 (1 - a^2)). The
    twisting function h = sum_k pi_k g_k guesses the true p(T, z1 | t, x); the proposal is
    the h-transform dX = [-grad E + 2 grad log h] dt + sqrt(2) dW, and the weight of a path is

        log w = integral_0^T (d/dt h + L h) / h ds = integral_0^T sum_k gamma_k (b - b_k) . grad log g_k ds

    (L = b . grad + Laplacian, b = -grad E the prior's drift, b_k = -(x - m_k) / s_k^2,
    gamma_k = pi_k g_k / h; each g_k solves its own backward equation, which leaves only the
    drift difference). For one component (a diagonal Gaussian prior) every weight is 1: the
    exact bridge. Returned as ``integrate``'s extra drift f = -grad E + x + 2 (grad log h - r)
    over the OU bridge's own drift -x + 2 r. Cost O(P K n) per step (matrix products), in
    ``dtype`` (float32 by default: half the time of float64; the log weights are summed in
    float64 by ``integrate``); the per-step constants, O(K n), in float64.
    """
    means, scales = prior.means.double(), prior.scales.double()
    rates = scales ** -2                                        # theta_k = 1 / s_k^2, (K, n)
    log_pi = prior.weights.double().log()
    k = log_pi.numel()
    z1 = z1.double()
    # The prior's own responsibilities and drift b = -grad E = sum_j rho_j theta_j (m_j - x),
    # from the same features (x, x^2) as the guide's: one matrix product for all (P, 3K) logits.
    prior_offset = (log_pi - scales.log().sum(1) - 0.5 * (means * means * rates).sum(1)).to(dtype)
    prior_rows = torch.cat([rates * means, -0.5 * rates], 1)   # (K, 2n) against (x, x^2)
    prior_back = torch.cat([rates * means, rates], 1).to(dtype)  # rho @ this = (sum rho theta m, sum rho theta)

    def field(t, x):
        n = x.shape[1]
        # The per-step constants, (K, n), in float64; the (P, n) work in ``dtype``.
        tau = T - t
        a = torch.exp(-rates * tau)
        v = scales ** 2 * -torch.expm1(-2.0 * rates * tau)
        u = z1 - means * (1.0 - a)                              # z1 - m (1 - a): residual = u - a x
        pull, stiff = a * u / v, a * a / v                      # grad log g_k = pull - stiff x
        # sum_k gamma_k b_k . grad log g_k with b_k = theta_k (m_k - x), expanded in (x, x^2).
        rows = torch.cat([prior_rows,
                          torch.cat([pull, -0.5 * stiff], 1),
                          torch.cat([-rates * (pull + means * stiff), rates * stiff], 1)]).T.to(dtype)
        guide_offset = (log_pi - 0.5 * v.log().sum(1) - 0.5 * (u * u / v).sum(1)).to(dtype)
        own_offset = (rates * means * pull).sum(1).to(dtype)
        guide_back = torch.cat([pull, stiff], 1).to(dtype)
        decay = math.exp(-tau)
        r_gain = decay / -math.expm1(-2.0 * tau)               # r = (z1 - x decay) r_gain
        r_pull = (2.0 * r_gain * z1).to(dtype)

        y = x.to(dtype)
        features = torch.cat([y, y * y], 1) @ rows              # (P, 3K)
        rho = torch.softmax(features[:, :k] + prior_offset, dim=1)
        gamma = torch.softmax(features[:, k:2 * k] + guide_offset, 1)
        own = (gamma * (features[:, 2 * k:] + own_offset)).sum(1)
        back = rho @ prior_back
        drift = torch.addcmul(back[:, :n], y, back[:, n:], value=-1.0)    # b = -grad E
        guided = gamma @ guide_back
        score = torch.addcmul(guided[:, :n], y, guided[:, n:], value=-1.0)  # grad log h, (P, n)
        rate = (drift * score).sum(1) - own
        # drift + x + 2 (score - r), r = (z1 - x decay) r_gain
        extra = torch.add(drift, score, alpha=2.0).sub_(r_pull).add_(y, alpha=1.0 + 2.0 * decay * r_gain)
        return extra, rate

    return field


def resolved_prior(prior: Any, n: int, components: int) -> Prior:
    """A Langevin sampler's prior as an object for ``n``-number latents: the standard normal for
    its name; a prior object checked against n; a name of a fitted prior is refused with how to
    get one (``components``: the mixture's, for the message)."""
    if prior == "standard-normal":
        return StandardNormal()
    if isinstance(prior, str):
        raise ValueError(
            f"prior {prior!r} is fitted to a model's encoded data: pass a prior object, e.g. "
            f"prior=lb.priors.for_model(vae, kind={PRIOR_KINDS[prior]!r}, components={components}), "
            "or sample through lb.interpolate, which fits it for its model")
    dim = getattr(prior, "dim", None)
    if dim is not None and dim != n:
        raise ValueError(f"the prior is {dim}-dimensional but the latents have {n} values")
    return prior


def _draw_noise(particles: int, n: int, generator, store: list | None = None) -> Callable[[int], torch.Tensor]:
    """Fresh standard normal increments per step, drawn in float32 (half the memory when they
    are kept for pCN moves) and used in float64; appended to ``store`` when one is given."""

    def noise(k: int) -> torch.Tensor:
        draw = torch.randn((particles, n), generator=generator, dtype=torch.float32)
        if store is not None:
            store.append(draw)
        return draw.double()

    return noise


def _step_reporter(callback: Callback | None, offset: int, total: int, message: str):
    """``integrate``'s per-step callback as a sampler callback: (offset + k, total, message)."""
    if callback is None:
        return None
    return lambda k: callback(offset + k, total, message)


def _steps_param(default: int) -> Param:
    return Param("steps", "int", default, "Euler-Maruyama steps over [0, T] (grid refined toward T; "
                 "at least one per frame interval): more is more accurate and slower", low=1, high=100_000)


@register(
    "ou-sde",
    "The OU bridge of eq. (4) integrated as an SDE (Euler-Maruyama on a grid refined toward T); "
    "agrees in distribution with `ou`.",
    (time_param(0.5), _steps_param(200)),
)
class OUSDEBridge(Sampler):
    """OU bridge integrated as the SDE of eq. (4), dZ = [-Z + 2 r(t, Z)] dt + sqrt(2) dW, by the
    integrator ``langevin`` uses (``integrate``). That integrator solves the OU bridge's own
    linear dynamics exactly over each step, so these paths agree in distribution with ``ou``
    at any number of steps: what ``ou-sde`` checks is the SDE route itself (grid, frame
    bookkeeping, landing on z1, noise), the part ``langevin`` shares. Cost O(steps n K)."""

    def __init__(self, T: float = 0.5, steps: int = 200):
        super().__init__(T)
        self.steps = _steps_param(200).check(steps)

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "steps": self.steps}

    def mean(self, times: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        """Mean of the exact OU bridge this integrates (``OUBridge.mean``), float64 ``(M, *shape)``."""
        return OUBridge(self.T).mean(times, z0, z1)

    def covariance(self, times: torch.Tensor) -> torch.Tensor:
        """Covariance of the exact OU bridge this integrates (``OUBridge.covariance``), float64
        ``(M, M)``."""
        return OUBridge(self.T).covariance(times)

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):
        grid, frame_index = refined_grid(times, self.T, self.steps)
        steps = grid.numel() - 1

        # eq. (4) is the guided OU bridge itself: no extra drift, no weights.
        run = integrate(None, z0, z1, grid, frame_index, n_paths, _draw_noise(n_paths, z0.numel(), generator),
                        self.T, callback=_step_reporter(callback, 0, steps, "integrating"))
        return run.frames, {"steps": steps}


# "fitted" is the full Gaussian of the model's encoded data, as for ``ou`` and ``gp``.
PRIOR_CHOICES = ("standard-normal", "fitted", "diagonal", "mixture")
PRIOR_KINDS = {"fitted": "gaussian", "diagonal": "diagonal", "mixture": "mixture"}

_SMC = ("algorithm", ("smc",))
# The particle sampler's own parameters (``langevin`` with ``algorithm="smc"``).
SMC_PARAMS = (
    Param("particles", "int", 2048, "particles of the sequential Monte Carlo's first round: more is more "
          "accurate, cost grows linearly", low=1, high=100_000, when=_SMC),
    Param("target_ess", "float", 1.5, "every frame's effective sample size should reach this (about 1: "
          "the path rests on a single particle there): below it the run starts again with twice the "
          "particles (up to max_particles), and warns if still below (0: never)", low=0.0, high=100_000.0,
          when=_SMC),
    Param("max_particles", "int", 2048, "most particles of a round (at least particles): above particles, "
          "rounds double the particles until target_ess is reached (cost up to twice max_particles)", low=1,
          high=1_000_000, when=_SMC),
    Param("grid", "choice", "uniform", "integration steps: uniform (equal steps) or refined (shrinking "
          "toward T)", choices=("uniform", "refined"), when=_SMC),
    Param("guide", "choice", "modes", "what pulls the particles toward z1: modes (the prior's own Gaussian "
          "components, when it has them: a guide that knows the modes) or ou (the OU bridge's pull)",
          choices=("modes", "ou"), when=_SMC),
    Param("ess_threshold", "float", 0.5, "resample when the effective sample size falls below this "
          "fraction of the particles (0: never, plain importance sampling)", low=0.0, high=1.0, when=_SMC),
    Param("pcn_moves", "int", 0, "preconditioned Crank-Nicolson refinement sweeps on the driving "
          "noise after the last step (each costs one more integration)", low=0, high=1000, when=_SMC),
    Param("pcn_step", "float", 0.3, "pCN step size beta: proposals sqrt(1 - beta^2) W + beta xi",
          low=0.0, high=1.0, low_inclusive=False, when=_SMC),
)

# What a particle step costs besides its particles, in work units (at most about 35 ns each),
# before the prior factor: measured at one particle on 2 CPU cores, 0.35 ms a step with the
# standard normal prior, 0.94 ms with a mixture of 8 components (counted: 25,000 x 1.25 units,
# 1.1 ms), up to 1.7 ms a pCN sweep step with 64 components (counted: 25,000 x 3, 2.6 ms).
# Leaving it out let 1-particle runs of 2,000 steps x 21 sweeps through 8 keyframes pass as
# 9 % of the limit and take 370 s.
STEP_WORK = 25_000


def prior_factor(params: dict[str, Any], latent_size: int) -> float:
    """How much a prior's energy gradient multiplies a particle's cost: 1 + components / 32 for
    a mixture (measured: 24, 31 and 73 ns a particle and latent number a step with the standard
    normal, 8 and 64 components), 1 + latent size / 32 for the fitted full Gaussian (a matrix
    product per particle, counted as that many components), 1 otherwise."""
    prior = params.get("prior")
    if prior == "mixture":
        return 1 + params.get("components", 8) / 32
    if prior == "fitted":
        return 1 + latent_size / 32
    return 1.0


def smc_work_units(params: dict[str, Any], latent_size: int, runs: int = 1, paths: int = 1) -> int:
    """What the particle sampler with these parameters costs at most, in work units (about 10 to
    35 ns each on one CPU core): steps x (1 + pcn_moves) x paths x runs x prior factor x (2 x
    max_particles x latent size + ``STEP_WORK``), each path its own particle system, each run (a
    keyframes segment) its own integration. Rounds double the particles up to max_particles:
    about twice the largest round in all."""
    particles = 2 * max(params["particles"], params.get("max_particles", 0))
    rounds = params.get("steps", 1) * (1 + params.get("pcn_moves", 0)) * paths * runs
    return int(rounds * prior_factor(params, latent_size) * (particles * latent_size + STEP_WORK))


class SMCLangevinBridge(Sampler):
    """Bridge of the Langevin diffusion of ``prior`` by guided proposals and sequential Monte
    Carlo (see the module docstring for the weights).

    prior: a ``lb.priors.Prior`` (anything with ``grad_energy(z (B, n)) -> (B, n)``), or a
    name: ``"standard-normal"``, or ``"diagonal"`` / ``"mixture"`` (with ``components``), which
    name a prior fitted to a model's encoded data: ``lb.interpolate`` and the other pipeline
    functions fit it for their model (``lb.pipeline.resolve_prior``); ``run`` refuses a name it
    cannot fit. ``fitted_prior`` says which fit a name asks for.

    ``run`` integrates ``particles`` weighted paths over ``steps`` steps (cost O(particles steps
    n)), resampling when the effective sample size drops below ``ess_threshold * particles``;
    when some interior frame's effective sample size (``frame_ess``) is below ``target_ess``
    it runs again, afresh, with twice the particles, up to ``max_particles`` (memory
    O(particles frames n) of the last round). With ``pcn_moves`` > 0 the last round's
    particles are resampled to equal weights and refined by that many pCN sweeps (memory
    O(particles steps n) for the noise). The ``n_paths`` returned are drawn from the weighted
    particles of the last round.

    Its diagnostics: ``frame_ess`` (per interior frame, the final weights pooled over the
    particles that share that frame: for error bars) and ``min_frame_ess``;
    ``distinct_paths`` (per interior frame, how many different values the returned paths
    hold); ``ess`` (final, before pCN) and ``ess_fraction``; ``particles`` and ``rounds``;
    ``resamplings``, ``steps``, ``ess_history``/``ess_times`` (at each frame time after 0)
    and, with pCN moves, ``pcn_acceptance``; ``warnings`` when the target was not reached or
    the returned paths share frames. The callback counts a round's integration steps (pCN
    sweeps included); each round starts the count again.
    """

    name = "langevin"

    def __init__(self, T: float = 1.0, prior: Any = "standard-normal", particles: int = 2048,
                 target_ess: float = 1.5, max_particles: int = 2048, steps: int = 200,
                 ess_threshold: float = 0.5, pcn_moves: int = 0, pcn_step: float = 0.3, components: int = 8,
                 guide: str = "modes", grid: str = "uniform"):
        # Built by ``langevin`` (algorithm="smc") from its checked configuration.
        super().__init__(T)
        self.prior, self.particles, self.target_ess, self.max_particles = prior, particles, target_ess, max_particles
        self.steps, self.ess_threshold, self.pcn_moves, self.pcn_step = steps, ess_threshold, pcn_moves, pcn_step
        self.components, self.guide, self.grid = components, guide, grid

    def params(self) -> dict[str, Any]:
        return {"T": self.T, "prior": self.prior, "particles": self.particles, "target_ess": self.target_ess,
                "max_particles": self.max_particles, "steps": self.steps,
                "ess_threshold": self.ess_threshold, "pcn_moves": self.pcn_moves, "pcn_step": self.pcn_step,
                "components": self.components, "guide": self.guide,
                "grid": self.grid}

    def memory_bytes(self, frames: int, n: int, paths: int = 1) -> int:
        """About the most memory one ``run`` holds at once, in bytes, for ``paths`` paths of
        ``frames`` frames of an ``n``-number latent (one particle system a path), in the
        largest round that ``max_particles`` allows: the particles' frames (with one copy
        while resampling) and, with pCN moves, the stored driving noise with its proposal and
        trial copies.
        Calibrated on measured peaks (256 particles, 240 frames, n = 1024: 246 MiB; with 2
        sweeps the noise and its copies about 5.6 times the noise alone)."""
        steps = max(self.steps, frames - 1) + frames  # the refined grid: about steps, plus one per frame
        largest = self.particles * 2 ** int(math.log2(self.max_particles / self.particles))  # the last round
        held = 1.25 * (frames - 2) + (6.0 * steps if self.pcn_moves else 0.0)
        return int(4 * n * paths * largest * held)

    def _resolved_prior(self, n: int):
        return resolved_prior(self.prior, n, self.components)

    def _guide(self, prior, z1) -> Field:
        """The proposal's drift and weights: the prior's own components when it has them
        (``mixture_guide``; a diagonal Gaussian is a mixture of one), else the OU guide."""
        if self.guide == "modes" and isinstance(prior, DiagonalGaussian):
            prior = GaussianMixture([1.0], prior.mean[None], prior.std[None])
        if self.guide == "modes" and isinstance(prior, GaussianMixture):
            return mixture_guide(prior, z1, self.T)
        return ou_guide(prior, z1, self.T)

    def _sample_interior(self, z0, z1, times, n_paths, generator, callback):
        n = z0.numel()
        prior = self._resolved_prior(n)
        grid, frame_index = refined_grid(times, self.T, self.steps, toward_T=self.grid == "refined")
        steps = grid.numel() - 1
        particles = self.particles
        per_round = steps * (1 + self.pcn_moves)
        if self.pcn_moves:
            size = n_paths * self.max_particles * (grid.numel() - 2) * n * 4
            if size > _MAX_NOISE_BYTES:
                raise ValueError(f"pcn_moves keep the driving noise, paths x particles x steps x n float32 = "
                                 f"{size / 2**30:.1f} GiB here (limit {_MAX_NOISE_BYTES / 2**30:.0f} GiB): "
                                 "use fewer paths, particles or steps, or pcn_moves = 0")

        drift = self._guide(prior, z1)

        rounds = []
        while True:  # rounds of n_paths SMC systems each, doubling the particles until the target holds
            count = particles * 2 ** len(rounds)
            stored: list | None = [] if self.pcn_moves else None
            report = _step_reporter(callback, 0, per_round,
                                    f"sequential Monte Carlo, {'' if n_paths == 1 else f'{n_paths} x '}{count} particles")
            run = self._round(drift, z0, z1, grid, frame_index, count, n_paths, generator, stored, report)
            rounds.append(run)
            frame_ess = run.frame_ess().min(0).values.tolist() if times.numel() > 2 else []
            if self.target_ess == 0 or not frame_ess or min(frame_ess) >= self.target_ess \
                    or 2 * count > self.max_particles:
                break
        frames, log_weights, acceptance = run.frames, run.log_weights, None
        if self.pcn_moves:
            frames, acceptance = self._refine(run, _ancestral_noise(stored, run.resamplings), drift, z0, z1, grid,
                                              frame_index, generator, callback, per_round)
            log_weights = torch.zeros_like(log_weights)  # equal weights after the moves
        # One path from each system, drawn by its final weights: n_paths independent draws.
        chosen = torch.multinomial(torch.softmax(log_weights, 1), 1, generator=generator)[:, 0]
        paths = frames[chosen + torch.arange(n_paths) * count]
        diagnostics = self._diagnostics(rounds, frame_ess, paths, times, steps, n_paths)
        if acceptance is not None:
            diagnostics["pcn_acceptance"] = acceptance
        return paths, diagnostics

    def _round(self, drift, z0, z1, grid, frame_index, particles, systems, generator, stored=None,
               callback=None) -> Integration:
        """One round: ``systems`` independent SMC systems of ``particles`` particles each."""
        noise = _draw_noise(systems * particles, z0.numel(), generator, stored)
        return integrate(drift, z0, z1, grid, frame_index, particles, noise, self.T,
                         resample_below=self.ess_threshold, generator=generator, callback=callback, groups=systems)

    def particle_systems(self, z0: torch.Tensor, z1: torch.Tensor, frames: int, systems: int,
                         generator: torch.Generator | None = None) -> Integration:
        """``systems`` independent SMC systems of ``particles`` particles each at these settings
        (one round, no pCN moves), all their weighted particles: for estimates that use every
        particle (sum_p softmax(log_weights)[g, p] f(frames[g P + p]) estimates E f at each
        frame from system g alone), where ``run`` returns one path per system.
        z0, z1: ``(n,)`` latents (flattened); returns ``integrate``'s ``Integration`` (float32
        frames ``(systems particles, frames - 2, n)``)."""
        z0, z1 = z0.reshape(-1).double(), z1.reshape(-1).double()
        times = self.times(frames)
        grid, frame_index = refined_grid(times, self.T, self.steps, toward_T=self.grid == "refined")
        drift = self._guide(self._resolved_prior(z0.numel()), z1)
        return self._round(drift, z0, z1, grid, frame_index, self.particles, systems, generator)

    def _diagnostics(self, rounds, frame_ess, paths, times, steps, n_paths) -> dict[str, Any]:
        """What a run found (its last round), with a warning in words when its numbers are too
        low to trust. Each path comes from its own particle system: the effective sample
        sizes and resamplings are the weakest system's (the smallest ESS, the most
        resamplings)."""
        run = rounds[-1]
        count = run.log_weights.shape[1]
        distinct = [int(torch.unique(paths[:, j], dim=0).shape[0]) for j in range(paths.shape[1])]
        inner = times[1:-1].tolist()
        ess_history = run.ess.min(1).values.tolist()
        resampled = torch.stack([low for _, _, low in run.resamplings]).sum(0) if run.resamplings else None
        diagnostics = {
            "ess": ess_history[-1], "ess_fraction": ess_history[-1] / count, "frame_ess": frame_ess,
            "min_frame_ess": min(frame_ess) if frame_ess else float(count), "distinct_paths": distinct,
            "particles": count, "rounds": len(rounds),
            "resamplings": int(resampled.max()) if resampled is not None else 0, "steps": steps,
            "ess_history": ess_history, "ess_times": times[1:].tolist(),
        }
        warnings = []
        # Equal weights (a Gaussian prior's guide is its exact bridge): every particle is an
        # exact draw, whatever the frame ESS, so a low one is no warning.
        weights_vary = bool(torch.any(run.path_log_weights != run.path_log_weights[0]))
        if frame_ess and self.target_ess and min(frame_ess) < self.target_ess and weights_vary:
            worst = min(range(len(frame_ess)), key=frame_ess.__getitem__)
            warnings.append(
                f"the particles hold an effective sample size of only {frame_ess[worst]:.1f} at t = "
                f"{inner[worst]:.3g} (target {self.target_ess:g}) with {count} particles a path: a path rests "
                "on about that many particles there and may not follow the bridge; raise max_particles, or "
                "lower T")
        if distinct and min(distinct) < n_paths:
            worst = min(range(len(distinct)), key=distinct.__getitem__)
            warnings.append(
                f"these {n_paths} paths share frames: only {distinct[worst]} different ones at t = "
                f"{inner[worst]:.3g}; raise particles or target_ess for independent paths")
        if warnings:
            diagnostics["warnings"] = warnings
        return diagnostics

    def _refine(self, run: Integration, noise: torch.Tensor, drift, z0, z1, grid, frame_index, generator,
                callback, total) -> tuple[torch.Tensor, float]:
        """Resample each system's weighted particles to equal weights, then ``pcn_moves``
        sweeps of preconditioned Crank-Nicolson on each particle's driving noise W (L - 1, G P,
        n): W' = sqrt(1 - beta^2) W + beta xi keeps the Gaussian law of W, so accepting with
        probability min(1, w(W') / w(W)) leaves the bridge's path law invariant (the target
        is the law of the guided paths reweighted by w). Each particle moves on its own, so
        the systems stay independent. Returns the float32 frames (G P, M - 2, n) and the mean
        acceptance rate."""
        groups, particles = run.log_weights.shape
        steps = grid.numel() - 1
        keep = (systematic_resample(run.log_weights, particles, generator)
                + (torch.arange(groups) * particles)[:, None]).reshape(-1)
        noise, frames, log_w = noise[:, keep], run.frames[keep], run.path_log_weights[keep]
        shrink, beta = math.sqrt(1.0 - self.pcn_step ** 2), self.pcn_step
        accepted = 0
        for sweep in range(1, self.pcn_moves + 1):
            proposal = shrink * noise + beta * torch.randn(noise.shape, generator=generator, dtype=torch.float32)
            trial = integrate(drift, z0, z1, grid, frame_index, particles, lambda k: proposal[k].double(), self.T,
                              callback=_step_reporter(callback, sweep * steps, total, f"pCN sweep {sweep}"),
                              groups=groups)
            log_u = torch.rand(groups * particles, generator=generator, dtype=torch.float64).log()
            accept = log_u < trial.path_log_weights - log_w
            noise[:, accept] = proposal[:, accept]
            frames[accept] = trial.frames[accept]
            log_w = torch.where(accept, trial.path_log_weights, log_w)
            accepted += int(accept.sum())
        return frames, accepted / (groups * particles * self.pcn_moves)


def _ancestral_noise(stored: list, resamplings: list) -> torch.Tensor:
    """Each final particle's own driving noise, float32 (L - 1, G P, n): the increments its
    ancestors drew, traced back through the resamplings (ancestors after step k index the
    particles that drew steps <= k)."""
    ancestors_after = {k: ancestors for k, ancestors, _ in resamplings}
    lineage = torch.arange(stored[0].shape[0]) if stored else torch.zeros(0, dtype=torch.long)
    out = []
    for k in reversed(range(len(stored))):
        if k in ancestors_after:
            lineage = ancestors_after[k][lineage]
        out.append(stored[k][lineage])
    return torch.stack(out[::-1]) if out else torch.zeros(0)
