"""Keyframes: paths through several latents (docs/methods.md, "Keyframes").

The Gaussian-process paths are checked against conditioning done here, independently, with
numpy: the joint Gaussian of the process at every frame time and every key time, conditioned
on the keys by the block formula. Latent coordinates are independent and identically
distributed given the keys, so keys that are constant across n coordinates give n
independent draws of each frame from one call. Statistical tests use fixed seeds.
"""

import math

import numpy as np
import pytest
import torch

import latent_bridge as lb
from latent_bridge.bridges import GPBridge
from latent_bridge.kernels import Exponential

SAMPLERS = [
    ("linear", {}),
    ("slerp", {}),
    ("ou", {"T": 1.5}),
    ("gp", {}),
    ("gp", {"kernel": "periodic", "period": 7.0, "length_scale": 0.7}),
    ("gp", {"kernel": "matern", "nu": 1.5}),
    ("ou-sde", {"steps": 40}),
    ("langevin", {"steps": 40, "sweeps": 4}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in p.items()) for name, p in SAMPLERS]


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def random_keys(count, shape, seed=1):
    return torch.randn((count, *shape), generator=seeded(seed))


def chained(sampler, keys, frames_per_segment, n_paths=1, seed=0):
    """The same keys through independent two-point bridges, one per segment, joined at the keys."""
    g = seeded(seed)
    pieces = [sampler.sample(keys[j], keys[j + 1], frames_per_segment, n_paths, generator=g)
              for j in range(len(keys) - 1)]
    return torch.cat([pieces[0]] + [piece[:, 1:] for piece in pieces[1:]], dim=1)


# --- an independent reference: numpy conditioning of the joint Gaussian of all times -----------


def numpy_kernel(name, **p):
    """k(h) in numpy, written from docs/methods.md's kernel table (not from lb.kernels)."""
    if name == "exponential":
        return lambda h: np.exp(-p["beta"] * np.abs(h) ** p["alpha"])
    if name == "periodic":
        return lambda h: np.exp(-2.0 / p["length_scale"] ** 2 * np.sin(np.pi * np.abs(h) / p["period"]) ** 2)
    if name == "matern15":
        return lambda h: (1 + math.sqrt(3) * np.abs(h) / p["length_scale"]) * np.exp(
            -math.sqrt(3) * np.abs(h) / p["length_scale"])
    raise ValueError(name)


def numpy_conditioning(k, times, key_times, key_values):
    """Mean (M,) and covariance (M, M) at ``times`` of the zero-mean GP with kernel k given its
    values at ``key_times``: the joint covariance [[S_tt, S_tk], [S_kt, S_kk]] of all times,
    conditioned by mean = S_tk S_kk^-1 y, cov = S_tt - S_tk S_kk^-1 S_kt (least squares, so a
    singular S_kk (a key implied by another) is handled without dropping anything by hand)."""
    every = np.concatenate([times, key_times])
    joint = k(every[:, None] - every[None, :])
    m = len(times)
    s_tt, s_tk, s_kk = joint[:m, :m], joint[:m, m:], joint[m:, m:]
    solved = np.linalg.lstsq(s_kk, np.column_stack([key_values, s_tk.T]), rcond=1e-12)[0]
    return s_tk @ solved[:, 0], s_tt - s_tk @ solved[:, 1:]


# (label, sampler, numpy kernel, loop, easing): the OU kernel as gp and as the chained ou
# sampler; non-Markov kernels (squared exponential, Matern 3/2); a periodic loop.
REFERENCE_CASES = [
    ("ou-kernel-gp", lambda: GPBridge(kernel=Exponential(1.0, 1.0), T=1.0),
     numpy_kernel("exponential", alpha=1.0, beta=1.0), False, "linear"),
    ("ou-chained", lambda: lb.registry.get("ou", T=1.0), numpy_kernel("exponential", alpha=1.0, beta=1.0), True,
     "linear"),
    ("squared-exponential", lambda: lb.registry.get("gp", T=1.5, alpha=2.0, beta=0.5),
     numpy_kernel("exponential", alpha=2.0, beta=0.5), False, "linear"),
    ("squared-exponential-smooth-easing", lambda: lb.registry.get("gp", T=1.5, alpha=2.0, beta=0.5),
     numpy_kernel("exponential", alpha=2.0, beta=0.5), True, "smooth"),
    ("matern-1.5", lambda: lb.registry.get("gp", kernel="matern", nu=1.5, length_scale=1.0, T=1.0),
     numpy_kernel("matern15", length_scale=1.0), False, "linear"),
    ("periodic-loop", lambda: lb.registry.get("gp", kernel="periodic", length_scale=1.0, period=4.0, T=1.0),
     numpy_kernel("periodic", length_scale=1.0, period=4.0), True, "linear"),
]
KEY_VALUES = np.array([1.2, -0.8, 0.3, 1.9])  # four keys, one value each (the same on every coordinate)


def reference_for(sampler, k, loop, easing, frames_per_segment):
    chain = np.append(KEY_VALUES, KEY_VALUES[0]) if loop else KEY_VALUES
    segments = len(chain) - 1
    u = np.linspace(0.0, 1.0, frames_per_segment)
    u = u * u * (3 - 2 * u) if easing == "smooth" else u
    times = np.concatenate([sampler.T * (j + u[:-1]) for j in range(segments)] + [[sampler.T * segments]])
    key_times = sampler.T * np.arange(len(chain))
    return times, numpy_conditioning(k, times, key_times, chain)


@pytest.mark.parametrize("label, build, k, loop, easing", REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES])
def test_draws_through_keys_match_numpy_conditioning_of_the_joint_gaussian(label, build, k, loop, easing):
    sampler, frames_per_segment, draws = build(), 6, 40_000
    times, (mean, cov) = reference_for(sampler, k, loop, easing, frames_per_segment)
    keys = torch.tensor(KEY_VALUES, dtype=torch.float32)[:, None].expand(-1, draws).contiguous()
    run = sampler.run_through(keys, frames_per_segment, generator=seeded(), loop=loop, easing=easing)
    np.testing.assert_allclose(run.times.numpy(), times, rtol=0, atol=1e-12)
    x = run.latents[0].double().numpy()  # (frames, draws)
    got_mean, centred = x.mean(axis=1), x - x.mean(axis=1, keepdims=True)
    got_cov = centred @ centred.T / (draws - 1)
    var = np.clip(np.diag(cov), 0, None)
    # Standard errors of Gaussian draws: SE(mean_i) = sqrt(C_ii / N), SE(C_ij) = sqrt((C_ii C_jj
    # + C_ij^2) / N). With ~400 entries, 5 SE keeps a false alarm near 1e-4; the keys' float32
    # rounding (1e-7) is the additive slack.
    assert np.all(np.abs(got_mean - mean) <= 5 * np.sqrt(var / draws) + 1e-6), label
    se = np.sqrt((var[:, None] * var[None, :] + cov**2) / draws)
    assert np.all(np.abs(got_cov - cov) <= 5 * se + 1e-6), label


@pytest.mark.parametrize("label, build, k, loop, easing", REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES])
def test_mean_and_covariance_through_match_numpy_conditioning(label, build, k, loop, easing):
    sampler = build()
    times, (mean, cov) = reference_for(sampler, k, loop, easing, frames_per_segment=9)
    keys = torch.tensor(KEY_VALUES)[:, None]
    got_mean = sampler.mean_through(torch.from_numpy(times), keys, loop=loop)[:, 0].numpy()
    got_cov = sampler.covariance_through(torch.from_numpy(times), len(KEY_VALUES), loop=loop).numpy()
    np.testing.assert_allclose(got_mean, mean, atol=1e-9)
    np.testing.assert_allclose(got_cov, cov, atol=1e-9)


def test_the_reference_catches_a_chain_of_bridges_for_a_smooth_kernel():
    # The statistical test above can fail: chained squared-exponential bridges (the wrong law
    # for a non-Markov kernel) miss the reference covariance across the keys.
    sampler, k = lb.registry.get("gp", T=1.5, alpha=2.0, beta=0.5), numpy_kernel("exponential", alpha=2.0, beta=0.5)
    _, (_, cov) = reference_for(sampler, k, False, "linear", 6)
    draws = 40_000
    keys = torch.tensor(KEY_VALUES, dtype=torch.float32)[:, None].expand(-1, draws).contiguous()
    x = chained(sampler, keys, 6)[0].double().numpy()
    centred = x - x.mean(axis=1, keepdims=True)
    got_cov = centred @ centred.T / (draws - 1)
    var = np.clip(np.diag(cov), 0, None)
    se = np.sqrt((var[:, None] * var[None, :] + cov**2) / draws)
    assert np.any(np.abs(got_cov - cov) > 10 * se + 1e-6)


# --- Markov against non-Markov: the chain of bridges ---------------------------------------------


def segment_blocks(frames_per_segment, segments):
    """Frame indices of each segment's interior."""
    step = frames_per_segment - 1
    return [list(range(j * step + 1, (j + 1) * step)) for j in range(segments)]


def test_ou_kernel_conditioned_on_all_keys_is_a_chain_of_independent_bridges():
    sampler, f = GPBridge(kernel=Exponential(1.0, 1.0), T=0.8), 7
    keys = random_keys(4, (3,)).double()
    times = lb.bridges.timeline(sampler.segment_times(f), 3, sampler.T)
    cov = sampler.covariance_through(times, 4)
    mean = sampler.mean_through(times, keys)
    blocks = segment_blocks(f, 3)
    local = sampler.segment_times(f)[1:-1]
    for j, block in enumerate(blocks):
        np.testing.assert_allclose(cov[block][:, block], sampler.covariance(local), atol=1e-12)
        np.testing.assert_allclose(mean[block], sampler.mean(local, keys[j], keys[j + 1]), atol=1e-12)
        for other in blocks[j + 1:]:  # frames of different segments are independent given the keys
            assert cov[block][:, other].abs().max() < 1e-12


@pytest.mark.parametrize("params", [{"alpha": 2.0, "beta": 1.0}, {"kernel": "matern", "nu": 1.5}])
def test_a_non_markov_kernel_is_not_a_chain_of_bridges(params):
    sampler, f = lb.registry.get("gp", **params), 7
    keys = random_keys(4, (3,)).double()
    times = lb.bridges.timeline(sampler.segment_times(f), 3, sampler.T)
    cov = sampler.covariance_through(times, 4)
    blocks = segment_blocks(f, 3)
    # Neighbouring segments stay correlated through the key between them (given the keys, the
    # velocity there is still random and shared), and the mean feels the keys further away.
    assert cov[blocks[0]][:, blocks[1]].abs().max() > 0.01
    local = sampler.segment_times(f)[1:-1]
    assert (sampler.mean_through(times, keys)[blocks[1]] - sampler.mean(local, keys[1], keys[2])).abs().max() > 0.01


@pytest.mark.parametrize("name, params", [s for s in SAMPLERS if s[0] in ("linear", "slerp", "ou", "ou-sde")],
                         ids=[i for s, i in zip(SAMPLERS, IDS) if s[0] in ("linear", "slerp", "ou", "ou-sde")])
def test_chained_samplers_through_two_keys_are_their_own_run(name, params):
    sampler, (z0, z1) = lb.registry.get(name, **params), random_keys(2, (16,))
    through = sampler.sample_through(torch.stack([z0, z1]), 12, n_paths=2, generator=seeded(3))
    assert torch.equal(through, sampler.sample(z0, z1, 12, n_paths=2, generator=seeded(3)))


def test_chained_samplers_are_their_segments_one_after_another():
    sampler, keys = lb.registry.get("ou", T=0.7), random_keys(4, (16,))
    assert torch.equal(sampler.sample_through(keys, 9, n_paths=2, generator=seeded(4)),
                       chained(sampler, keys, 9, n_paths=2, seed=4))


# --- the contract: shapes, exact keys, loops ------------------------------------------------------


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
@pytest.mark.parametrize("loop", [False, True], ids=["open", "loop"])
@pytest.mark.parametrize("shape", [(7,), (4, 8, 8)], ids=["vector", "sd-latent"])
def test_keys_sit_exactly_at_their_frames(name, params, loop, shape):
    keys = random_keys(3, shape)
    run = lb.registry.get(name, **params).run_through(keys, 5, n_paths=2, generator=seeded(), loop=loop)
    segments = 3 if loop else 2
    assert run.latents.shape == (2, segments * 4 + 1, *shape) and run.latents.dtype == torch.float32
    assert torch.isfinite(run.latents).all()
    assert run.diagnostics["key_frames"] == [4 * j for j in range(segments + 1)]
    for j in range(segments + 1):
        assert torch.equal(run.latents[:, 4 * j], keys[j % 3].expand(2, *shape))
    assert run.times[0] == 0 and run.times[-1] == segments * lb.registry.get(name, **params).T


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
def test_a_loop_ends_exactly_on_the_first_key(name, params):
    keys = random_keys(4, (32,))
    paths = lb.registry.get(name, **params).sample_through(keys, 6, n_paths=3, generator=seeded(), loop=True)
    assert torch.equal(paths[:, -1], paths[:, 0]) and torch.equal(paths[:, 0], keys[0].expand(3, -1))


def test_a_periodic_kernel_of_period_K_T_closes_the_loop_by_itself():
    T, n_keys = 1.5, 4
    sampler = lb.registry.get("gp", kernel="periodic", length_scale=0.8, period=n_keys * T, T=T)
    times = torch.tensor([0.5, 2.0, n_keys * T], dtype=torch.float64)
    keys = random_keys(n_keys, (5,)).double()
    # Conditioned on the K keys alone (loop=False), the process is already back at keys[0]
    # at K T, with no variance left: the period does it, no extra condition is needed.
    assert sampler.covariance_through(times, n_keys)[-1, -1].abs() < 1e-12
    assert torch.allclose(sampler.mean_through(times, keys)[-1], keys[0], atol=1e-9)
    run = sampler.run_through(keys.float(), 7, generator=seeded(), loop=True)
    assert run.diagnostics["implied_keys"] == [n_keys]


def test_other_kernels_close_a_loop_only_by_conditioning_on_the_first_key_again():
    sampler, n_keys = lb.registry.get("gp"), 4  # squared exponential
    times = torch.tensor([n_keys * sampler.T], dtype=torch.float64)
    assert sampler.covariance_through(times, n_keys)[0, 0] > 0.5  # open: far from closed
    assert sampler.covariance_through(times, n_keys, loop=True)[0, 0].abs() < 1e-12
    run = sampler.run_through(random_keys(n_keys, (5,)), 7, generator=seeded(), loop=True)
    assert "implied_keys" not in run.diagnostics


def test_smooth_easing_puts_the_frames_on_a_smoothstep_between_the_keys():
    sampler = lb.registry.get("gp", T=2.0)
    u = torch.linspace(0, 1, 9, dtype=torch.float64)
    assert torch.equal(sampler.segment_times(9, "smooth"), 2.0 * (3 * u**2 - 2 * u**3))
    run = sampler.run_through(random_keys(3, (4,)), 9, generator=seeded(), easing="smooth")
    steps = torch.diff(run.times)
    assert steps[0] < steps[3] and steps[7] < steps[4] and steps[8] < steps[11]  # slow into and out of keys


@pytest.mark.parametrize("name, params", SAMPLERS, ids=IDS)
def test_same_seed_same_paths_through_keys(name, params):
    sampler, keys = lb.registry.get(name, **params), random_keys(3, (8,))
    first = sampler.sample_through(keys, 6, n_paths=2, generator=seeded(9), loop=True)
    assert torch.equal(first, sampler.sample_through(keys, 6, n_paths=2, generator=seeded(9), loop=True))


# --- smooth through the keys: the velocity jump -----------------------------------------------------


def velocity_jumps(latents, times):
    """Root mean square over paths and coordinates of the jump of the finite-difference
    velocity at each interior frame i, (z_{i+1} - z_i) / dt_i - (z_i - z_{i-1}) / dt_{i-1}:
    float64 ``(frames - 2,)``, entry i - 1 for frame i."""
    z = latents.double().reshape(*latents.shape[:2], -1)
    velocity = torch.diff(z, dim=1) / torch.diff(times)[None, :, None]
    return torch.diff(velocity, dim=1).pow(2).mean(dim=(0, 2)).sqrt()


@pytest.mark.parametrize("params", [{"alpha": 2.0, "beta": 1.0}, {"kernel": "matern", "nu": 2.5}])
def test_a_smooth_kernel_passes_the_keys_without_a_kink_unlike_chained_bridges(params):
    sampler, f, n = lb.registry.get("gp", **params), 33, 4000
    keys = random_keys(4, (n,))
    run = sampler.run_through(keys, f, generator=seeded())
    at_keys = [32 - 1, 64 - 1]  # interior keys' frames, as entries of velocity_jumps
    elsewhere = [i for i in range(run.times.numel() - 2) if i not in at_keys]
    joint = velocity_jumps(run.latents, run.times)
    chain = velocity_jumps(chained(sampler, keys, f), run.times)
    # Each entry is a root mean square over 4,000 coordinates: relative error about 1 %.
    # Jointly, the jump at a key is that of any other frame (the second derivative times dt);
    # chained, the two bridges leave the key with independent velocities: a kink many times larger.
    assert joint[at_keys].max() < 1.2 * joint[elsewhere].mean()
    assert chain[at_keys].min() > 5 * chain[elsewhere].mean()


def test_a_periodic_loop_is_as_smooth_at_its_seam_as_anywhere():
    T, n_keys, f = 2.0, 4, 33
    sampler = lb.registry.get("gp", kernel="periodic", length_scale=0.5, period=n_keys * T, T=T)
    run = sampler.run_through(random_keys(n_keys, (4000,)), f, generator=seeded(), loop=True)
    # Unroll the seam: the frames after the start, then the loop once more across frame 0.
    latents = torch.cat([run.latents[:, -3:-1], run.latents[:, :3]], dim=1)
    times = torch.cat([run.times[-3:-1] - n_keys * T, run.times[:3]])
    seam = velocity_jumps(latents, times)[1]
    assert seam < 1.2 * velocity_jumps(run.latents, run.times).mean()


# --- progress and diagnostics ---------------------------------------------------------------------


def test_chained_diagnostics_and_progress_come_per_segment():
    sampler = lb.registry.get("langevin", algorithm="smc", particles=16, max_particles=16, steps=30)  # one round a segment
    calls = []
    run = sampler.run_through(random_keys(3, (4,)), 5, generator=seeded(), loop=True,
                              callback=lambda done, total, message: calls.append((done, total, message)))
    assert len(run.diagnostics["segments"]) == 3
    assert all("ess" in segment for segment in run.diagnostics["segments"])
    totals = {total for _, total, _ in calls}
    assert len(totals) == 1 and calls[-1][0] == calls[-1][1]
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)
    assert calls[0][2].startswith("segment 1 of 3: ") and calls[-1][2].startswith("segment 3 of 3: ")


def test_slerp_warnings_name_their_segment():
    z = random_keys(1, (8,))[0]
    run = lb.registry.get("slerp").run_through(torch.stack([z, 2 * z, -z]), 5)
    assert run.diagnostics["warnings"][0].startswith("segment 1: ")


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.sample_through([torch.zeros(3), torch.ones(3)], 5), "keys must be a torch tensor"),
        (lambda s: s.sample_through(torch.zeros(1, 3), 5), r"at least two latents, shape \(K >= 2"),
        (lambda s: s.sample_through(torch.zeros(3), 5), r"got shape \(3,\)"),
        (lambda s: s.sample_through(torch.tensor([[0.0], [math.nan]]), 5), "keys must be finite"),
        (lambda s: s.sample_through(torch.zeros(2, 3), 1), "frames_per_segment must be a whole number >= 2"),
        (lambda s: s.sample_through(torch.zeros(2, 3), 5.5), "frames_per_segment must be a whole number"),
        (lambda s: s.sample_through(torch.zeros(2, 3), 5, n_paths=0), "n_paths must be a whole number >= 1"),
        (lambda s: s.sample_through(torch.zeros(2, 3), 5, loop="yes"), "loop must be true or false"),
        (lambda s: s.run_through(torch.zeros(2, 3), 5, easing="cubic"), "easing must be one of linear, smooth"),
    ],
)
@pytest.mark.parametrize("name", ["ou", "gp", "linear"])
def test_bad_keyframe_arguments_raise_a_clear_error(name, call, message):
    with pytest.raises(ValueError, match=message):
        call(lb.registry.get(name))


def test_keys_a_period_apart_must_be_equal():
    sampler = lb.registry.get("gp", kernel="periodic", period=2.0, T=2.0)
    with pytest.raises(ValueError, match=r"keys 1 and 2 .* must be equal"):
        sampler.sample_through(random_keys(3, (4,)), 5)
    same = random_keys(1, (4,)).expand(3, -1)
    assert torch.isfinite(sampler.sample_through(same, 5, generator=seeded())).all()


def test_keys_nearly_a_period_apart_are_refused():
    # Keys 0 and 2 sit 4.02 apart under a period of 4: nearly the same value of the process,
    # so a path through two different values there swings far outside them (weights of 17).
    sampler = lb.registry.get("gp", kernel="periodic", period=4.0, T=2.01)
    with pytest.raises(ValueError, match=r"mean weights reach 17.* change T \(key j sits at j T = 2.01 j\)"):
        sampler.sample_through(random_keys(3, (3,)), 5)
    assert torch.isfinite(lb.registry.get("gp", kernel="periodic", period=4.0, T=2.1).sample_through(
        random_keys(3, (3,)), 5, generator=seeded())).all()


def test_a_joint_path_longer_than_the_largest_factorisation_is_refused():
    frames_per_segment = lb.bridges.MAX_JOINT_FRAMES // 2 + 2
    with pytest.raises(ValueError, match="at most 8192 frames"):
        lb.registry.get("gp").sample_through(random_keys(3, (2,)), frames_per_segment)


# --- the pipeline: lb.keyframes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return lb.models.load_cached("digits")


@pytest.fixture(scope="module")
def four(digits):
    return digits.example_images()[:4]


def encoded(vae, paths):
    return torch.cat([vae.encode(lb.data.load_image(p, size=vae.image_size, channels=vae.channels)[None])
                      for p in paths])


LANGEVIN_CASES = {"langevin": {"prior": "mixture", "algorithm": "path-mcmc", "steps": 40, "sweeps": 4},
                  "langevin-path-smc": {"prior": "mixture", "steps": 40, "population": 4, "islands": 2, "moves": 2,
                                        "temperatures": 4}}   # auto's algorithm for a mixture, small


@pytest.mark.parametrize("case", ["gp", "ou", "slerp", "langevin", "langevin-path-smc"])
def test_keyframes_pass_exactly_through_every_encoded_image(digits, four, case):
    name = case.split("-path")[0]
    sampler = lb.registry.get(name, **LANGEVIN_CASES.get(case, {}))
    result = lb.keyframes(digits, four, sampler, frames_per_segment=7, n_paths=2, loop=True, seed=3)
    assert result.n_frames == lb.pipeline.keyframe_count(4, 7, loop=True) == 4 * 6 + 1
    assert result.key_frames == (0, 6, 12, 18, 24)
    keys = encoded(digits, four)
    for j, frame in enumerate(result.key_frames):
        assert torch.equal(result.latents[:, frame], keys[j % 4].expand(2, -1))
    assert result.frames.shape == (2, 25, 32, 32, 3) and result.method == name
    assert result.diagnostics["loop"] is True and result.diagnostics["frames_per_segment"] == 7


def test_keyframe_images_are_the_decoded_keys(digits, four):
    result = lb.keyframes(digits, four[:3], lb.registry.get("gp"), frames_per_segment=5, n_paths=2)
    for j, frame in enumerate(result.key_frames):
        alone = lb.pipeline.to_uint8(digits.decode(encoded(digits, four[j:j + 1])))[0]
        # Batch size may change the last float bit of a convolution: allow one grey level.
        assert np.abs(result.frames[:, frame].astype(int) - alone).max() <= 1


def test_hold_rests_on_each_key_and_a_loop_once_at_its_seam(digits, four):
    gp = lb.registry.get("gp")
    plain = lb.keyframes(digits, four[:3], gp, frames_per_segment=5, loop=True, seed=1)
    held = lb.keyframes(digits, four[:3], gp, frames_per_segment=5, loop=True, seed=1, hold=2)
    assert held.n_frames == plain.n_frames + 3 * 2 == lb.pipeline.keyframe_count(3, 5, True, 2)
    assert held.key_frames == (0, 6, 12, 18)
    for start in held.key_frames[:-1]:  # each key shown three times in a row
        assert torch.equal(held.latents[:, start:start + 3], held.latents[:, start:start + 1].expand(-1, 3, -1))
    assert torch.equal(held.latents[:, -1], held.latents[:, 0]) and not torch.equal(held.latents[:, -2],
                                                                                    held.latents[:, -1])
    # The moving frames are those of the run without holds: the same draws, only repeated.
    moving = torch.ones(held.n_frames, dtype=torch.bool)
    for start in held.key_frames[:-1]:
        moving[start + 1:start + 3] = False
    assert torch.equal(held.latents[:, moving], plain.latents)


def test_smooth_easing_slows_into_the_keys(digits, four):
    result = lb.keyframes(digits, four[:3], lb.registry.get("ou"), frames_per_segment=9, easing="smooth")
    steps = np.diff(result.times)
    assert steps[0] < steps[3] and steps[7] < steps[4]
    assert result.diagnostics["easing"] == "smooth"


def test_keyframes_stream_and_report_progress_sampler_first(digits, four):
    calls = []
    result = lb.keyframes(digits, four, lb.registry.get("ou-sde", steps=20), frames_per_segment=6, n_paths=2,
                          keep_frames=False, progress=lambda done, total, message: calls.append((done, total, message)))
    assert result.frames is None and result.endpoint_frames.shape == (2, 32, 32, 3)
    streamed = np.concatenate(list(result.iter_frames()), axis=1)
    assert streamed.shape == (2, result.n_frames, 32, 32, 3)
    messages = [message for _, _, message in calls]
    assert messages[0].startswith("ou-sde: segment 1 of 3") and messages[-1] == "decoding endpoints"
    assert any(message.startswith("ou-sde: segment 3 of 3") for message in messages)


def test_video_length_in_seconds_sets_the_frames_per_segment():
    # 4 keys in a loop, 2 s at 24 fps: 48 frames ~ 4 (f - 1) + 1, so f = 13 (49 frames).
    assert lb.pipeline.frames_per_segment_for(2.0, 24, 4, loop=True) == 13
    assert lb.pipeline.keyframe_count(4, 13, loop=True) == 49
    assert lb.pipeline.frames_per_segment_for(2.0, 24, 4, loop=True, hold=3) == 10  # 12 frames rest
    with pytest.raises(ValueError, match=r"0.1 s at 24 fps is 2 frames, too few for 4 segments .* at least 0.21 s"):
        lb.pipeline.frames_per_segment_for(0.1, 24, 4, loop=True)
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        lb.pipeline.frames_per_segment_for(-1, 24, 4)


def test_a_periodic_kernel_without_a_period_gets_one_of_K_T():
    assert lb.pipeline.keyframe_params("gp", {"kernel": "periodic", "T": 1.5}, 4) == {
        "kernel": "periodic", "T": 1.5, "period": 6.0}
    assert lb.pipeline.keyframe_params("gp", {"kernel": "periodic", "period": 5.0}, 4)["period"] == 5.0
    assert lb.pipeline.keyframe_params("gp", {"kernel": "matern"}, 4) == {"kernel": "matern"}
    assert lb.pipeline.keyframe_params("ou", {}, 4) == {}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": "a.png"}, "images must be a list of two or more images"),
        ({"images": ["one"]}, "give two or more images for a path through keyframes; got 1"),
        ({"frames_per_segment": 1}, "frames_per_segment must be a whole number >= 2"),
        ({"hold": -1}, "hold must be a whole number >= 0"),
        ({"easing": "bounce"}, "easing must be one of linear, smooth"),
        ({"loop": 1}, "loop must be true or false"),
        ({"seed": -3}, "seed must be a whole number"),
        ({"sampler": "gp"}, "sampler must be a latent_bridge sampler"),
    ],
)
def test_bad_keyframe_requests_are_refused_before_any_work(digits, four, kwargs, message, monkeypatch):
    monkeypatch.setattr(digits, "encode", lambda *a, **k: pytest.fail("encoded before the arguments were checked"))
    call = {"images": four[:3], "sampler": lb.registry.get("gp"), **kwargs}
    with pytest.raises(ValueError, match=message):
        lb.keyframes(digits, call.pop("images"), call.pop("sampler"), **call)


def test_an_unreadable_keyframe_names_its_position(digits, four, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="^image 3: "):
        lb.keyframes(digits, [four[0], four[1], broken], lb.registry.get("gp"))
