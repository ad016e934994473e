"""Media: videos read back (frames, size, codec), GIF loops, grids, labelled comparisons."""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

import latent_bridge as lb
from latent_bridge import media
from latent_bridge.pipeline import Result

EXAMPLES = Path(__file__).resolve().parents[1] / "checkpoints" / "digits" / "examples"


def synthetic(n_paths=2, frames=10, size=(32, 32), latent_shape=(2,), seed=0, data=True, closed=False):
    """A Result built directly: random frames and latents with the metrics the plots read."""
    rng = np.random.default_rng(seed)
    latents = torch.from_numpy(rng.standard_normal((n_paths, frames, *latent_shape)).astype(np.float32))
    if closed:
        latents[:, -1] = latents[:, 0]
    flat = latents.reshape(n_paths, frames, -1).double()
    n = flat.shape[-1]
    return Result(
        frames=rng.integers(0, 256, (n_paths, frames, *size, 3), dtype=np.uint8),
        latents=latents, times=np.linspace(0.0, 5.0, frames), method="ou", params={"T": 5.0},
        diagnostics={},
        metrics={"norm_ratio": (flat.norm(dim=-1) / n**0.5).numpy(),
                 "log_prior": (-0.5 * (flat**2).sum(-1) - 0.5 * n * np.log(2 * np.pi)).numpy()},
        model="synthetic",
        data_latents=torch.randn(200, *latent_shape, generator=torch.Generator().manual_seed(1)) if data else None,
    )


def read_video(path):
    """(metadata, uint8 frames (count, H, W, 3)) through imageio-ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return meta, np.stack(frames)


@pytest.fixture(scope="module")
def digits():
    return lb.models.load("digits")


def test_video_is_h264_with_one_frame_per_time_and_even_size(tmp_path):
    # 9 px enlarged x29 to 261 px (odd): the writer must pad to 262.
    result = synthetic(n_paths=1, frames=11, size=(9, 9))
    meta, frames = read_video(media.write_video(result, tmp_path / "a.mp4", fps=12))
    assert meta["codec"].startswith("h264")
    assert "yuv420p" in meta["pix_fmt"]
    assert frames.shape == (11, 262, 262, 3)


def test_side_by_side_video_places_paths_with_a_gap(tmp_path):
    result = synthetic(n_paths=3, frames=6, size=(32, 32))
    meta, frames = read_video(media.write_video(result, tmp_path / "a.mp4"))
    assert meta["size"] == (3 * 256 + 2 * media.GAP, 256)
    assert len(frames) == 6


def test_sequential_video_plays_paths_one_after_another(tmp_path):
    result = synthetic(n_paths=3, frames=6, size=(32, 32))
    meta, frames = read_video(media.write_video(result, tmp_path / "a.mp4", layout="sequential"))
    assert meta["size"] == (256, 256)
    assert len(frames) == 18


def test_sequential_layout_refuses_a_one_pass_iterator(tmp_path):
    chunks = iter([synthetic().frames])
    with pytest.raises(ValueError, match="sequential"):
        media.write_video(chunks, tmp_path / "a.mp4", layout="sequential")


def test_streamed_chunks_give_the_same_video_as_the_kept_frames(tmp_path, digits):
    sampler = lb.registry.get("ou", T=5.0)
    a, b = EXAMPLES / "digits_0.png", EXAMPLES / "digits_3.png"
    kept = lb.interpolate(digits, a, b, sampler, frames=13, n_paths=2, seed=3)
    streamed = lb.interpolate(digits, a, b, sampler, frames=13, n_paths=2, seed=3, keep_frames=False)
    assert streamed.frames is None
    _, from_result = read_video(media.write_video(kept, tmp_path / "kept.mp4"))
    _, from_chunks = read_video(media.write_video(streamed.iter_frames(chunk=4), tmp_path / "chunks.mp4"))
    assert from_result.shape == (13, 256, 2 * 256 + media.GAP, 3)
    np.testing.assert_array_equal(from_chunks, from_result)


def test_gif_loops_forever_with_every_frame(tmp_path):
    path = media.write_gif(synthetic(n_paths=2, frames=9), tmp_path / "a.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.info["loop"] == 0
        assert gif.n_frames == 9
        assert gif.size == (2 * 128 + media.GAP, 128)  # 32 px enlarged x4
        assert gif.info["duration"] == 100


def test_gif_of_a_closed_walk_drops_the_repeated_last_frame(tmp_path):
    path = media.write_gif(synthetic(frames=9, closed=True), tmp_path / "a.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 8


def test_gif_of_a_long_result_is_capped_and_keeps_its_playing_time(tmp_path):
    result = synthetic(n_paths=1, frames=600, size=(8, 8))
    path = media.write_gif(result, tmp_path / "a.gif", fps=20)
    with Image.open(path) as gif:
        assert gif.n_frames == 120  # every 5th frame of 600
        assert gif.info["duration"] == 250  # 5 frames of 50 ms


def test_frame_grid_has_a_row_per_path_and_a_column_per_sampled_frame(tmp_path):
    result = synthetic(n_paths=3, frames=20, size=(32, 32))
    grid = media.frame_grid(result, columns=8)
    tile = 96  # 32 px enlarged x3
    assert grid.size == (8 * tile + 7 * media.GAP, 3 * tile + 2 * media.GAP)
    # First and last columns are the first and last frames.
    pixels = np.asarray(grid)
    np.testing.assert_array_equal(pixels[:tile:3, :tile:3], result.frames[0, 0])
    np.testing.assert_array_equal(pixels[:tile:3, -tile::3], result.frames[0, -1])
    path = media.save_png(grid, tmp_path / "grid.png")
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == grid.size


def test_frame_grid_of_a_streamed_result_matches_the_kept_one(digits):
    image = EXAMPLES / "digits_1.png"
    kept = lb.random_walk(digits, image, frames=17, n_paths=2, seed=1)
    streamed = lb.random_walk(digits, image, frames=17, n_paths=2, seed=1, keep_frames=False)
    np.testing.assert_array_equal(np.asarray(media.frame_grid(streamed, columns=5)),
                                  np.asarray(media.frame_grid(kept, columns=5)))


def _label_is_drawn(area: np.ndarray) -> bool:
    return area.min() < 128 and area.max() > 200


def test_comparison_grid_has_a_labelled_row_per_method():
    results = {"linear": synthetic(seed=1), "ou": synthetic(seed=2), "langevin": synthetic(seed=3)}
    pixels = np.asarray(media.comparison_grid(results, columns=4))
    tile = 96
    assert pixels.shape[0] == 3 * tile + 2 * media.GAP
    label_width = pixels.shape[1] - (4 * tile + 4 * media.GAP)
    assert label_width > 30
    for row in range(3):
        top = row * (tile + media.GAP)
        assert _label_is_drawn(pixels[top:top + tile, :label_width])


def test_comparison_video_labels_each_method_below_its_first_path(tmp_path):
    results = {"linear": synthetic(seed=1), "slerp": synthetic(seed=2)}
    meta, frames = read_video(media.comparison_video(results, tmp_path / "c.mp4", fps=12))
    assert meta["size"] == (2 * 256 + media.GAP, 256 + media.LABEL_HEIGHT)
    assert len(frames) == 10
    for left in (0, 256 + media.GAP):
        assert _label_is_drawn(frames[0, 256:, left:left + 256])


def test_comparison_refuses_results_of_different_lengths(tmp_path):
    with pytest.raises(ValueError, match="same number of frames"):
        media.comparison_grid({"a": synthetic(frames=10), "b": synthetic(frames=12)})


@pytest.mark.parametrize("kwargs, message", [({"layout": "grid"}, "layout"), ({"fps": 0}, "fps")])
def test_write_video_refuses_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        media.write_video(synthetic(), tmp_path / "a.mp4", **kwargs)


def test_writers_refuse_more_paths_than_fit_side_by_side(tmp_path):
    # 40 paths of 8 px enlarged to 256 px are 10,318 px wide: refused before ffmpeg starts.
    frames = np.zeros((40, 3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"40 paths make a video 10318 px wide, more than 8192"):
        media.write_video(frames, tmp_path / "wide.mp4")
    assert not (tmp_path / "wide.mp4").exists()
    media.write_video(frames, tmp_path / "long.mp4", layout="sequential")  # one after another fits
    with pytest.raises(ValueError, match=r"300 paths make a gif 10198 px wide"):
        media.write_gif(np.zeros((300, 3, 32, 32, 3), dtype=np.uint8), tmp_path / "wide.gif")
    with pytest.raises(ValueError, match=r"100 paths make a grid 9798 px tall"):
        media.frame_grid(np.zeros((100, 3, 32, 32, 3), dtype=np.uint8))


def test_a_streamed_result_gives_the_kept_gif_sequential_video_and_comparison(tmp_path, digits):
    sampler = lb.registry.get("ou", T=5.0)
    a, b = EXAMPLES / "digits_0.png", EXAMPLES / "digits_3.png"
    kept = lb.interpolate(digits, a, b, sampler, frames=11, n_paths=2, seed=4)
    streamed = lb.interpolate(digits, a, b, sampler, frames=11, n_paths=2, seed=4, keep_frames=False)
    for name, result in (("kept", kept), ("streamed", streamed)):
        media.write_gif(result, tmp_path / f"{name}.gif")
        media.write_video(result, tmp_path / f"{name}.mp4", layout="sequential")
        media.comparison_video({"ou": result, "same": kept}, tmp_path / f"{name}_c.mp4")
    for suffix in (".gif", ".mp4", "_c.mp4"):
        assert (tmp_path / f"kept{suffix}").read_bytes() == (tmp_path / f"streamed{suffix}").read_bytes()


def test_a_streamed_result_decodes_only_the_frames_an_output_shows(digits, monkeypatch):
    walk = lb.random_walk(digits, EXAMPLES / "digits_1.png", frames=40, n_paths=3, seed=2, keep_frames=False)
    decoded = []
    decode = digits.decode
    monkeypatch.setattr(digits, "decode", lambda z, **kwargs: decoded.append(len(z)) or decode(z, **kwargs))
    media.frame_grid(walk, columns=5)
    assert sum(decoded) == 3 * 3  # 5 columns: the two ends are the decoded endpoint image
    decoded.clear()
    media.comparison_grid({"walk": walk}, columns=5)
    assert sum(decoded) == 3  # the first path only


# --- PNG sequences and keyframe grids -----------------------------------------------------------


def read_png(data) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(data) if isinstance(data, bytes) else data))


def test_png_sequence_of_one_path_is_every_frame_at_its_decoded_size(tmp_path):
    result = synthetic(n_paths=1, frames=7, size=(9, 9))
    folder = media.write_png_sequence(result, tmp_path / "frames")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:05d}.png" for i in range(7)]
    for i, name in enumerate(names):
        np.testing.assert_array_equal(read_png(folder / name), result.frames[0, i])


def test_png_sequence_in_a_zip_holds_a_folder_per_path(tmp_path):
    import zipfile

    result = synthetic(n_paths=2, frames=5, size=(8, 8))
    path = media.write_png_sequence(result, tmp_path / "frames.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(f"path{k}/{i:05d}.png" for k in (1, 2) for i in range(5))
        np.testing.assert_array_equal(read_png(archive.read("path2/00003.png")), result.frames[1, 3])


def test_png_sequence_of_a_streamed_result_matches_the_kept_one(tmp_path, digits):
    image = EXAMPLES / "digits_1.png"
    kept = lb.random_walk(digits, image, frames=9, n_paths=2, seed=1)
    streamed = lb.random_walk(digits, image, frames=9, n_paths=2, seed=1, keep_frames=False)
    for name, result in (("kept", kept), ("streamed", streamed)):
        media.write_png_sequence(result, tmp_path / name)
    media.write_png_sequence(kept.iter_frames(chunk=4), tmp_path / "chunks")
    for other in ("streamed", "chunks"):
        for frame in sorted((tmp_path / "kept" / "path2").iterdir()):
            assert frame.read_bytes() == (tmp_path / other / "path2" / frame.name).read_bytes()


def test_png_sequence_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "00000.png").write_bytes(b"from another run")
    with pytest.raises(ValueError, match="exists and is not an empty folder"):
        media.write_png_sequence(synthetic(), tmp_path / "old")
    (tmp_path / "empty").mkdir()
    assert len(list(media.write_png_sequence(synthetic(n_paths=1), tmp_path / "empty").iterdir())) == 10


def test_keyframe_grid_frames_the_keys_and_only_them():
    result = synthetic(n_paths=2, frames=13, size=(32, 32))
    result.frames[...] = 128  # gray tiles: any orange comes from the marking
    result.key_frames = (0, 6, 12)
    pixels = np.asarray(media.keyframe_grid(result, between=2))
    tile = 96  # 32 px enlarged x3
    columns = (pixels.shape[1] + media.GAP) // (tile + media.GAP)
    assert columns == 7 and pixels.shape[0] == 2 * tile + media.GAP  # key, 2 between, key, 2, key
    for column in range(columns):
        left = column * (tile + media.GAP)
        corner = tuple(pixels[0, left])
        assert (corner == media.KEY_COLOUR) == (column in (0, 3, 6)), column
        assert tuple(pixels[tile // 2, left + tile // 2]) == (128, 128, 128)  # the tile itself unchanged


def test_keyframe_grid_needs_valid_key_frames():
    with pytest.raises(ValueError, match="needs the keys' frame indices"):
        media.keyframe_grid(synthetic())
    with pytest.raises(ValueError, match="increasing frame indices below 10"):
        media.keyframe_grid(synthetic(), key_frames=[0, 12])


def test_smooth_enlargement_keeps_the_size_and_blends_instead_of_blocks(tmp_path):
    """For display: bicubic instead of nearest-neighbour squares, same sizes, a flat image stays flat."""
    from latent_bridge.media import _enlarge

    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, size=(2, 3, 8, 8, 3), dtype=np.uint8)
    sharp, smooth = _enlarge(tiles, 4), _enlarge(tiles, 4, smooth=True)
    assert smooth.shape == sharp.shape == (2, 3, 32, 32, 3) and smooth.dtype == np.uint8
    # Nearest neighbour repeats each pixel in 4 x 4 blocks; bicubic changes within a block.
    assert (sharp[..., 0:4, 0:4, :] == sharp[..., 0:1, 0:1, :]).all()
    assert not (smooth[..., 0:4, 0:4, :] == smooth[..., 0:1, 0:1, :]).all()
    flat = np.full((1, 2, 8, 8, 3), 77, dtype=np.uint8)
    assert (_enlarge(flat, 3, smooth=True) == 77).all()
    frames = np.repeat(tiles[:1], 2, axis=1)
    path = lb.media.write_video(frames, tmp_path / "smooth.mp4", fps=8, smooth=True)
    assert path.stat().st_size > 0
