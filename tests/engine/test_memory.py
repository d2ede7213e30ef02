"""A 500-step run stays small: peak memory under 100 MB."""

import subprocess
import sys

SCRIPT = """
import resource
from engine import Trainer
t = Trainer()
t.begin_run(500)
for _ in t.steps():
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_peak_memory_of_a_500_step_run_is_under_100_mb():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    peak_kb = int(out.stdout.strip())
    assert peak_kb < 100 * 1024
