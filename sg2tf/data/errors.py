"""The one exception type of sg2tf.data."""


class DatasetError(Exception):
    """Bad input or a damaged dataset. The message names the file (and record) and the problem."""
