"""The command loop both timing workers answer (`tf_worker` and `pytorch_worker.py`).

Standard library only: `pytorch_worker.py` runs under a Python without sg2tf and imports
this file from its own folder. The commands (JSON, one per line on stdin) and replies
(JSON, one line on stdout) are described in `pytorch_worker.py`.
"""

import json
import resource
import sys
import time
import traceback


def reply(obj):
    """Writes one reply line to stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def peak_rss_mib():
    """The process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def serve(make_task, runtime, max_error_chars=None):
    """Answers the commands on stdin until `quit` or the end of input.

    Args:
      make_task: `cmd -> task` for a `setup` command; a task has `params` and `unit()`
        (one timed unit) and may have `images` (images per unit).
      runtime: `() -> dict` of what the setup reply reports about the runtime (versions,
        threads).
      max_error_chars: cut an error's message to this many characters (None: whole).
    """
    task = None
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "setup":
                task = None
                start = time.perf_counter()
                task = make_task(cmd)
                info = {"ok": True, "setup_s": time.perf_counter() - start, "params": task.params}
                reply(
                    {
                        **info,
                        "images_per_unit": getattr(task, "images", None),
                        **runtime(),
                        "peak_rss_mib": peak_rss_mib(),
                    }
                )
            elif cmd["cmd"] == "time":
                seconds = []
                for _ in range(int(cmd.get("n", 1))):
                    start = time.perf_counter()
                    task.unit()
                    seconds.append(time.perf_counter() - start)
                reply({"ok": True, "seconds": seconds, "peak_rss_mib": peak_rss_mib()})
            elif cmd["cmd"] == "quit":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": f"unknown command {cmd['cmd']!r}"})
        except Exception as e:  # Reported to the driver, which decides.
            traceback.print_exc(file=sys.stderr)
            reply({"ok": False, "error": f"{type(e).__name__}: {str(e)[:max_error_chars]}"})
