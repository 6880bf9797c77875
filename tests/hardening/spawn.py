"""Run one command with an address-space cap and report its wall time and peak RSS (see harness.py).

    python -I -S spawn.py RESULT_FILE CAP_BYTES COMMAND [ARG...]

This small process forks the command and reaps it with `os.wait4`. It exists because the kernel
carries a process's peak RSS across `exec`: a command forked straight from pytest (hundreds of MB
by the end of the suite) would report pytest's own peak as its `ru_maxrss`. Forked from here, it
inherits only this process's few MB. The cap is set in the forked child, before `exec`.

RESULT_FILE receives `seconds maxrss_bytes`; the exit status is the command's (128 + N for signal N).
"""

import os
import resource
import sys
import time


def main() -> int:
    result, cap, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: cap its memory, then become the command
        try:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(result, "w", encoding="ascii") as handle:
        handle.write(f"{seconds} {usage.ru_maxrss * 1024}\n")  # ru_maxrss is in KiB on Linux
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
