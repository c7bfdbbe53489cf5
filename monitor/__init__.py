"""leakmon: watch where stolen data is traded for an organization's names and records."""

import os as _os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a thread per core at import, which spins for a while: 0.1 CPU-s
# taken from the scan workers of every `leakmon scan --fingerprints` on two cores. leakmon
# does no linear algebra (numpy holds its tables and hashes), so one thread; whoever sets
# the variable keeps their value. Here, before any module of ours can import numpy.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
