"""berth-serve with its model repository in an object store (`s3://bucket/prefix`):
moto's S3 server with signature checks switched on and an IAM user's keys, filled
with boto3 as a user would. Checks: versions load from the bucket and answer like
ONNX Runtime; a version uploaded later takes over under load with no failed request;
a deleted one is unloaded; a corrupt one is reported and never answers; a wrong
secret is refused by the store and berth-serve says so."""
import atexit
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.exceptions import ClientError
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam import access_control
from moto.server import ThreadedMotoServer

from harness import Checks, Process, close, reference, run_main

check = Checks()
BUCKET, PREFIX = "models", "nlp/tiny"


def canonical_query_as_aws_does():
    """moto 5.1 checks a signature against the query as its web server decoded it
    (`prefix=nlp/tiny/`), where AWS uses the encoded query the client signed
    (`prefix=nlp%2Ftiny%2F`): every listing with a '/' in its prefix fails, boto3's
    own included. Re-encode the query (RFC 3986, as SigV4 specifies) before moto
    computes the signature it expects, so that checks can stay on."""
    original = access_control.IAMRequestBase.__init__

    def init(self, account_id, method, path, data, body, headers, action):
        base, _, query = path.partition("?")
        if query:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            enc = lambda x: urllib.parse.quote(x, safe="-_.~")  # noqa: E731
            path = base + "?" + "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)
        original(self, account_id, method, path, data, body, headers, action)

    access_control.IAMRequestBase.__init__ = init


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload(s3, local_dir, version, corrupt=False):
    for root, _, files in os.walk(local_dir):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, local_dir)
            body = open(path, "rb").read()
            if corrupt and name == "model.onnx":
                body = body[: len(body) // 3]
            s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{version}/{rel}", Body=body)


def delete_version(s3, version):
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{version}/")
    for obj in listed.get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


def post(server, path, body):
    req = urllib.request.Request(f"http://{server.rest}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def get(server, path):
    try:
        with urllib.request.urlopen(f"http://{server.rest}{path}", timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def infer(server, texts, version=None):
    path = f"/v2/models/tiny/versions/{version}/infer" if version else "/v2/models/tiny/infer"
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    return post(server, path, body)


def version_state(server, version):
    status, body = get(server, "/v1/models/tiny")
    if status != 200:
        return None, ""
    for v in body["model_version_status"]:
        if v["version"] == str(version):
            return v["state"], v["status"]["error_message"]
    return None, ""


@check
def serves_the_bucket_like_onnx_runtime(ctx):
    server = ctx["server"]
    ref, texts = reference(ctx["models"], "tiny")
    status, body = infer(server, texts, 1)
    assert status == 200, body
    got = body["outputs"][0]["data"]
    width = body["outputs"][0]["shape"][1]
    for i, item in enumerate(ref["items"]):
        close(got[i * width:(i + 1) * width], item["embedding"], f"text {i}")


@check
def a_new_version_takes_over_under_load_without_failures(ctx):
    server, s3 = ctx["server"], ctx["s3"]
    answers, failures, stop = {}, [], threading.Event()

    def client():
        while not stop.is_set():
            status, body = infer(server, ["hello world"])
            if status == 200:
                answers[body["model_version"]] = answers.get(body["model_version"], 0) + 1
            else:
                failures.append((status, body))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    upload(s3, os.path.join(ctx["models"], "tiny", "2"), 2)
    server.deadline = time.time() + 60
    server.wait(lambda: infer(server, ["x"])[1].get("model_version") == "2", "serving version 2 from the bucket")
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    print(f"       answers by version {answers}, failed {len(failures)}")
    assert not failures, failures[:3]
    assert answers.get("1", 0) > 0 and answers.get("2", 0) > 0, answers


@check
def a_deleted_version_is_unloaded_and_its_cache_removed(ctx):
    server = ctx["server"]
    delete_version(ctx["s3"], 1)
    server.deadline = time.time() + 30
    server.wait(lambda: version_state(server, 1)[0] in (None, "END"), "unloading version 1")
    assert infer(server, ["x"], 1)[0] in (404, 503)
    server.wait(lambda: not os.path.exists(os.path.join(ctx["cache"], "1")), "removing version 1's cache")
    assert os.path.isdir(os.path.join(ctx["cache"], "2"))


@check
def a_corrupt_version_is_reported_and_never_answers(ctx):
    server = ctx["server"]
    upload(ctx["s3"], os.path.join(ctx["models"], "tiny", "2"), 3, corrupt=True)
    server.deadline = time.time() + 30
    server.wait(lambda: version_state(server, 3)[1] != "", "reporting version 3's load error")
    state, error = version_state(server, 3)
    assert state == "END", (state, error)
    assert infer(server, ["x"], 3)[0] == 503
    status, body = infer(server, ["x"])
    assert status == 200 and body["model_version"] == "2", body


@check
def the_store_enforces_signatures(ctx):
    """The bucket really checks signatures: a client with a wrong secret is refused
    (so the checks above prove berth-serve signs correctly)."""
    bad = boto3.client("s3", endpoint_url=ctx["endpoint"], region_name="us-east-1",
                       aws_access_key_id=ctx["key_id"], aws_secret_access_key="wrong")
    try:
        bad.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response
    else:
        raise AssertionError("moto accepted a wrong signature")


@check
def a_wrong_secret_is_named_in_the_log(ctx):
    env = {**ctx["env"], "AWS_SECRET_ACCESS_KEY": "wrong"}
    server = Process(ctx["binary"], "tiny", f"s3://{BUCKET}/{PREFIX}", ["--file_system_poll_wait_seconds=0.2"], env)
    try:
        server.wait(lambda: "SignatureDoesNotMatch" in server.log_text() or "403" in server.log_text(),
                    "logging the store's refusal")
        assert get(server, "/v2/models/tiny/ready")[0] != 200
    finally:
        server.stop()


def setup(binary, models):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    canonical_query_as_aws_does()
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    admin = dict(endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="admin", aws_secret_access_key="admin")
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="berth")
    iam.put_user_policy(UserName="berth", PolicyName="models", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="berth")["AccessKey"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    s3.create_bucket(Bucket=BUCKET)
    upload(s3, os.path.join(models, "tiny", "1"), 1)
    # From here on every request must carry a valid signature of an IAM user's key
    # (moto's switch for it; the server runs in this process).
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}
    cache = tempfile.mkdtemp(prefix="berth-s3-cache-")
    # Removed when the check ends, however it ends: each run made a new one.
    atexit.register(shutil.rmtree, cache, True)
    server = Process(binary, "tiny", f"s3://{BUCKET}/{PREFIX}",
                     ["--file_system_poll_wait_seconds=0.2", "--model_version_policy=latest:2",
                      f"--remote_cache_dir={cache}"], env)
    server.wait(lambda: version_state(server, 1)[0] == "AVAILABLE", "serving version 1 from the bucket")
    ctx = {"server": server, "s3": s3, "env": env, "cache": cache, "endpoint": endpoint, "key_id": key["AccessKeyId"]}
    return ctx, [server, moto]


if __name__ == "__main__":
    sys.exit(run_main("s3-source", check, setup))
