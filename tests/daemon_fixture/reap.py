"""Run a command as a child subreaper and print the exit status of each process it reaps.

    python reap.py TIMEOUT COMMAND...

A daemon started by COMMAND is reparented to this process instead of init, so its exit
status can be read. Prints one JSON line last: {"command": status, "descendants": {pid:
status}, "timed_out": bool}. A status is negative when a signal ended the process. Linux
only, because it uses prctl(PR_SET_CHILD_SUBREAPER).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time

#: From <linux/prctl.h>.
PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    timeout = float(sys.argv[1])
    command = sys.argv[2:]

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")

    child = subprocess.Popen(command)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    timed_out = True
    while time.monotonic() < deadline:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            timed_out = False
            break
        if pid == 0:
            time.sleep(0.02)
            continue
        statuses[pid] = os.waitstatus_to_exitcode(status)

    sys.stdout.flush()
    print(json.dumps({
        "command": statuses.pop(child.pid, None),
        "descendants": {str(pid): status for pid, status in statuses.items()},
        "timed_out": timed_out,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
