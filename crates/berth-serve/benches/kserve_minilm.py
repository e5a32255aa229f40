#!/usr/bin/env python3
"""The KServe comparison of `make bench`: MiniLM (the same ONNX file berth-serve
serves) in a custom kserve.Model, as a KServe user would write it: tokenize with
HuggingFace tokenizers, run onnxruntime, mean-pool over the attention mask, answer
the V2 protocol's BYTES-in / FP32-out. KServe's own flags (--http_port,
--grpc_port, --workers) are passed through to kserve.ModelServer."""
import argparse
import os

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

import kserve
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.model_server import parser as kserve_parser


class MiniLM(Model):
    def __init__(self, name, model_dir, threads):
        super().__init__(name)
        self.model_dir = model_dir
        self.threads = threads
        self.load()

    def load(self):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads > 0:
            so.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(os.path.join(self.model_dir, "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(self.model_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=128)
        self.tokenizer.enable_padding()
        self.ready = True

    # With --workers > 1 KServe pickles the model into each worker process:
    # ship the paths, rebuild the session there.
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("session", None)
        state.pop("tokenizer", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in payload.inputs[0].data]
        encs = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        types = np.array([e.type_ids for e in encs], dtype=np.int64)
        hidden = self.session.run(["last_hidden_state"],
                                  {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        m = mask[..., None].astype(np.float32)
        emb = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        out = InferOutput(name="embedding", shape=list(emb.shape), datatype="FP32", data=emb.astype(np.float32))
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[out])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(parents=[kserve_parser])
    ap.add_argument("--model_dir", required=True)
    ap.add_argument("--ort_threads", type=int, default=0)
    args, _ = ap.parse_known_args()
    model = MiniLM("minilm", args.model_dir, args.ort_threads)
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers).start([model])
