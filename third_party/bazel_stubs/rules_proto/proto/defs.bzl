"""Forwards @rules_proto//proto:defs.bzl to Bazel's native proto rules (offline builds)."""

def proto_library(**attrs):
    native.proto_library(**attrs)

def proto_lang_toolchain(**attrs):
    native.proto_lang_toolchain(**attrs)
