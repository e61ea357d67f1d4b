"""The worker pool and reconciler as real processes, for tests that need them
running while the test acts: fault injection and operator-control races."""

import subprocess
from contextlib import contextmanager
from pathlib import Path

from devtools import procfile


class Processes:
    """The worker pool and the reconciler as the Procfile runs them, each in its
    own process group so a test can kill a whole pool, work horses included."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}
        self.starts = 0

    def start(self, name: str, *extra: str, label: str | None = None) -> None:
        """Start the Procfile's ``name`` process, with ``extra`` arguments; ``label``
        tells apart two of the same (two schedulers)."""
        self.starts += 1
        with open(self.logs / f"{name}-{self.starts}.log", "w") as log:
            self.running[label or name] = subprocess.Popen(
                [*procfile.command(name, self.env), *extra],
                cwd=procfile.ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """SIGKILL the process and every process under it."""
        procfile.kill_tree(self.running.pop(name))

    def stop_all(self) -> None:
        for name in list(self.running):
            procfile.stop(self.running.pop(name), timeout=15)

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.log")))


@contextmanager
def running(env: dict[str, str], logs: Path, worker: bool = True):
    """The reconciler, and unless ``worker`` is False a pool of one worker process."""
    processes = Processes(env, logs)
    processes.start("reconciler")
    if worker:
        processes.start("worker", "--processes", "1")
    try:
        yield processes
    finally:
        processes.stop_all()
