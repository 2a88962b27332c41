"""The one exception type of sg2tf.data."""

from sg2tf.errors import UserError


class DatasetError(UserError):
    """Bad input or a damaged dataset. The message names the file (and record) and the problem."""

    exit_code = 1
