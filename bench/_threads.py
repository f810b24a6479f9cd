"""One thread per numeric library in every benchmark, so timings on a shared machine are comparable.

Import it first in a benchmark: numpy's BLAS, faiss's OpenMP and OpenCV read these variables once, when they load.
`pin()` then pins the pools OpenCV, faiss and torch size for themselves, for whichever of them is loaded (a worker
process calls it again). A variable already set in the environment is kept: a run that asks for more threads gets
them, and the benchmarks that record their settings say so.
"""

from __future__ import annotations

import os
import sys

VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
for _name in VARIABLES:
    os.environ.setdefault(_name, "1")


def pin() -> None:
    """One thread for OpenCV's, faiss's and torch's own pools, for those this process has loaded."""
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(1)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
