"""Settings shared by the whole test suite."""

import os

# Figures are drawn off screen. This must happen before matplotlib is first
# imported, which a test module may do at import time.
os.environ["MPLBACKEND"] = "Agg"
