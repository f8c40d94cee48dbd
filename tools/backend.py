"""One pipeline per process: loaded lazily, shared, one generation at a time, with jobs and cancellation.

`Backend.generate(fn, progress, cancel)` runs ``fn(pipe, callback)`` under a lock, so concurrent calls queue
instead of running two generations at once; ``active`` counts generations in flight (never above 1) and
``intervals`` records when each ran. ``callback`` goes to the pipeline's ``callback_on_step_end``: it reports
progress and, once the cancel event is set, interrupts the pipeline within one step. `Backend.submit` runs the
same thing in a background thread and returns a job id (for clients whose calls time out).

Jobs are bounded: at most `MAX_PENDING` queued or running (a further submission is refused with a clear
message), and the last `MAX_FINISHED` finished ones are kept; an older id answers "expired". Each job has an
owner (the MCP session that started it); another owner sees it as unknown.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .spec import ToolError

logger = logging.getLogger(__name__)
MAX_PENDING = 32
MAX_FINISHED = 256
_EXPIRED_MEMORY = 4096
# Set to a one-item list to count the model calls made in this context (a plan counts its own this way).
MODEL_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "pixwizard_calls", default=None
)


@dataclass
class Job:
    """A background generation."""

    id: str
    future: Future | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: tuple[float, float] | None = None
    started: bool = False
    owner: str | None = None
    tool: str = ""


class Backend:
    """The shared pipeline and its queue.

    Args:
        model: A built-in name (``pixwizard-world``, ``tiny-random``), a local folder, or a Hub repository id.
        device: ``auto``, ``cuda``, ``cpu``, ...
        memory: ``keep`` (stay on the GPU) or ``offload`` (each model on the GPU only while it runs).
    """

    def __init__(self, model: str, device: str = "auto", memory: str = "keep"):
        if memory not in ("keep", "offload"):
            raise ToolError(f"memory policy must be 'keep' or 'offload', got {memory!r}")
        self.model, self.device, self.memory = model, device, memory
        self._pipe = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.intervals: list[tuple[float, float]] = []
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._expired: deque[str] = deque(maxlen=_EXPIRED_MEMORY)
        self._jobs_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pixwizard-job")

    @property
    def loaded(self) -> bool:
        """Whether the pipeline has been loaded."""
        return self._pipe is not None

    @property
    def pipe(self):
        """The pipeline, loaded on first use."""
        with self._load_lock:
            if self._pipe is None:
                from pixwizard.pipeline import PixWizardPipeline

                logger.info("loading %s", self.model)
                offload = "model" if self.memory == "offload" else None
                try:
                    pipe = PixWizardPipeline.from_pretrained(self.model, device=self.device, offload=offload)
                except (
                    Exception
                ) as exc:  # the loader's errors say which files are missing and how to get them
                    raise ToolError(f"cannot load model {self.model!r}: {exc}") from exc
                pipe.set_progress_bar_config(disable=True)
                self._pipe = pipe
            return self._pipe

    def generate(
        self,
        fn: Callable,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        total: int | None = None,
    ):
        """Run ``fn(pipe, callback)`` alone; returns its result and the seconds spent queued and running.

        Raises:
            ToolError: If cancelled (nothing is written: ``fn`` stores results only after the model ran).
        """
        from pixwizard.pipeline import GenerationCancelled

        pipe = self.pipe
        queued = time.perf_counter()

        def callback(p, step, t, values):
            if progress is not None and total:
                progress(step + 1, total)
            if cancel is not None and cancel.is_set():
                p.interrupt()
            return {}

        with self._run_lock:
            start = time.perf_counter()
            with self._state_lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("cancelled before it started")
                if progress is not None and total:
                    progress(0, total)  # started: the queue is behind us
                counter = MODEL_CALLS.get()
                if counter is not None:
                    counter[0] += 1
                result = fn(pipe, callback)
            except GenerationCancelled:
                raise ToolError("the generation was cancelled; nothing was written") from None
            finally:
                end = time.perf_counter()
                with self._state_lock:
                    self.active -= 1
                    self.intervals.append((start, end))
        return result, start - queued, end - start

    # -- jobs -------------------------------------------------------------------------------------------

    def submit(self, work: Callable[[Job], object], owner: str | None = None, tool: str = "") -> Job:
        """Run ``work(job)`` in the background; returns the job at once.

        Raises:
            ToolError: When `MAX_PENDING` jobs are already queued or running.
        """
        with self._jobs_lock:
            pending = sum(1 for job in self.jobs.values() if not (job.future and job.future.done()))
            if pending >= MAX_PENDING:
                raise ToolError(
                    f"{pending} jobs are already queued or running (the limit is {MAX_PENDING}); "
                    "wait for some to finish or cancel them",
                    suggestions=["poll job_status", "call job_cancel on jobs you no longer need"],
                )
            self._expire_finished()
            job = Job(
                f"job_{secrets.token_hex(16)}", owner=owner, tool=tool
            )  # unguessable: the id is the handle
            self.jobs[job.id] = job

        def run():
            job.started = True
            return work(job)

        job.future = self._pool.submit(run)
        return job

    def _expire_finished(self) -> None:
        finished = [j for j, job in self.jobs.items() if job.future and job.future.done()]
        for job_id in finished[: max(0, len(finished) - MAX_FINISHED + 1)]:  # oldest first
            del self.jobs[job_id]
            self._expired.append(job_id)

    def job(self, job_id: str, owner: str | None = None) -> Job:
        """A job by id, if ``owner`` started it.

        Raises:
            ToolError: Unknown (or another owner's), or expired.
        """
        job = self.jobs.get(job_id)
        if job is not None and job.owner == owner:
            return job
        if job is None and job_id in self._expired:
            raise ToolError(
                f"job {job_id} has expired: only the last {MAX_FINISHED} finished jobs are kept",
                suggestions=["run the call again", "images it stored are still in the store"],
            )
        raise ToolError(f"no job {job_id!r}", suggestions=["use the job_id start_job returned"])

    def jobs_of(self, owner: str | None) -> dict[str, Job]:
        """The jobs one owner started."""
        return {job_id: job for job_id, job in list(self.jobs.items()) if job.owner == owner}

    @staticmethod
    def status(job: Job) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        future = job.future
        if future is None or not future.done():
            return "running" if job.started else "queued"
        if job.cancel.is_set() and future.exception() is not None:
            return "cancelled"
        return "failed" if future.exception() is not None else "done"

    def shutdown(self) -> None:
        """Stop accepting jobs and cancel running ones."""
        for job in self.jobs.values():
            job.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
