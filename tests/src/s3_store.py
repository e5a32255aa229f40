"""An S3 bucket for the end-to-end suite (berth-e2e): moto's S3 server on the given
address (where the pods reach this machine) with a bucket `models`, and each `N=DIR` argument uploaded with boto3 under
`{prefix}/N/`. Prints the endpoint URL on one line, then serves until its stdin
closes (the test's handle on it is dropped)."""
import logging
import os
import socket
import sys

import boto3
from moto.server import ThreadedMotoServer


def main():
    bind, prefix, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind((bind, 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address=bind, port=port, verbose=False)
    server.start()
    endpoint = f"http://{bind}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="e2e", aws_secret_access_key="e2e-secret")
    s3.create_bucket(Bucket="models")
    for spec in versions:
        version, local = spec.split("=", 1)
        for root, _, files in os.walk(local):
            for name in files:
                path = os.path.join(root, name)
                key = f"{prefix}/{version}/{os.path.relpath(path, local)}"
                with open(path, "rb") as f:
                    s3.put_object(Bucket="models", Key=key, Body=f.read())
    print(endpoint, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
