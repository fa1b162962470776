#!/usr/bin/env python3
"""Submit one signed GPU usage record to a suanli ledger from Python.

A compute center's integration in one file:

1. generate Python gRPC stubs from the ledger's proto files (grpcio-tools, at run time,
   into a cache directory, so nothing generated is checked in);
2. build a UsageRecord and serialize it once; those bytes are what gets signed and sent;
3. sign  b"suanli/v1/usage\\n" + bytes  with the provider's ed25519 key (cryptography);
4. send the Envelope with Ingest.SubmitUsageBatch and print the Ack.

Usage:
    python suanli_client.py --server 127.0.0.1:7420 --key provider.key \\
        --provider 91350100M000100Y43 --renter 91110108551385082Q \\
        --record-id py-0001 --gpu-model H100 --gpu-count 8 --gpu-hours 8 --unit-price 12.50

The key file is the one `suanli keygen --out provider.key` writes. Exit status: 0 when the
record is ACCEPTED or DUPLICATE (a retry of the same record), 1 when REJECTED, 2 on a
usage or connection error. Sending the same record again is always safe.
"""

import argparse
import base64
import datetime
import decimal
import hashlib
import os
import sys
import tempfile

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
KEY_FILE_HEADER = "suanli-ed25519-secret-key-v1"
USAGE_DOMAIN = b"suanli/v1/usage\n"
PROTO_FILES = ["suanli/v1/signed.proto", "suanli/v1/ledger.proto", "suanli/v1/audit.proto"]


def generated_stubs(proto_dir):
    """Compiles the proto files (once per proto content) and imports the modules."""
    digest = hashlib.sha256()
    for name in PROTO_FILES:
        with open(os.path.join(proto_dir, name), "rb") as f:
            digest.update(f.read())
    out = os.path.join(tempfile.gettempdir(), "suanli-py-stubs-" + digest.hexdigest()[:16])
    if not os.path.exists(os.path.join(out, "suanli", "v1", "ledger_pb2_grpc.py")):
        from grpc_tools import protoc
        import grpc_tools

        os.makedirs(out, exist_ok=True)
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        args = ["protoc", "-I", proto_dir, "-I", well_known, "--python_out=" + out, "--grpc_python_out=" + out]
        if protoc.main(args + PROTO_FILES) != 0:
            sys.exit("suanli_client: generating stubs from %s failed" % proto_dir)
        for pkg in ("suanli", os.path.join("suanli", "v1")):
            open(os.path.join(out, pkg, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    from suanli.v1 import ledger_pb2, ledger_pb2_grpc, signed_pb2

    return signed_pb2, ledger_pb2, ledger_pb2_grpc


def read_key(path):
    """A suanli key file: a header line, then the base64 of the 32-byte ed25519 seed."""
    with open(path, encoding="ascii") as f:
        lines = [line.strip() for line in f if line.strip()]
    if len(lines) != 2 or lines[0] != KEY_FILE_HEADER:
        sys.exit("suanli_client: %s is not a suanli key file (first line %r)" % (path, KEY_FILE_HEADER))
    seed = base64.b64decode(lines[1], validate=True)
    if len(seed) != 32:
        sys.exit("suanli_client: %s does not hold a 32-byte key" % path)
    return Ed25519PrivateKey.from_private_bytes(seed)


def unix_seconds(text):
    """RFC 3339 with an offset (2026-03-01T08:00:00+08:00) to Unix seconds."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        sys.exit("suanli_client: %r needs a UTC offset" % text)
    return int(t.timestamp())


def amount_of(gpu_hours, unit_price):
    """gpu_hours x unit_price rounded to the fen, half away from zero, as the ledger does."""
    exact = decimal.Decimal(gpu_hours) * decimal.Decimal(unit_price)
    return str(exact.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def channel(args):
    if not args.ca:
        return grpc.insecure_channel(args.server)
    with open(args.ca, "rb") as f:
        ca = f.read()
    cert = key = None
    if args.client_cert:
        with open(args.client_cert, "rb") as f:
            cert = f.read()
        with open(args.client_key, "rb") as f:
            key = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(args.server, creds)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="127.0.0.1:7420", help="host:port of suanlid")
    p.add_argument("--key", required=True, help="the provider's key file (suanli keygen)")
    p.add_argument("--provider", required=True, help="USCC of the provider (owner of the key)")
    p.add_argument("--renter", required=True, help="USCC of the renter")
    p.add_argument("--record-id", required=True, help="your own id for this record; reuse it to retry")
    p.add_argument("--contract-id", default="")
    p.add_argument("--gpu-model", default="H100")
    p.add_argument("--gpu-count", type=int, default=8)
    p.add_argument("--gpu-hours", default="8", help="decimal string, at most 6 places")
    p.add_argument("--unit-price", default="12.50", help="yuan per GPU-hour, at most 4 places")
    p.add_argument("--end", help="RFC 3339 end of the span; default: the last full hour")
    p.add_argument("--hours", type=int, default=1, help="length of the span in hours (default 1)")
    p.add_argument("--voucher-id", default="")
    p.add_argument("--invoice-no", default="")
    p.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    p.add_argument("--ca", help="for TLS: the CA certificate (PEM) that signed the server's certificate")
    p.add_argument("--client-cert", help="for mutual TLS: this client's certificate (PEM)")
    p.add_argument("--client-key", help="for mutual TLS: the key of --client-cert (PEM)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")
    args = p.parse_args()

    signed_pb2, ledger_pb2, ledger_pb2_grpc = generated_stubs(args.proto_dir)
    key = read_key(args.key)
    public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    # Fixed fields give fixed bytes: a retry of the same record is answered DUPLICATE.
    end = unix_seconds(args.end) if args.end else (int(datetime.datetime.now().timestamp()) // 3600 - 1) * 3600
    record = signed_pb2.UsageRecord(
        record_id=args.record_id,
        provider_id=args.provider,
        renter_id=args.renter,
        contract_id=args.contract_id,
        gpu_model=args.gpu_model,
        gpu_count=args.gpu_count,
        start=end - args.hours * 3600,
        end=end,
        gpu_hours=args.gpu_hours,
        unit_price=args.unit_price,
        amount=amount_of(args.gpu_hours, args.unit_price),
        voucher_id=args.voucher_id,
        invoice_no=args.invoice_no,
    )
    payload = record.SerializeToString()
    envelope = signed_pb2.Envelope(
        payload=payload, public_key=public_key, signature=key.sign(USAGE_DOMAIN + payload)
    )

    stub = ledger_pb2_grpc.IngestStub(channel(args))
    try:
        answer = stub.SubmitUsageBatch(ledger_pb2.EnvelopeBatch(envelopes=[envelope]), timeout=args.timeout)
    except grpc.RpcError as e:
        print("suanli_client: the ledger at %s: %s: %s" % (args.server, e.code().name, e.details()), file=sys.stderr)
        return 2
    ack = answer.acks[0]
    status = ledger_pb2.Status.Name(ack.status).replace("STATUS_", "")
    print("record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason")
    if status == "REJECTED":
        print("%s,%s,,,,,%s" % (args.record_id, status, ack.reason))
        print("suanli_client: rejected: %s: %s" % (ack.reason, ack.detail), file=sys.stderr)
        return 1
    lines = ack.lines
    reasons = "|".join([lines.voucher_reason, lines.renter_reason, lines.supplier_reason])
    print(
        "%s,%s,%d,%s,%s,%s,%s"
        % (args.record_id, status, ack.seq, lines.voucher_drawn, lines.renter_subsidy, lines.supplier_subsidy, reasons)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
