"""The app under load: concurrent clients, a burst past the queue, memory over many requests.

    python benchmarks/load_app.py                     # 8 clients x 5 requests, burst, 100 sequential
    python benchmarks/load_app.py --clients 4 --requests 3 --sequential 40

Starts ``app.py`` in a subprocess on a free local port (offline, its own Gradio cache folder)
and drives its public API with ``gradio_client`` on the embedded models, small frame counts:

1. concurrency: ``--clients`` threads, each its own Client, ``--requests`` requests each,
   cycling through /interpolate, /random_walk and /compare; failures, p50/p95 latency
   (queue wait included).
2. burst: more simultaneous jobs than the queue holds (``max_size`` in app.py); every job
   must either succeed or be refused with Gradio's "queue is full" answer, and the server
   must serve a request afterwards.
3. memory: ``--sequential`` requests one after another; the server's RSS after each one,
   mean of the last half against the first half (target: within 10 %).
4. hostile mix (``--hostile`` clients, 12 by default): each client cycles through valid
   requests, invalid ones (bad values and types), crafted heartbeats (``heartbeat/..``), raw
   calls naming a session hash that is a path, floods of the private UI events with 10^7
   frames, a JPEG of 20,000 scans, renders abandoned mid-way (the stream dropped), and the
   attacks of issue 26: ``run/upload`` with a render's fn_index, direct ``run/interpolate``,
   upload floods, 1,000 tiny files a request, renders posted and never read, connections
   that never finish their headers, ``file=<URL>``, another visitor's cached file; valid
   requests must all succeed (target 0 failures) and every attack must be refused; p50/p95
   of the valid ones, server RSS before and after, the cache's peak against its budget.

The server runs as on a Space (``SPACE_ID`` set) and every client names its own address in
``X-Forwarded-For``, as the Space's proxy does, so each gets a visitor's share.

The server's RSS (and with its children, the ffmpeg encoders) is sampled every 50 ms
throughout. Prints a table; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: `python benchmarks/load_app.py`
sys.path.insert(0, str(ROOT / "tests"))

import latent_bridge as lb  # noqa: E402
from latent_bridge.app.limits import LIMITS  # noqa: E402
from servers import free_port  # noqa: E402

TABS = ("/interpolate", "/random_walk", "/compare")
RSS_GROWTH_TARGET = 0.10
_ADDRESSES = itertools.count(1)


def address() -> dict:
    """Headers naming a new visitor, as a Space's proxy does."""
    n = next(_ADDRESSES)
    return {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"}


def client(url: str, headers: dict | None = None) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, headers=headers or address())


def start_server(cache: Path) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port; returns (process, url) once it answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(cache),
           "PYTHONPATH": str(ROOT), "SPACE_ID": "latent-bridge/load-test"}
    log = tempfile.TemporaryFile("w+")  # a pipe nobody reads would stall the server once full
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"app.py exited with {server.returncode}: {log.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("app.py did not start listening within 180 s")


class MemorySampler(threading.Thread):
    """RSS of a process (and of it with its children) every ``interval`` seconds, in bytes;
    and the size of ``cache`` (a folder) every 20 intervals."""

    def __init__(self, pid: int, interval: float = 0.05, cache: Path | None = None):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval, self.cache = interval, cache
        self.peak = self.peak_with_children = self.cache_peak = 0
        self._done = threading.Event()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def run(self):
        for tick in itertools.count():
            if self._done.is_set():
                break
            if self.cache is not None and tick % 20 == 0:
                self.cache_peak = max(self.cache_peak, folder_size(self.cache))
            try:
                own = self.rss()
                children = sum(c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                children = 0
            self.peak = max(self.peak, own)
            self.peak_with_children = max(self.peak_with_children, own + children)
            time.sleep(self.interval)

    def stop(self):
        self._done.set()
        self.join()


def embedded_models() -> dict[str, list[str]]:
    """{model: its example image paths} for the embedded models whose checkpoints exist."""
    models = {}
    for name, _, kind in lb.models.available():
        if kind != "embedded":
            continue
        try:
            models[name] = [str(p) for p in lb.models.load_cached(name).example_images()]
        except ValueError:
            continue
    if not models:
        raise SystemExit("no embedded model has a checkpoint: train one first (python -m latent_bridge.train digits)")
    return models


def request(tab: str, model: str, images: list[str], frames: int, seed: int) -> dict:
    """A valid request to ``tab``: small, and different per seed."""
    period = lb.kernels.Periodic.period  # the default period: T = period closes the loop
    common = dict(model=model, frames=frames, paths=1, seed=seed, fps=12, api_name=tab)
    a, b = images[seed % len(images)], images[(seed + 1) % len(images)]
    if tab == "/random_walk":
        walk = dict(method="gp", kernel="periodic", t=period, period=period) if seed % 2 else dict(method="ou", t=1.0)
        return dict(image=handle_file(a), **walk, **common)
    pair = dict(image_a=handle_file(a), image_b=handle_file(b), t=0.5)
    if tab == "/compare":
        return dict(methods=["linear", "ou"], **pair, **common)
    return dict(method=("ou", "gp", "slerp", "linear")[seed % 4], **pair, **common)


def timed(client: Client, kwargs: dict) -> tuple[float, str | None]:
    """(seconds, None) for a success, (seconds, "ExceptionType: message") for a failure."""
    start = time.perf_counter()
    try:
        client.predict(**kwargs)
        return time.perf_counter() - start, None
    except Exception as error:  # a benchmark counts failures of any kind
        return time.perf_counter() - start, f"{type(error).__name__}: {error}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def concurrency(url: str, models: dict, clients: int, requests: int, frames: int) -> dict:
    plan = list(itertools.islice(itertools.cycle(itertools.product(TABS, models)), clients * requests))

    def one_client(index: int) -> list:
        visitor = client(url)
        out = []
        for k in range(requests):
            tab, model = plan[index * requests + k]
            out.append(timed(visitor, request(tab, model, models[model], frames, seed=index * requests + k)))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for chunk in pool.map(one_client, range(clients)) for r in chunk]
    wall = time.perf_counter() - start
    latencies = [seconds for seconds, error in results if error is None]
    failures = [error for _, error in results if error is not None]
    return dict(total=len(results), failures=failures, latencies=latencies, wall=wall)


def burst(url: str, models: dict, size: int, frames: int) -> dict:
    """``size`` jobs submitted at once, each by its own visitor (one visitor may queue 2);
    counts successes, busy answers, others."""
    model = next(iter(models))
    jobs = [client(url).submit(**request("/interpolate", model, models[model], frames, seed=i)) for i in range(size)]
    done, busy, other = 0, [], []
    for job in jobs:
        try:
            job.result(timeout=600)
            done += 1
        except Exception as error:  # sort the refusals from real failures
            text = f"{type(error).__name__}: {error}"
            (busy if "queue is full" in text.lower() else other).append(text)
    after, error = timed(client(url), request("/interpolate", model, models[model], frames, seed=size))
    return dict(size=size, done=done, busy=busy, other=other, after_ok=error is None, after_error=error)


def sequential(url: str, models: dict, count: int, frames: int, sampler: MemorySampler) -> dict:
    visitor = client(url)
    plan = itertools.cycle(itertools.product(TABS, models))
    rss, failures = [], []
    for i in range(count):
        tab, model = next(plan)
        _, error = timed(visitor, request(tab, model, models[model], frames, seed=i))
        if error:
            failures.append(error)
        rss.append(sampler.rss())
    half = count // 2
    first, last = statistics.mean(rss[:half]), statistics.mean(rss[half:])
    return dict(count=count, failures=failures, first=first, last=last, growth=last / first - 1)


def upload(url: str, path: str, headers: dict) -> dict:
    import httpx

    with open(path, "rb") as f:
        answer = httpx.post(url + "gradio_api/upload", files={"files": (Path(path).name, f)}, headers=headers,
                            timeout=60)
    answer.raise_for_status()
    return {"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}}


def raw_data(url: str, names: list[str], defaults: dict, model: str, images: list[str], headers: dict,
             **values) -> list:
    """Positional data of an /interpolate call, its two images uploaded first (by ``headers``' visitor)."""
    given = {**defaults, "model": model, "image_a": upload(url, images[0], headers),
             "image_b": upload(url, images[1], headers),
             "method": "ou", "t": 0.5, "frames": 8, "paths": 1, "seed": 0, "fps": 12, **values}
    return [given[name] for name in names]


def many_scans_jpeg(folder: Path) -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_decode import progressive_jpeg

    path = folder / "scans.jpg"
    path.write_bytes(progressive_jpeg(2000, 20000))
    return str(path)


def hostile(url: str, models: dict, clients: int, requests: int, frames: int, work: Path,
            actions: list[str] | None = None) -> dict:
    """Each client cycles through valid requests and the attacks; returns the valid requests'
    latencies and failures, and the count of each action."""
    import http.client
    from urllib.parse import urlparse

    import httpx

    import attacks

    info = client(url).view_api(return_format="dict", print_info=False)
    parameters = info["named_endpoints"]["/interpolate"]["parameters"]
    names = [p["parameter_name"] for p in parameters]
    defaults = {p["parameter_name"]: p.get("parameter_default") for p in parameters}
    config = httpx.get(url + "config", timeout=30).json()
    ui = [(i, len(d["inputs"])) for i, d in enumerate(config["dependencies"]) if d.get("queue") is False]
    scans = many_scans_jpeg(work)
    model = "digits" if "digits" in models else next(iter(models))
    host = urlparse(url)
    render = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "interpolate")
    uploaded = {}  # a visitor's request, its images uploaded once (a flooded share refuses more)

    def data_for(headers: dict) -> list:
        key = headers["X-Forwarded-For"]
        if key not in uploaded:
            uploaded[key] = raw_data(url, names, defaults, model, models[model], headers)
        return list(uploaded[key])

    target = attacks.App(url, render, data_for)

    def heartbeat(session: str):
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=1)
        try:
            connection.putrequest("GET", f"/gradio_api/heartbeat/{session}")
            connection.endheaders()
            connection.getresponse().read(8)
        except OSError:
            pass
        finally:
            connection.close()

    def call_raw(data, headers, session=None, drop_after=None):
        body = {"data": data} if session is None else {"data": data, "session_hash": session}
        with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
            event = http.post("gradio_api/call/interpolate", json=body).json()["event_id"]
            with http.stream("GET", f"gradio_api/call/interpolate/{event}") as stream:
                if drop_after is not None:
                    time.sleep(drop_after)
                    return
                for _ in stream.iter_lines():
                    pass

    actions = actions or ["valid", "invalid", "heartbeat", "session-path", "ui-flood", "jpeg-scans", "valid",
                          "disconnect", "run-upload", "run-direct", "valid", "upload-flood", "tiny-files",
                          "call-unread", "valid", "slowloris", "file-url", "others-path"]

    def one_client(index: int) -> list:
        # Two visitors a client: the attacker, and a valid one that must be served meanwhile.
        headers = address()
        attacker, visitor = client(url, headers), client(url)
        out = []
        for k in range(requests):
            action = actions[(index + k) % len(actions)]
            seed = index * requests + k
            tab = TABS[seed % len(TABS)]
            start = time.perf_counter()
            error = None
            try:
                if action in attacks.ATTACKS:
                    error = attacks.ATTACKS[action](target, headers)
                elif action == "others-path":
                    error = attacks.others_path(target, headers, address())
                elif action == "valid":
                    visitor.predict(**request(tab, model, models[model], frames, seed))
                elif action == "invalid":
                    bad = request("/interpolate", model, models[model], frames, seed)
                    bad.update(((("frames", 10**7), ("model", ["x"]), ("seed", 2**64), ("t", -1))[seed % 4],))
                    try:
                        attacker.predict(**bad)
                        error = "an invalid request succeeded"
                    except Exception:  # refused, as it must be
                        pass
                elif action == "heartbeat":
                    for session in ("..", ".", attacker.session_hash + "x"):
                        heartbeat(session)
                elif action == "session-path":
                    # Each its own session: two streams of one session hash share its messages.
                    call_raw(raw_data(url, names, defaults, model, models[model], headers), headers,
                             session=f"{('/var/tmp/lb-attack', '../../lb-attack')[seed % 2]}-{seed}")
                elif action == "ui-flood":
                    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
                        for fn_index, width in ui:
                            data = (["ou", 10**7] * width)[:width]
                            http.post("gradio_api/run/predict", json={"fn_index": fn_index, "data": data,
                                                                       "session_hash": "flood"})
                elif action == "jpeg-scans":
                    bad = request("/interpolate", model, models[model], frames, seed)
                    bad["image_a"] = handle_file(scans)
                    try:
                        attacker.predict(**bad)
                        error = "a 20,000-scan JPEG was accepted"
                    except Exception:
                        pass
                elif action == "disconnect":
                    call_raw(raw_data(url, names, defaults, model, models[model], headers, frames=240, paths=8),
                             headers, drop_after=0.3)
            except Exception as failure:  # a benchmark counts failures of any kind
                error = f"{type(failure).__name__}: {failure}"
            out.append((action, time.perf_counter() - start, error))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for chunk in pool.map(one_client, range(clients)) for r in chunk]
    wall = time.perf_counter() - start
    counts = {a: sum(1 for r in results if r[0] == a) for a in dict.fromkeys(actions)}
    valid = [(seconds, error) for action, seconds, error in results if action == "valid"]
    attack_errors = [f"{a}: {e}" for a, _, e in results if a != "valid" and e]
    return dict(total=len(results), counts=counts, latencies=[s for s, e in valid if e is None],
                failures=[e for _, e in valid if e], attack_errors=attack_errors, wall=wall,
                escaped=[str(p) for p in Path("/var/tmp").glob("lb-attack-*")]
                + [str(p) for p in work.parent.glob("lb-attack-*")])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--burst", type=int, default=32,
                        help="jobs submitted at once: more than app.py's queue holds (max_size 16)")
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--hostile", type=int, default=12, help="clients of the hostile mix (0: skip it)")
    parser.add_argument("--hostile-requests", type=int, default=8, help="actions per hostile-mix client")
    parser.add_argument("--skip-load", action="store_true", help="only the hostile mix")
    args = parser.parse_args()

    models = embedded_models()
    with tempfile.TemporaryDirectory() as cache:
        server, url = start_server(Path(cache))
        sampler = MemorySampler(server.pid, cache=Path(cache))
        sampler.start()
        try:
            idle = sampler.rss()
            warm = client(url)
            for model in models:  # load every model once, so the phases measure serving
                timed(warm, request("/interpolate", model, models[model], args.frames, seed=0))
            warm_rss = sampler.rss()
            if not args.skip_load:
                load = concurrency(url, models, args.clients, args.requests, args.frames)
                flood = burst(url, models, args.burst, args.frames)
                memory = sequential(url, models, args.sequential, args.frames, sampler)
            disk = folder_size(Path(cache))
            mix = None
            if args.hostile:
                rss_before, disk_before = sampler.rss(), folder_size(Path(cache))
                with tempfile.TemporaryDirectory() as work:
                    mix = hostile(url, models, args.hostile, args.hostile_requests, args.frames, Path(work))
                time.sleep(3)  # unload handlers and abandoned renders finish
                mix.update(rss_before=rss_before, rss_after=sampler.rss(), disk_before=disk_before,
                           disk_after=folder_size(Path(cache)))
        finally:
            sampler.stop()
            server.terminate()
            server.wait(timeout=30)

    mb = 2**20
    rows = []
    if mix is not None:
        lat = mix["latencies"]
        rows += [
            (f"hostile mix: {args.hostile} clients x {args.hostile_requests} actions", f"{mix['total']} requests, "
             + ", ".join(f"{k} {v}" for k, v in mix["counts"].items())),
            ("  failures among the valid ones (target 0)", len(mix["failures"])),
            ("  valid latency p50 / p95 (s)", f"{percentile(lat, 0.5):.2f} / {percentile(lat, 0.95):.2f}" if lat else "-"),
            ("  attacks that got through", len(mix["attack_errors"]) + len(mix["escaped"])),
            ("  server RSS before / after (MB)", f"{mix['rss_before'] / mb:.0f} / {mix['rss_after'] / mb:.0f}"),
            ("  cache before / after (MB)", f"{mix['disk_before'] / mb:.1f} / {mix['disk_after'] / mb:.1f}"),
            ("  cache peak (sampled every second) / budget (MB)",
             f"{sampler.cache_peak / mb:.0f} / {LIMITS.cache_bytes / mb:.0f}"),
            ("  wall clock (s)", f"{mix['wall']:.1f}"),
        ]
    if args.skip_load:
        for key, value in rows:
            print(f"{key:<50}  {value}")
        for error in (mix["failures"] + mix["attack_errors"])[:5]:
            print("failure:", error[:300])
        return 0 if not (mix["failures"] or mix["attack_errors"] or mix["escaped"]) and \
            sampler.cache_peak <= LIMITS.cache_bytes else 1
    lat = load["latencies"]
    rows = rows + [
        ("models", ", ".join(models)),
        ("frames per path", args.frames),
        (f"concurrent: {args.clients} clients x {args.requests} requests", f"{load['total']} requests"),
        ("  failures (target 0)", len(load["failures"])),
        ("  latency p50 / p95 (s)", f"{percentile(lat, 0.5):.2f} / {percentile(lat, 0.95):.2f}" if lat else "-"),
        ("  throughput (requests/s, wall clock)", f"{len(lat) / load['wall']:.2f}"),
        (f"burst of {flood['size']} jobs at once",
         f"{flood['done']} done, {len(flood['busy'])} refused busy, {len(flood['other'])} other errors"),
        ("  busy answer", flood["busy"][0] if flood["busy"] else "none: the burst did not fill the queue, raise --burst"),
        ("  next request after the burst", "ok" if flood["after_ok"] else flood["after_error"]),
        (f"sequential: {memory['count']} requests", f"{len(memory['failures'])} failures"),
        ("  RSS mean, first / last half (MB)", f"{memory['first'] / mb:.0f} / {memory['last'] / mb:.0f}"),
        ("  RSS growth (target <= 10 %)", f"{100 * memory['growth']:+.1f} %"),
        ("server RSS idle / after warm-up (MB)", f"{idle / mb:.0f} / {warm_rss / mb:.0f}"),
        ("server peak RSS (MB)", f"{sampler.peak / mb:.0f}"),
        ("  with child processes (MB)", f"{sampler.peak_with_children / mb:.0f}"),
        ("output files left in Gradio's cache (MB)", f"{disk / mb:.1f}"),
    ]
    width = max(len(str(k)) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for error in (load["failures"] + flood["other"] + memory["failures"])[:5]:
        print("failure:", error[:300])
    ok = (not load["failures"] and not flood["other"] and flood["after_ok"] and not memory["failures"]
          and memory["growth"] <= RSS_GROWTH_TARGET)
    if mix is not None:
        for error in (mix["failures"] + mix["attack_errors"])[:5]:
            print("failure:", error[:300])
        ok = ok and not (mix["failures"] or mix["attack_errors"] or mix["escaped"])
    return 0 if ok and sampler.cache_peak <= LIMITS.cache_bytes else 1


if __name__ == "__main__":
    raise SystemExit(main())
