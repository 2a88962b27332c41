"""Datasets: the NVlabs multi-resolution TFRecord format, its writers, and the tf.data pipeline.

    info = sg2tf.data.read_info("datasets/ffhq")            # DatasetInfo
    ds = sg2tf.data.make_dataset("datasets/ffhq", batch_size=32, mirror=True, seed=0)
    for images, labels in ds:  # NHWC float32 in [-1, 1], float32 [B, label_size]
        ...

See docs/datasets.md for the format and the `sg2tf-dataset` tool.
"""

from sg2tf.data.errors import DatasetError
from sg2tf.data.info import DatasetInfo, read_info
from sg2tf.data.pipeline import make_dataset, read_data_info, record_reader

__all__ = ["DatasetError", "DatasetInfo", "make_dataset", "read_data_info", "read_info", "record_reader"]
