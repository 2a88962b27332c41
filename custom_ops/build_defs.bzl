"""Bazel macros for sg2tf's TensorFlow op libraries (after tensorflow/custom-op).

  sg2tf_op_family   one op family: op definitions, CPU kernels and (with --config=cuda)
                    CUDA kernels compiled by nvcc.
  sg2tf_op_library  the shared library loaded by tf.load_op_library.
"""

load("@local_config_tf//:build_defs.bzl", "TF_COPTS", "TF_VERSION")
load("@local_config_cuda//:defs.bzl", "NVCC_GENCODE_FLAGS")

# Bump when an op's interface (inputs, attrs, semantics) changes; sg2tf/ops/_custom.py
# refuses a library with another number.
SG2TF_OPS_API_VERSION = 2

SG2TF_COPTS = TF_COPTS + [
    "-O3",
    "-fPIC",
    # Let the vectorizer if-convert float selects and call math functions without errno;
    # unlike -ffast-math these keep every result bit-identical.
    "-fno-trapping-math",
    "-fno-math-errno",
    "-Wno-deprecated-declarations",
    "-Wno-sign-compare",
    "-DSG2TF_OPS_API_VERSION=%d" % SG2TF_OPS_API_VERSION,
    "-DSG2TF_TF_VERSION=%s" % TF_VERSION,
]

SG2TF_CUDA_COPTS = ["-DGOOGLE_CUDA=1"]

NVCC_FLAGS = [
    "-x cu",
    "-std=c++17",
    "-O3",
    "-DGOOGLE_CUDA=1",
    "-Xcompiler -fPIC",
    "--expt-relaxed-constexpr",
] + NVCC_GENCODE_FLAGS

def if_cuda(if_true, if_false = []):
    """Selects `if_true` in --config=cuda builds."""
    return select({
        "//custom_ops:cuda": if_true,
        "//conditions:default": if_false,
    })

def sg2tf_cuda_objects(name, srcs, hdrs = []):
    """Compiles .cu.cc sources with nvcc into PIC objects (one genrule per source).

    The kernels include only the shared headers of custom_ops (no TensorFlow headers), so
    the CUDA toolkit's own headers are all nvcc needs.
    """
    objs = []
    for src in srcs:
        obj = src.replace(".cu.cc", ".cu.pic.o")
        native.genrule(
            name = name + "_" + src.replace("/", "_").replace(".", "_"),
            srcs = [src] + hdrs,
            outs = [obj],
            tools = ["@local_config_cuda//:nvcc"],
            cmd = "$(location @local_config_cuda//:nvcc) -c %s -I. -I$(GENDIR) $(location %s) -o $@" % (
                " ".join(NVCC_FLAGS),
                src,
            ),
            message = "nvcc " + src,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        deps = ["@local_config_cuda//:cudart_static"],
        alwayslink = 1,
    )

def sg2tf_op_family(name, srcs, hdrs = [], gpu_srcs = [], deps = []):
    """One op family: its op and kernel sources, with CUDA kernels in --config=cuda."""
    gpu_deps = []
    if gpu_srcs:
        sg2tf_cuda_objects(name = name + "_cuda", srcs = gpu_srcs, hdrs = hdrs)
        gpu_deps = [":" + name + "_cuda"]
    native.cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        copts = SG2TF_COPTS + if_cuda(SG2TF_CUDA_COPTS),
        deps = deps + [
            "@local_config_tf//:tf_header_lib",
        ] + if_cuda(gpu_deps + ["@local_config_tf//:tf_cuda_headers"]),
        alwayslink = 1,
    )

def sg2tf_op_library(name, deps, srcs = []):
    """The shared op library (`name` should end in .so), linked against the pip TF."""
    native.cc_binary(
        name = name,
        srcs = srcs,
        copts = SG2TF_COPTS + if_cuda(SG2TF_CUDA_COPTS),
        linkshared = 1,
        linkopts = [
            "-Wl,--no-undefined",
            "-Wl,-z,defs",
            "-Wl,--as-needed",
        ],
        deps = deps + [
            "@local_config_tf//:tf_header_lib",
            "@local_config_tf//:libtensorflow_framework",
        ],
    )
