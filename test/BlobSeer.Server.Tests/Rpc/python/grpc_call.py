#!/usr/bin/python3
"""Makes one unary call with a stock gRPC client (python3-grpcio) and raw message bytes.

usage: grpc_call.py HOST:PORT /package.Service/Method REQUEST
  REQUEST is the serialized request message in hex, or @FILE for a file holding its bytes
  (command-line arguments are limited to 128 KiB, too little for a page).

With BLOBSEER_SECRET set, the call carries the cluster secret as the metadata
"authorization: Bearer SECRET", as any stock client of a cluster with a secret does.
With BLOBSEER_TLS_CA set (a PEM file), the channel is TLS and trusts that CA alone; with
BLOBSEER_TLS_CERT and BLOBSEER_TLS_KEY also set, it presents that client certificate.

On success prints the serialized response message in hex and exits 0. On a gRPC error prints
"ERROR <StatusCode name> <details>" and exits 3. Exits 2 on bad usage or a missing grpc module.
"""
import os
import sys


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import grpc
    except ImportError:
        print("ERROR_NO_GRPC python3 has no grpc module: apt-get install python3-grpcio", file=sys.stderr)
        return 2

    target, path, request = argv[1], argv[2], argv[3]
    if request.startswith("@"):
        with open(request[1:], "rb") as f:
            payload = f.read()
    else:
        payload = bytes.fromhex(request)

    options = [
        # Cluster traffic never goes through a proxy, whatever http_proxy says.
        ("grpc.enable_http_proxy", 0),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]
    ca = os.environ.get("BLOBSEER_TLS_CA")
    if ca:
        def read(name):
            path = os.environ.get(name)
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read("BLOBSEER_TLS_CA"),
            private_key=read("BLOBSEER_TLS_KEY"),
            certificate_chain=read("BLOBSEER_TLS_CERT"))
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    with channel:
        # No serializers: requests and responses pass through as raw bytes.
        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        try:
            secret = os.environ.get("BLOBSEER_SECRET")
            metadata = [("authorization", "Bearer " + secret)] if secret else None
            response = call(payload, timeout=30, metadata=metadata)
        except grpc.RpcError as error:
            print("ERROR %s %s" % (error.code().name, error.details()))
            return 3

    sys.stdout.write(response.hex())
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
