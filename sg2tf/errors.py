"""The one base type of the errors a user can fix: `UserError`.

Each package raises its own subclass (`sg2tf.data.DatasetError`,
`sg2tf.training.options.OptionsError`, `sg2tf.training.setup.TrainingError`,
`sg2tf.metrics.features.FeatureNetworkError`, ...), and the programs catch `UserError` once
(`sg2tf.cli.common`): they print `error: <message>` on one line, without a traceback, and exit
with the error's `exit_code`.

Message conventions: say where, then what, then (when there is one) what to do, in one line:
`<file, flag or option>: <what is wrong>[; <what to do>]`, e.g.
`--batch=7: not a multiple of the replica count 2` or
`data/ffhq: already exists; pass --overwrite to replace it`. No trailing period, and no
"error:" prefix (the program adds it).
"""

__all__ = ["FlagError", "UserError"]


class UserError(Exception):
    """Bad input, flags or files: the message says what is wrong and where; no traceback.

    `exit_code` is the status the programs exit with: 2 for bad usage (flags, options),
    1 for bad or damaged input data (subclasses set it).
    """

    exit_code = 2


class FlagError(UserError, ValueError):
    """A flag or argument value that is malformed, or does not fit the network or data it is
    used with (`--seeds=a`, `--class_idx=7` for 3 classes). A `ValueError` as well, so library
    callers that catch `ValueError` keep working."""
