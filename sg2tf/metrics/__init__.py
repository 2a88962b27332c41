"""Quality metrics: FID, KID, precision/recall, PPL, IS.

`sg2tf.metrics.stats` holds the statistics (plain numpy), `sg2tf.metrics.features` the
standard feature networks (loaded from user-supplied or cached files, never pickled
code), `sg2tf.metrics.runner` the metric definitions, real-statistics cache and JSON
lines output used by `sg2tf-metrics` and by training snapshots.
"""

from sg2tf.metrics.features import FeatureNetworkMissing
from sg2tf.metrics.runner import METRICS, compute_metrics

__all__ = ["FeatureNetworkMissing", "METRICS", "compute_metrics"]
