"""A 500-step run stays small: peak memory under 100 MB."""

import subprocess
import sys

# VmHWM is this process image's peak resident memory; ru_maxrss would also count the parent
# that forked it (Linux keeps the maximum across exec), here the whole pytest process.
SCRIPT = """
from engine import Trainer
t = Trainer()
t.begin_run(500)
for _ in t.steps():
    pass
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
"""


def test_peak_memory_of_a_500_step_run_is_under_100_mb():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    peak_kb = int(out.stdout.strip())
    assert peak_kb < 100 * 1024
