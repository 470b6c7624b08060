"""A helper process that draws run reports, started before the engine loads.

Importing matplotlib takes about 0.4 s, a fifth of a whole `statelab run`. `statelab run` starts
this process first thing, with the run's config; it imports the report code on the machine's
other core while the main process imports JAX and compiles, draws what the config alone
determines (`report.run.early_figures`), then waits. When the run's files are written (in their
hidden temporary directory), the main process sends the directory's path and the worker draws the
rest and report.html there, exactly as `write_run_report` does in-process.

Protocol, one line each way: the main process writes the config (JSON); the worker prints
`ready` once imported and drawn; the main process writes a directory path (a JSON string: a name
may hold a newline); the worker answers
`ok`, `error <one-line message>` for a ConfigError, or `fault <cause>` for a file it could not
write (a full disk: the main process names its run directory, not the temporary). The
worker ignores Ctrl-C (the main process decides what an interrupt means) and ends when its input
closes, so it never outlives the command. If it cannot start, or dies, or answers anything else,
the main process draws the report itself: the worker only ever saves time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from statelab.config import ExperimentConfig

READY = "ready"


class ReportWorker:
    """The main process's side: start early (`with ReportWorker() as worker:`), `draw(run_dir)`
    later; leaving the block ends the worker."""

    def __init__(self, config: ExperimentConfig) -> None:
        try:
            self._proc: subprocess.Popen[str] | None = subprocess.Popen(
                [sys.executable, "-m", "statelab.report.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            if self._proc.stdin is not None:
                self._proc.stdin.write(json.dumps(config.to_dict()) + "\n")
                self._proc.stdin.flush()
        except OSError:
            self._proc = None

    def draw(self, run_dir: Path) -> None:
        """Draw the report of `run_dir`, in the worker if it is alive, else in this process."""
        from statelab.params import ConfigError

        reply = self._ask(json.dumps(str(run_dir)))
        if reply == "ok":
            return
        if reply is not None and reply.startswith("error "):
            raise ConfigError(reply.removeprefix("error "))
        if reply is not None and reply.startswith("fault "):
            raise OSError(reply.removeprefix("fault "))
        from statelab.report.run import write_run_report  # the worker is gone: draw it here

        write_run_report(run_dir)

    def _ask(self, line: str) -> str | None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        try:
            if proc.stdout.readline().strip() != READY:
                return None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            return proc.stdout.readline().strip() or None
        except (OSError, ValueError):
            return None
        finally:
            self.close()

    def __enter__(self) -> ReportWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker (closing its input ends it); harmless if it is gone already."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from statelab.config import from_mapping
    from statelab.params import ConfigError
    from statelab.report.figures import early_figures
    from statelab.report.run import write_run_report
    from statelab.written import WriteError

    drawn = early_figures(from_mapping(json.loads(sys.stdin.readline())))
    print(READY, flush=True)
    for line in sys.stdin:
        try:
            write_run_report(Path(json.loads(line)), drawn=drawn)
        except WriteError as exc:
            print(f"fault {exc.reason}", flush=True)
        except ConfigError as exc:
            print(f"error {str(exc).splitlines()[0]}", flush=True)
        else:
            print("ok", flush=True)


if __name__ == "__main__":
    main()
