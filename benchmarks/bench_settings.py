"""Settings of the benchmark's server: plandeploy's own, plus the bare reference view.

The bare view exists only here, so production's URL map never carries it; everything else
(middleware, database, serving) is what `plandeploy web` runs.
"""

from plandeploy.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
