#!/usr/bin/env python3
"""Third-party clients of the TEI and OpenAI routes: the `openai` package's
`embeddings.create` (float and base64) and `huggingface_hub`'s `InferenceClient`
(`feature_extraction`, `text_classification`) against the real berth-serve binary,
each answer checked against ONNX Runtime run here on the same model (mean pooling
over the attention mask, as berth-serve does; softmax for the classifier).

LangChain's `OpenAIEmbeddings` is not run: it pulls langchain-core, langsmith and
tiktoken, and by default fetches tiktoken's encoding from the internet on first use;
it calls the same `embeddings.create` the openai check covers.

usage: clients.py --binary target/debug/berth-serve --models .cache/models
"""
import base64
import os
import sys
import urllib.request

import numpy as np
import onnxruntime as ort
from harness import Checks, Process, close, reference, run_main
from huggingface_hub import InferenceClient
from openai import OpenAI
from tokenizers import Tokenizer

check = Checks()


class Server(Process):
    """The binary, once `/health` answers 200."""

    def __init__(self, binary, name, base, extra=()):
        super().__init__(binary, name, base, extra)
        self.url = f"http://{self.rest}"
        self.wait(lambda: urllib.request.urlopen(f"{self.url}/health", timeout=2).status == 200)


class Onnx:
    """ONNX Runtime on version 1 of a model: the reference the clients' answers must equal."""

    def __init__(self, version_dir):
        self.session = ort.InferenceSession(os.path.join(version_dir, "model.onnx"))
        self.tokenizer = Tokenizer.from_file(os.path.join(version_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def run(self, texts):
        encs = [self.tokenizer.encode(t) for t in texts]
        longest = max(len(e.ids) for e in encs)
        pad = lambda rows: np.array([r + [0] * (longest - len(r)) for r in rows], dtype=np.int64)
        feed = {
            "input_ids": pad([e.ids for e in encs]),
            "attention_mask": pad([[1] * len(e.ids) for e in encs]),
            "token_type_ids": pad([e.type_ids for e in encs]),
        }
        out = self.session.run(None, feed)[0]
        return out, feed["attention_mask"], sum(len(e.ids) for e in encs)

    def embeddings(self, texts):
        hidden, mask, tokens = self.run(texts)
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return pooled, tokens

    def probabilities(self, texts):
        logits, _, _ = self.run(texts)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def normalized(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@check
def openai_float_embeddings_and_usage(ctx):
    client = OpenAI(base_url=f"{ctx['tiny'].url}/v1", api_key="unused")
    want, tokens = ctx["tiny_onnx"].embeddings(ctx["texts"])
    resp = client.embeddings.create(model="tiny", input=ctx["texts"], encoding_format="float")
    assert resp.model == "tiny", resp.model
    assert [d.index for d in resp.data] == list(range(len(ctx["texts"])))
    close([d.embedding for d in resp.data], want, "openai float embeddings")
    assert resp.usage.prompt_tokens == tokens == resp.usage.total_tokens, (resp.usage, tokens)


@check
def openai_base64_embeddings(ctx):
    client = OpenAI(base_url=f"{ctx['tiny'].url}/v1", api_key="unused")
    want, _ = ctx["tiny_onnx"].embeddings(ctx["texts"][:2])
    # The client asks for base64 when no format is given and decodes it itself.
    resp = client.embeddings.create(model="tiny", input=ctx["texts"][:2])
    close([d.embedding for d in resp.data], want, "openai default (base64) embeddings")
    raw = client.embeddings.create(model="tiny", input=ctx["texts"][:2], encoding_format="base64")
    got = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in raw.data]
    close(got, want, "openai base64 embeddings")


@check
def openai_errors_are_raised_as_openai_errors(ctx):
    import openai

    client = OpenAI(base_url=f"{ctx['tiny'].url}/v1", api_key="unused", max_retries=0)
    try:
        client.embeddings.create(model="tiny", input="a", dimensions=8)
        raise AssertionError("dimensions 8 on a 32-wide model was accepted")
    except openai.BadRequestError as e:
        assert "dimensions" in e.message, e.message
    assert [m.id for m in client.models.list()] == ["tiny"]


@check
def hub_feature_extraction(ctx):
    client = InferenceClient(model=ctx["tiny"].url)
    want, _ = ctx["tiny_onnx"].embeddings([ctx["texts"][0]])
    got = client.feature_extraction(ctx["texts"][0])
    close(got, normalized(want), "feature_extraction (TEI normalizes by default)")
    got = client.feature_extraction(ctx["texts"][0], normalize=False)
    close(got, want, "feature_extraction normalize=False")
    # The explicit TEI route works as the base URL too.
    got = InferenceClient(model=f"{ctx['tiny'].url}/embed").feature_extraction(ctx["texts"][1])
    close(got, normalized(ctx["tiny_onnx"].embeddings([ctx["texts"][1]])[0]), "feature_extraction on /embed")


@check
def hub_text_classification(ctx):
    client = InferenceClient(model=ctx["classifier"].url)
    labels = ["NEGATIVE", "POSITIVE"]
    for text, want in zip(ctx["texts"], ctx["clf_onnx"].probabilities(ctx["texts"])):
        got = client.text_classification(text)
        # TEI answers one text with a flat list; the client keeps its best element.
        got = got if isinstance(got, list) else [got]
        best = int(np.argmax(want))
        assert got[0].label == labels[best], (got, want)
        assert abs(got[0].score - want[best]) < 1e-4, (got, want)


def setup(binary, models):
    ref, texts = reference(models, "tiny")
    tiny = Server(binary, "tiny", os.path.join(models, "tiny"), ["--model_version_policy=specific:1"])
    classifier = Server(binary, "sentiment", os.path.join(models, "tiny-classifier"))
    ctx = {
        "tiny": tiny,
        "classifier": classifier,
        "texts": texts,
        "tiny_onnx": Onnx(os.path.join(models, "tiny", "1")),
        "clf_onnx": Onnx(os.path.join(models, "tiny-classifier", "1")),
    }
    return ctx, [tiny, classifier]


if __name__ == "__main__":
    sys.exit(run_main("tei-openai-clients", check, setup))
