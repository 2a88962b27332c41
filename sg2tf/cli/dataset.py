"""sg2tf-dataset: create, inspect and convert TFRecord datasets.

    sg2tf-dataset COMMAND --flag=value ...     sg2tf-dataset COMMAND --help

A thin layer over `sg2tf.data`: parse flags, call one library function, report. Errors in
the input print one clear message and exit with status 1; bad usage exits with status 2.
"""

import json
import sys

from absl import flags

from sg2tf.cli import dataset_flags
from sg2tf.errors import UserError
from sg2tf.utils import console
from sg2tf.utils import images as image_utils
from sg2tf.utils.progress import Progress

FLAGS = flags.FLAGS
PROG = "sg2tf-dataset"
_OWN_FLAGS = frozenset(n for _, required, optional in dataset_flags.COMMANDS.values() for n in required + optional)


def _usage():
    lines = [f"usage: {PROG} COMMAND [--flags]   ({PROG} COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name:<20}{summary}" for name, (summary, _, _) in dataset_flags.COMMANDS.items()]
    return "\n".join(lines) + "\n"


def _command_help(command):
    summary, required, optional = dataset_flags.COMMANDS[command]
    lines = [f"usage: {PROG} {command} " + " ".join(f"--{n}=..." for n in required) + " [options]", "", summary, ""]
    for title, names in (("required flags:", required), ("options:", optional)):
        if names:
            lines.append(title)
            for n in names:
                flag = FLAGS[n]
                default = "" if flag.default is None else f" (default: {flag.default_as_str or flag.default})"
                lines.append(f"  --{n}: {flag.help}{default}")
    return "\n".join(lines) + "\n"


def _execute(command):
    """Runs one subcommand with the parsed FLAGS; returns the exit status."""
    from sg2tf.data import images, sources, synthetic, tools, writer
    from sg2tf.data.errors import DatasetError

    f = FLAGS
    write = dict(resolutions=f.resolutions, encoding=f.encoding, overwrite=f.overwrite, progress=f.progress)
    shuffle = f.shuffle if f.shuffle is not None else command != "from_zip"
    source = None
    if command in ("create_from_images", "from_zip"):
        pad = image_utils.parse_size(f.pad_to_square) if f.pad_to_square else None
        writer.output.check_output(f.tfrecord_dir, f.overwrite)  # before validating a big folder
        source = images.image_source(
            f.image_dir if command == "create_from_images" else f.source,
            resize=f.resize,
            resolution=f.resolution,
            convert_mode=f.convert_mode,
            keep_alpha=f.keep_alpha,
            pad_to_square=pad,
            pad_rule=f.pad_rule,
            allow_nonsquare=f.allow_nonsquare,
            resize_filter=f.resize_filter,
            skip_bad=f.skip_bad,
            progress=f.progress,
        )
    elif command == "create_from_hdf5":
        source = sources.hdf5_source(f.hdf5_filename)
    elif command == "create_cifar10":
        source = sources.cifar10_source(f.cifar10_dir, ignore_labels=f.ignore_labels)
    elif command == "create_cifar100":
        source = sources.cifar100_source(f.cifar100_dir)
    elif command == "create_mnist":
        source = sources.mnist_source(f.mnist_dir)
    elif command == "create_lsun":
        writer.output.check_output(f.tfrecord_dir, f.overwrite)
        source = sources.lsun_source(f.lmdb_dir, resolution=f.resolution or 256, max_images=f.max_images)
    elif command == "create_synthetic":
        source = synthetic.synthetic_source(
            f.num_images or 5000, resolution=f.resolution or 32, seed=f.seed, labels=f.labels
        )
    if source is not None:
        for line in source.notes or ():
            print(line)
        info = writer.write_dataset(f.tfrecord_dir, source, shuffle=shuffle, **write)
        print(
            f"Wrote {info.count} images ({info.shape[1]}x{info.shape[0]}x{info.channels}, "
            f"labels {info.label_size}, resolutions {list(info.resolutions)}) to {info.path}"
        )
        return 0

    if command == "info":
        summary = tools.summary(f.tfrecord_dir, split=f.split)
        if f.verify:
            from sg2tf.data import info as info_lib
            from sg2tf.data import records

            info = info_lib.read_info(f.tfrecord_dir, split=f.split)
            with Progress(info.count * len(info.resolutions), "Verifying", enabled=f.progress) as bar:
                summary["verified_records"] = records.verify(info, bar)
        print(json.dumps(summary, indent=2))
    elif command in ("extract", "to_zip"):
        # The same export, to a folder of images or to a zip.
        export, dest, done = (
            (tools.extract, f.output_dir, "Extracted") if command == "extract" else (tools.to_zip, f.dest, "Exported")
        )
        options = dict(resolution=f.resolution, label_format=f.label_format, overwrite=f.overwrite, progress=f.progress)
        info = export(f.tfrecord_dir, dest, **options)
        print(f"{done} {info.count} images to {dest}")
    elif command == "compare":
        result = tools.compare(f.tfrecord_dir_a, f.tfrecord_dir_b, ignore_labels=f.ignore_labels)
        print(json.dumps(result, indent=2))
        return 0 if result["identical"] else 1
    elif command == "filter":
        from sg2tf.data import info as info_lib
        from sg2tf.data.names import read_names
        from sg2tf.tools.rank import drop_indices

        info = info_lib.read_info(f.tfrecord_dir)
        writer.check_filter_output(f.tfrecord_dir, f.dest, f.overwrite)
        try:
            drop, what = drop_indices(
                info.count,
                read_names(info),
                rank_file=f.rank_file,
                drop_fraction=f.drop_fraction,
                drop_list=f.drop_list,
            )
        except (ValueError, OSError) as e:
            raise DatasetError(str(e)) from None
        new = writer.filter_dataset(f.tfrecord_dir, f.dest, drop, overwrite=f.overwrite, progress=f.progress, info=info)
        print(f"Left out {len(drop)} images ({what}); wrote {new.count} of {info.count} to {new.path}")
    elif command == "grid":
        width, height = tools.grid(
            f.tfrecord_dir,
            f.output,
            num_images=f.num_images or 64,
            resolution=f.resolution,
            columns=f.columns,
            overwrite=f.overwrite,
        )
        print(f"Saved a {width}x{height} grid to {f.output}")
    return 0


def main(argv):
    """Runs `argv` (`[prog, COMMAND, flags...]`); returns the exit status."""
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        (sys.stdout if len(argv) >= 2 else sys.stderr).write(_usage())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in dataset_flags.COMMANDS:
        sys.stderr.write(f"{PROG}: unknown command {command!r}\n\n" + _usage())
        return 2
    if any(a in ("-h", "--help", "--helpshort", "--helpfull", "-?") for a in argv[2:]):
        sys.stdout.write(_command_help(command))
        return 0

    _, required, optional = dataset_flags.COMMANDS[command]
    try:
        try:
            extra = FLAGS([f"{PROG} {command}"] + list(argv[2:]))[1:]
        except flags.Error as e:
            sys.stderr.write(f"error: {' '.join(str(e).split())} (see {PROG} {command} --help)\n")
            return 2
        allowed = set(required) | set(optional)
        misplaced = sorted(n for n in _OWN_FLAGS if FLAGS[n].present and n not in allowed)
        missing = [n for n in required if FLAGS[n].value in (None, "")]
        problem = None
        if extra:
            problem = f"unexpected arguments {extra}; give inputs as flags"
        elif misplaced:
            problem = "flags not used by this command: " + ", ".join(f"--{n}" for n in misplaced)
        elif missing:
            problem = "missing required flags: " + ", ".join(f"--{n}" for n in missing)
        if problem:
            sys.stderr.write(f"error: {problem} (see {PROG} {command} --help)\n")
            return 2

        console.quiet_start(FLAGS.verbose)
        try:
            return _execute(command)
        except UserError as e:
            # The one-line `error: ...` of every program (cli/common.run), after a progress bar's line.
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + f"error: {e}\n")
            return e.exit_code
        except KeyboardInterrupt:
            sys.stderr.write(f"\n{PROG} {command}: interrupted; no output was left behind\n")
            return 130
    finally:
        FLAGS.unparse_flags()


def run():
    """Console entry point."""
    sys.exit(main(sys.argv))


if __name__ == "__main__":
    run()
