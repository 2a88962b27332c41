// Build facts of the op library. sg2tf/ops/_custom.py finds the marked string in the
// file's bytes, without loading it, and refuses a library built for another TensorFlow
// version, C++ ABI or op interface before handing it to tf.load_op_library.
#ifndef SG2TF_OPS_API_VERSION
#error "SG2TF_OPS_API_VERSION must be defined by the build (custom_ops/build_defs.bzl)"
#endif
#ifndef SG2TF_TF_VERSION
#error "SG2TF_TF_VERSION (the TensorFlow built against) must be defined by the build"
#endif

#define SG2TF_STR2(x) #x
#define SG2TF_STR(x) SG2TF_STR2(x)

#if GOOGLE_CUDA
#define SG2TF_WITH_CUDA "1"
#else
#define SG2TF_WITH_CUDA "0"
#endif

namespace {

// "key=value" pairs separated by ';', between the markers.
__attribute__((used)) const char kBuildInfo[] =
    "<sg2tf-build-info>"
    "api=" SG2TF_STR(SG2TF_OPS_API_VERSION) ";"
    "tf_version=" SG2TF_STR(SG2TF_TF_VERSION) ";"
    "cxx11_abi=" SG2TF_STR(_GLIBCXX_USE_CXX11_ABI) ";"
    "cuda=" SG2TF_WITH_CUDA ";"
    "compiler=" __VERSION__
    "</sg2tf-build-info>";

}  // namespace

extern "C" __attribute__((visibility("default"))) const char* sg2tf_ops_build_info() {
  return kBuildInfo;
}
