#!/usr/bin/env python3
"""The TF Serving gRPC API as the installed `tensorflow-serving-api` package defines it
(run in .cache/tf-venv): the proto files it is built from and their descriptors.

  deps [--service S ...]   every .proto file the services need, with its imports
  fds --out FILE           a serialized google.protobuf.FileDescriptorSet of those files
                           (`protoc --descriptor_set_in`, prost_build::Config::compile_fds, or a
                           test that checks hand-written protos' field numbers against it)
  show MESSAGE             a message's fields (number, type, label), e.g.
                           tensorflow.serving.PredictRequest

Services: tensorflow.serving.PredictionService (prediction_service.proto) and
tensorflow.serving.ModelService (model_service.proto).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from google.protobuf import descriptor_pb2  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor  # noqa: E402
from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2  # noqa: E402

ROOTS = {"PredictionService": prediction_service_pb2.DESCRIPTOR,
         "ModelService": model_service_pb2.DESCRIPTOR}


def closure(services: list[str]) -> list:
    """File descriptors in dependency order (imports first)."""
    out, seen = [], set()

    def walk(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for d in fd.dependencies:
            walk(d)
        out.append(fd)
    for s in services:
        walk(ROOTS[s])
    return out


def type_name(f: FieldDescriptor) -> str:
    if f.message_type is not None:
        return f.message_type.full_name
    if f.enum_type is not None:
        return f.enum_type.full_name
    names = {v: k[len("TYPE_"):].lower() for k, v in vars(FieldDescriptor).items() if k.startswith("TYPE_")}
    return names[f.type]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deps")
    d.add_argument("--service", nargs="*", choices=sorted(ROOTS), default=sorted(ROOTS))
    f = sub.add_parser("fds")
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--service", nargs="*", choices=sorted(ROOTS), default=sorted(ROOTS))
    s = sub.add_parser("show")
    s.add_argument("message")
    a = ap.parse_args()
    if a.cmd == "deps":
        for fd in closure(a.service):
            deps = ", ".join(x.name for x in fd.dependencies)
            print(f"{fd.name}" + (f"  <- imports {deps}" if deps else ""))
        for name, root in ROOTS.items():
            if name in a.service:
                for svc in root.services_by_name.values():
                    print(f"service {svc.full_name}: " + ", ".join(
                        f"{m.name}({m.input_type.full_name}) -> {m.output_type.full_name}" for m in svc.methods))
    elif a.cmd == "fds":
        fds = descriptor_pb2.FileDescriptorSet()
        for fd in closure(a.service):
            fd.CopyToProto(fds.file.add())
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_bytes(fds.SerializeToString())
        print(f"tfs_protos: wrote {a.out} ({len(fds.file)} files)")
    else:
        from google.protobuf import descriptor_pool  # the imports above registered every file
        m = descriptor_pool.Default().FindMessageTypeByName(a.message)
        print(f"message {m.full_name}  ({m.file.name})")
        for fld in m.fields:
            label = "repeated " if fld.is_repeated else ""  # protobuf 7: no .label
            oneof = f"  [oneof {fld.containing_oneof.name}]" if fld.containing_oneof else ""
            print(f"  {label}{type_name(fld)} {fld.name} = {fld.number};{oneof}")
        for e in m.enum_types:
            print(f"  enum {e.name} {{ " + ", ".join(f"{v.name} = {v.number}" for v in e.values) + " }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
