"""Load test: simulated users against a local medinn server while another user trains.

Run by hand from the repository root (it needs Chromium at /usr/bin/chromium, or
``MEDINN_CHROMIUM``, and Playwright from requirements-dev.txt)::

    python benchmarks/load_test.py                 # 10 users for 2 minutes, one trainer
    python benchmarks/load_test.py --sessions 3 --seconds 30 --no-write

It starts ``streamlit run app.py`` on a free port with ``MEDINN_HOME`` in a temporary folder
(``tests.server``, as the browser tests do).
A first browser session loads the sample on Home, which trains the sample model (in a worker
process) and saves it. Then, for ``--seconds``, each of ``--sessions`` browser contexts loops:
open the app (a new session), upload ``sample_data/cardiology.csv`` on Data, load the sample
model on Models, open Predict (risks of the 4,000 patients) and Explain (their explanations).
One more context trains ``--epochs`` epochs on the sample, again and again. Every step is timed
until the page shows its result; a step that times out or draws an exception is an error.

The server's memory (resident set of the server process, and of its training workers apart)
is read from ``/proc`` at start, after the warm-up, after each training and at the end. The
figures go to ``benchmarks/RESULTS.md`` (the section between the ``load_test`` markers is
replaced) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server import streamlit_server  # noqa: E402 - after the repository is on the path

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SAMPLE = ROOT / "sample_data" / "cardiology.csv"
CHROMIUM = os.environ.get("MEDINN_CHROMIUM", "/usr/bin/chromium")
START, END = "<!-- load_test: start -->", "<!-- load_test: end -->"
STEPS = ("open", "upload", "load model", "predict", "explain")
STEP_MS = 240_000  # one step may wait this long on a saturated 2-core machine
TRAIN_MS = 900_000


# -- the server's memory and CPU ---------------------------------------------------------------
def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def processes() -> dict[int, tuple[int, float, float]]:
    """Every process: pid -> (parent pid, its CPU seconds, its ended children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        own, ended = sum(map(int, fields[11:13])) / tick, sum(map(int, fields[13:15])) / tick
        found[int(stat.parent.name)] = (int(fields[1]), own, ended)
    return found


def children(pid: int) -> list[int]:
    return [child for child, row in processes().items() if row[0] == pid]


def subtree(pid: int, table: dict[int, tuple[int, float, float]]) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        here = todo.pop()
        found.add(here)
        todo.extend(p for p, row in table.items() if row[0] == here and p not in found)
    return found


def cpu(server: int) -> dict[str, float]:
    """CPU seconds so far: the server, its training workers, this script's browser, and the
    whole machine (busy time of every core, from /proc/stat)."""
    table = processes()
    ours, theirs = subtree(server, table), subtree(os.getpid(), table)
    workers = ours - {server}
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    _, server_own, workers_ended = table.get(server, (0, 0.0, 0.0))
    return {
        "server": server_own,
        "workers": workers_ended + sum(sum(table[p][1:]) for p in workers),
        "browser": sum(sum(table[p][1:]) for p in theirs - ours - {os.getpid()}),
        "machine": busy,
    }


def memory(pid: int) -> dict[str, float]:
    workers = children(pid)
    return {
        "server_mb": round(rss_mb(pid), 1),
        "workers_mb": round(sum(rss_mb(w) for w in workers), 1),
        "workers": len(workers),
    }


class Sampler(threading.Thread):
    """The server's memory every two seconds, for the peak."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, {"server_mb": 0.0, "workers_mb": 0.0}, True

    def run(self) -> None:
        while self.running:
            now = memory(self.pid)
            for key in self.peak:
                self.peak[key] = max(self.peak[key], now[key])
            time.sleep(2)


# -- one simulated user ---------------------------------------------------------------------------
class Record:
    def __init__(self):
        self.times: dict[str, list[float]] = {step: [] for step in (*STEPS, "train setup", "train")}
        self.errors: list[str] = []
        self.trainings: list[dict] = []
        self.started = time.monotonic()  # reset when the timed part begins


async def new_page(browser):
    """A page in a new browser context (its own cookies: its own Streamlit session), whose
    every action may wait as long as a step may on a saturated machine."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(STEP_MS)
    context.set_default_navigation_timeout(STEP_MS)
    return await context.new_page()


async def nav(page, label: str) -> None:
    from playwright.async_api import expect

    await page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    await expect(page.get_by_role("heading", name=label, exact=True).first).to_be_visible(
        timeout=STEP_MS
    )


async def no_exception(page) -> None:
    """Fail the step if the page shows an exception or an error message (a failed training
    shows one above the previous run's result, which is still on the page)."""
    for test_id in ("stException", "stAlertContentError"):
        found = page.get_by_test_id(test_id)
        if await found.count():
            text = await found.first.inner_text()
            raise RuntimeError(f"the page shows {test_id}: {text[:200]}")


async def timed(record: Record, who: str, step: str, action) -> bool:
    start = time.perf_counter()
    try:
        await action()
    except Exception as exc:  # a timeout or an exception drawn on the page: count it, go on
        record.errors.append(f"{who} {step}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return False
    record.times[step].append(time.perf_counter() - start)
    return True


async def user(browser, url: str, who: str, deadline: float, record: Record) -> None:
    from playwright.async_api import expect

    page = await new_page(browser)

    async def open_app():
        await page.goto(url)
        await expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=STEP_MS)
        await expect(page.get_by_role("heading", name="medinn").first).to_be_visible(
            timeout=STEP_MS
        )

    async def upload():
        await nav(page, "Data")
        await page.get_by_text("Upload a file", exact=True).click()
        await page.locator("input[type='file']").set_input_files(str(SAMPLE))
        sidebar = page.get_by_test_id("stSidebar")
        await expect(sidebar.get_by_text("4,000 rows", exact=False)).to_be_visible(timeout=STEP_MS)
        await no_exception(page)

    async def load_model():
        await nav(page, "Models")
        await page.get_by_role("button", name="Load as the current model").click()
        await expect(page.get_by_text("This is the current model", exact=False)).to_be_visible(
            timeout=STEP_MS
        )
        await no_exception(page)

    async def predict():
        await nav(page, "Predict")
        patients = page.get_by_test_id("stMetric").filter(has_text="Patients")
        await expect(patients.get_by_text("4,000")).to_be_visible(timeout=STEP_MS)
        await no_exception(page)

    async def explain():
        await nav(page, "Explain")
        await expect(page.get_by_text("patients explained in", exact=False)).to_be_visible(
            timeout=STEP_MS
        )
        await expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(
            timeout=STEP_MS
        )
        await no_exception(page)

    actions = dict(zip(STEPS, (open_app, upload, load_model, predict, explain), strict=True))
    while time.monotonic() < deadline:
        for step, action in actions.items():
            if not await timed(record, who, step, action):
                break  # start again with a fresh session
    await page.context.close()


class Trainer:
    """The user who trains: the sample loaded on Home, then Train again and again."""

    def __init__(self, browser, url: str, epochs: int, record: Record, pid: int):
        self.browser, self.url, self.epochs = browser, url, epochs
        self.record, self.pid = record, pid
        self.page = None
        self.ready = False  # the Train page is open with the settings filled in

    async def setup(self) -> None:
        from playwright.async_api import expect

        if self.page is None:
            self.page = await new_page(self.browser)
        page = self.page
        await page.goto(self.url)
        await page.get_by_role("button", name="Load sample data and model").click()
        await expect(page.get_by_text("Sample data and model loaded", exact=False)).to_be_visible(
            timeout=STEP_MS
        )
        await nav(page, "Train")
        box = page.get_by_label("Maximum epochs")
        await box.fill(str(self.epochs))
        await box.press("Tab")
        self.ready = True

    async def train(self) -> None:
        from playwright.async_api import expect

        page = self.page
        await page.get_by_role("button", name="Train").click()
        running = page.get_by_test_id("stProgress").or_(
            page.get_by_text("Waiting for a free training slot", exact=False)
        )
        await expect(running.first).to_be_visible(timeout=STEP_MS)
        await expect(page.get_by_text("Result of the last run", exact=True)).to_be_visible(
            timeout=TRAIN_MS
        )
        await no_exception(page)

    async def once(self, phase: str) -> None:
        if not self.ready and not await timed(self.record, "trainer", "train setup", self.setup):
            return
        if await timed(self.record, "trainer", "train", self.train):
            self.record.trainings.append(
                {
                    "phase": phase,
                    "at_s": round(time.monotonic() - self.record.started, 1),
                    **memory(self.pid),
                }
            )
        else:
            self.ready = False  # start again in a fresh session

    async def until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self.once("with the users")


async def warm_up(browser, url: str) -> float:
    """The first session loads the sample, which trains and saves the sample model."""
    from playwright.async_api import expect

    page = await new_page(browser)
    start = time.perf_counter()
    await page.goto(url)
    await page.get_by_role("button", name="Load sample data and model").click()
    await expect(
        page.get_by_text("Sample data and model loaded", exact=False)
        .or_(page.get_by_text("is loaded and is now the current model", exact=False))
        .first
    ).to_be_visible(timeout=TRAIN_MS)
    await page.context.close()
    return time.perf_counter() - start


async def run(url: str, pid: int, args) -> tuple[Record, dict]:
    from playwright.async_api import async_playwright

    record, facts = Record(), {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        facts["warm_up_s"] = round(await warm_up(browser, url), 1)
        facts["memory_after_warm_up"] = memory(pid)
        cpu_before = cpu(pid)
        record.started = time.monotonic()
        deadline = record.started + args.seconds
        trainer = Trainer(browser, url, args.epochs, record, pid)
        await asyncio.gather(
            trainer.until(deadline),
            *(user(browser, url, f"user{i}", deadline, record) for i in range(args.sessions)),
        )
        facts["wall_s"] = round(time.monotonic() - record.started, 1)
        facts["memory_after_users"] = memory(pid)
        cpu_after = cpu(pid)
        facts["cpu_s"] = {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_after}
        for _ in range(args.repeat_trainings):  # alone now: does the memory settle?
            await trainer.once("alone")
        await browser.close()
    return record, facts


# -- the report -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        platform.processor() or "unknown CPU",
    )
    mem = next(
        (
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0.0,
    )
    return f"{os.cpu_count()}-core {platform.machine()} ({model}), {mem:.0f} GiB, Python {platform.python_version()}"


def report(record: Record, facts: dict, args) -> str:
    rows = []
    for step, values in record.times.items():
        if values:
            rows.append(
                f"| {step} | {len(values)} | {statistics.median(values):.1f} s | "
                f"{percentile(values, 0.95):.1f} s | {max(values):.1f} s |"
            )
    errors = record.errors
    shown = "\n".join(f"- {e}" for e in errors[:10]) or "- none"
    trainings = "\n".join(
        f"| {i} | {t['phase']} | {t['at_s']} s | {t['server_mb']:.0f} MB | "
        f"{t['workers_mb']:.0f} MB ({t['workers']}) |"
        for i, t in enumerate(record.trainings, start=1)
    )
    m0, mw, m1 = facts["memory_at_start"], facts["memory_after_warm_up"], facts["memory_at_end"]
    mu, c = facts["memory_after_users"], facts["cpu_s"]
    cores = os.cpu_count() or 1
    return f"""{START}
## Many users at once (`load_test.py`, issue 6)

{args.sessions} simulated users (Playwright contexts in one headless Chromium) against one local
`streamlit run app.py`, for {args.seconds} s ({facts["wall_s"]} s with the steps under way at the
end), each looping: open the app (a new session), upload `cardiology.csv` (4,000 patients) on
Data, load the sample model on Models, Predict (risks of the 4,000), Explain (DeepLIFT for the
4,000, with figures). One more user trains {args.epochs}-epoch models on the sample again and
again meanwhile (in a worker process; `MEDINN_MAX_TRAININGS` at its default, one per core),
then {args.repeat_trainings} more times alone, to follow the memory. A step is timed from the
click to its result on screen, so it includes the browser's own drawing on the same {cores} cores.
Before the run, a first session trained and saved the sample model ({facts["warm_up_s"]} s,
the worker's start and TensorFlow's imports in worker and server included).
Command: `python benchmarks/load_test.py --sessions {args.sessions} --seconds {args.seconds:g}
--epochs {args.epochs} --repeat-trainings {args.repeat_trainings}` (the server runs with
`--server.fileWatcherType none`, so that edits to the code during the run reload nothing; a
step fails if its page shows an exception or an error message).

Machine: {facts["machine"]}. Date: {facts["date"]}. Load average {facts["load_before"]} before
and {facts["load_after"]} after the run: **other engineers were using the machine at the same
time**, so the figures are noisy; the run can be repeated with the command above. CPU time
while the users ran ({facts["wall_s"]} s, so {cores * facts["wall_s"]:.0f} core-seconds at most on
{cores} cores): the machine was busy {c["machine"]:.0f} s, of which the server {c["server"]:.0f} s,
the training workers {c["workers"]:.0f} s, the browser {c["browser"]:.0f} s and other jobs
about {max(0.0, c["machine"] - c["server"] - c["workers"] - c["browser"]):.0f} s. Real users' browsers run
on their own computers; here all of them share the server's cores, so the step times are
far longer than one user would see, and the server's own CPU time is the figure that carries
over to a deployment.

| step | runs | median | 95th percentile | max |
|---|---|---|---|---|
{chr(10).join(rows)}

Errors: **{len(errors)}** (target: none).
{shown}

Memory (resident set; the workers are the training processes, one per slot at most, each
replaced after {facts["tasks_per_worker"]} trainings):

| when | server | workers (count) |
|---|---|---|
| server started | {m0["server_mb"]:.0f} MB | {m0["workers_mb"]:.0f} MB ({m0["workers"]}) |
| after the warm-up | {mw["server_mb"]:.0f} MB | {mw["workers_mb"]:.0f} MB ({mw["workers"]}) |
| when the users stopped | {mu["server_mb"]:.0f} MB | {mu["workers_mb"]:.0f} MB ({mu["workers"]}) |
| end | {m1["server_mb"]:.0f} MB | {m1["workers_mb"]:.0f} MB ({m1["workers"]}) |
| peak (2 s samples) | {facts["peak"]["server_mb"]:.0f} MB | {facts["peak"]["workers_mb"]:.0f} MB |

After each training:

| training | phase | at | server | workers (count) |
|---|---|---|---|---|
{trainings}
{END}"""


def write(section: str) -> None:
    text = RESULTS.read_text()
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--repeat-trainings",
        type=int,
        default=8,
        help="trainings after the users have stopped, to follow the memory",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}; set MEDINN_CHROMIUM.")
    from medinn_app.workers import TASKS_PER_WORKER

    with tempfile.TemporaryDirectory(prefix="medinn-load-") as home:
        facts = {
            "machine": machine(),
            "date": dt.date.today().isoformat(),
            "load_before": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
            "tasks_per_worker": TASKS_PER_WORKER,
        }
        with streamlit_server(
            home,
            # The simulated users do not log in; others may edit the code meanwhile, and a
            # reload mid-run is not what is measured.
            env={"MEDINN_PASSWORD_HASH": None},
            args=("--server.fileWatcherType", "none"),
            stop_timeout=30,
        ) as server:
            pid = server.process.pid
            facts["memory_at_start"] = memory(pid)
            sampler = Sampler(pid)
            sampler.start()
            record, more = asyncio.run(run(server.url, pid, args))
            facts |= more
            facts["memory_at_end"] = memory(pid)
            sampler.running = False
            facts["peak"] = sampler.peak
            facts["load_after"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            log = server.log(last=None)
            facts["server_log_tracebacks"] = log.count("Traceback")
            if args.server_log:
                args.server_log.write_text(log)
    section = report(record, facts, args)
    if facts["server_log_tracebacks"]:
        section = section.replace(
            "(target: none).",
            f"(target: none). The server log holds {facts['server_log_tracebacks']} traceback(s).",
        )
    print(section)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "facts": facts,
                    "times": record.times,
                    "errors": record.errors,
                    "trainings": record.trainings,
                },
                indent=1,
            )
        )
    if not args.no_write:
        write(section)


if __name__ == "__main__":
    main()
