"""Submit signed GPU usage records to a suanli ledger from Python.

A compute center's integration in one module:

1. generate Python gRPC stubs from the ledger's proto files (grpcio-tools, at run time,
   into a private cache directory of the user, mode 0700, so nothing generated is checked in
   and no other local user can plant code there);
2. build each UsageRecord and serialize it once; those bytes are what gets signed and sent,
   and they depend on the record's fields alone, never on when it is sent;
3. sign  b"suanli/v1/usage\\n" + bytes  with the provider's ed25519 key (cryptography);
   or, for a CSV file, sign up to 64 records at once: one signature over the ledger's
   origin and the Merkle root of the records (docs/INTEGRATION.md, "Signing many records
   at once"), which is what makes a compute center's upload fast;
4. keep the signed envelopes (CSV mode: in FILE.signed beside the CSV) so a retry sends
   exactly the same bytes;
5. send them (one record: Ingest.SubmitUsageBatch; a CSV file: Ingest.SubmitUsageBatchSigned,
   or SubmitUsageBatch with --single-signatures) and print one CSV line per record, as
   `suanli usage submit` does.

One record:
    python -m suanli_client --server 127.0.0.1:7420 --proto-dir proto --key provider.key \\
        --provider 91350100M000100Y43 --renter 91110108551385082Q \\
        --record-id py-0001 --gpu-count 8 --gpu-hours 8 --unit-price 12.50 \\
        --end 2026-06-30T12:00:00+08:00

A CSV file (the columns of `suanli usage submit`):
    python -m suanli_client --server 127.0.0.1:7420 --proto-dir proto --key provider.key --csv usage.csv

--server is host:port (no scheme); with TLS add --ca (and --client-cert/--client-key).
--end is required: a record's end is part of its signed bytes, so a default such as "the
last full hour" would make a retry an hour later a different record (CONFLICT).

Exit status: 0 every record ACCEPTED or DUPLICATE; 1 some record REJECTED; 2 a usage error
(bad arguments, unreadable key or CSV file); 3 the ledger could not be reached or refused
the call (retry later: sending the same records again is always safe).
"""

import argparse
import base64
import csv
import datetime
import decimal
import hashlib
import os
import stat
import sys

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3

HERE = os.path.dirname(os.path.abspath(__file__))
KEY_FILE_HEADER = "suanli-ed25519-secret-key-v1"
USAGE_DOMAIN = b"suanli/v1/usage\n"
USAGE_BATCH_DOMAIN = b"suanli/v1/usage-batch\n"
BATCH_SIGNED_MAX = 64
PROTO_FILES = ["suanli/v1/signed.proto", "suanli/v1/ledger.proto", "suanli/v1/audit.proto"]
BATCH_RECORDS_MAX = 10000
USAGE_COLUMNS = [
    "record_id", "provider_id", "renter_id", "contract_id", "gpu_model", "gpu_count", "start", "end",
    "gpu_hours", "unit_price", "amount", "voucher_id", "invoice_no",
]
RESULT_HEADER = "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason"


class UsageError(Exception):
    """A mistake in the arguments or input files (exit status 2)."""


def default_proto_dir():
    """The repository's proto/ when run from a checkout; $SUANLI_PROTO_DIR otherwise."""
    env = os.environ.get("SUANLI_PROTO_DIR")
    if env:
        return env
    candidate = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))
    return candidate if os.path.isdir(candidate) else None


def private_cache_dir():
    """A directory only this user can write: $XDG_CACHE_HOME/suanli-client or ~/.cache/...

    Created with mode 0700; refused if it exists but belongs to someone else or others may
    write to it, since Python modules generated there are imported.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "suanli-client")
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise UsageError("%s must be a directory of yours that others cannot write to" % path)
    return path


def generated_stubs(proto_dir):
    """Compiles the proto files (once per proto content) and imports the modules."""
    if not proto_dir:
        raise UsageError("give --proto-dir (the ledger's proto/ directory) or set SUANLI_PROTO_DIR")
    digest = hashlib.sha256()
    for name in PROTO_FILES:
        try:
            with open(os.path.join(proto_dir, name), "rb") as f:
                digest.update(f.read())
        except OSError as e:
            raise UsageError("--proto-dir %s: %s" % (proto_dir, e))
    out = os.path.join(private_cache_dir(), "stubs-" + digest.hexdigest()[:16])
    if not os.path.exists(os.path.join(out, "suanli", "v1", "ledger_pb2_grpc.py")):
        from grpc_tools import protoc
        import grpc_tools

        tmp = out + ".tmp-%d" % os.getpid()
        os.makedirs(tmp, mode=0o700)
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        args = ["protoc", "-I", proto_dir, "-I", well_known, "--python_out=" + tmp, "--grpc_python_out=" + tmp]
        if protoc.main(args + PROTO_FILES) != 0:
            raise UsageError("generating stubs from %s failed" % proto_dir)
        for pkg in ("suanli", os.path.join("suanli", "v1")):
            open(os.path.join(tmp, pkg, "__init__.py"), "a").close()
        try:
            os.rename(tmp, out)  # atomic: a concurrent run sees all of it or none
        except OSError:
            pass  # another run finished first; its copy is the same
    sys.path.insert(0, out)
    from suanli.v1 import ledger_pb2, ledger_pb2_grpc, signed_pb2

    return signed_pb2, ledger_pb2, ledger_pb2_grpc


def read_key(path):
    """A suanli key file: a header line, then the base64 of the 32-byte ed25519 seed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        with open(path, encoding="ascii") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError("%s: cannot read the key file: %s" % (path, e))
    if len(lines) != 2 or lines[0] != KEY_FILE_HEADER:
        raise UsageError("%s is not a suanli key file (first line %r)" % (path, KEY_FILE_HEADER))
    try:
        seed = base64.b64decode(lines[1], validate=True)
    except ValueError:
        raise UsageError("%s: the key is not base64" % path)
    if len(seed) != 32:
        raise UsageError("%s does not hold a 32-byte key" % path)
    return Ed25519PrivateKey.from_private_bytes(seed)


def unix_seconds(text, what):
    """RFC 3339 with an offset (2026-03-01T08:00:00+08:00) to Unix seconds."""
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError("%s %r is not an RFC 3339 time such as 2026-03-01T08:00:00+08:00" % (what, text))
    if t.tzinfo is None:
        raise UsageError("%s %r needs a UTC offset, e.g. +08:00" % (what, text))
    return int(t.timestamp())


def amount_of(gpu_hours, unit_price):
    """gpu_hours x unit_price rounded to the fen, half away from zero, as the ledger does."""
    try:
        exact = decimal.Decimal(gpu_hours) * decimal.Decimal(unit_price)
    except decimal.InvalidOperation:
        raise UsageError("--gpu-hours %r and --unit-price %r must be decimals" % (gpu_hours, unit_price))
    return str(exact.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def channel(args):
    import grpc

    if "://" in args.server:
        raise UsageError("--server is host:port (e.g. ledger.example.cn:7420), without a scheme")
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


def records_from_args(args, signed_pb2):
    if not args.record_id or not args.renter or not args.end:
        raise UsageError("one record needs --record-id, --renter and --end (or give --csv FILE)")
    end = unix_seconds(args.end, "--end")
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
    return [record]


def records_from_csv(path, signed_pb2):
    """The rows of a usage CSV (the columns of `suanli usage submit`; invoice_no optional)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = rows and list(rows[0].keys())
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError("%s: %s" % (path, e))
    if not rows:
        return []
    missing = [c for c in USAGE_COLUMNS if c != "invoice_no" and c not in header]
    if missing:
        raise UsageError("%s: the header has no column %s" % (path, ", ".join(missing)))
    records = []
    for line, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise UsageError("%s line %d: the number of fields differs from the header" % (path, line))
        try:
            gpu_count = int(row["gpu_count"])
        except ValueError:
            raise UsageError("%s line %d: gpu_count %r is not an integer" % (path, line, row["gpu_count"]))
        records.append(
            signed_pb2.UsageRecord(
                record_id=row["record_id"],
                provider_id=row["provider_id"],
                renter_id=row["renter_id"],
                contract_id=row["contract_id"],
                gpu_model=row["gpu_model"],
                gpu_count=gpu_count,
                start=unix_seconds(row["start"], "%s line %d: start" % (path, line)),
                end=unix_seconds(row["end"], "%s line %d: end" % (path, line)),
                gpu_hours=row["gpu_hours"],
                unit_price=row["unit_price"],
                amount=row["amount"],
                voucher_id=row["voucher_id"],
                invoice_no=row.get("invoice_no", ""),
            )
        )
    return records


def sign(key, public_key, record, signed_pb2):
    payload = record.SerializeToString()
    return signed_pb2.Envelope(payload=payload, public_key=public_key, signature=key.sign(USAGE_DOMAIN + payload))


def merkle_root(leaves):
    """RFC 6962 Merkle tree hash of leaf hashes (the ledger's own tree, section 2.1)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def batch_head(origin, payloads, signed_pb2):
    """The signed bytes of a batch (without the domain tag): UsageBatchHead{origin, count, root}."""
    leaves = [hashlib.sha256(b"\x00" + p).digest() for p in payloads]
    head = signed_pb2.UsageBatchHead(origin=origin, count=len(payloads), root=merkle_root(leaves))
    return head.SerializeToString()


def sign_batches(key, public_key, origin, payloads, signed_pb2):
    """Batches of at most 64 records in the given order, one signature each."""
    out = []
    for start in range(0, len(payloads), BATCH_SIGNED_MAX):
        part = payloads[start : start + BATCH_SIGNED_MAX]
        signature = key.sign(USAGE_BATCH_DOMAIN + batch_head(origin, part, signed_pb2))
        out.append(signed_pb2.BatchEnvelope(records=part, public_key=public_key, signature=signature))
    return out


def kept_batches(path, signed_pb2):
    """The batches signed by an earlier run (the file: one base64 BatchEnvelope per line)."""
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="ascii") as f:
        return [signed_pb2.BatchEnvelope.FromString(base64.b64decode(line.strip())) for line in f if line.strip()]


def batches_for(records, key, public_key, origin, kept, signed_pb2):
    """The kept batches when they hold exactly these records, else new ones. A record that
    differs from the one signed before is refused here, as the ledger would (CONFLICT)."""
    payloads = [r.SerializeToString() for r in records]
    before = {}
    for b in kept:
        for p in b.records:
            before[signed_pb2.UsageRecord.FromString(p).record_id] = p
    for r, p in zip(records, payloads):
        old = before.get(r.record_id)
        if old is not None and old != p:
            raise UsageError(
                "record %s differs from the one signed before (kept envelopes): the ledger would answer "
                "CONFLICT; correct an accepted record with a reversal and a new record_id" % r.record_id
            )
    if [p for b in kept for p in b.records] == payloads:
        return kept
    return sign_batches(key, public_key, origin, payloads, signed_pb2)


def kept_envelopes(path, signed_pb2):
    """The envelopes signed by an earlier run, by record_id (the file: one base64 per line)."""
    kept = {}
    if not path or not os.path.exists(path):
        return kept
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.strip():
                env = signed_pb2.Envelope.FromString(base64.b64decode(line.strip()))
                kept[signed_pb2.UsageRecord.FromString(env.payload).record_id] = env
    return kept


def keep_envelopes(path, envelopes):
    """Writes the signed envelopes before anything is sent (atomically, mode 0600)."""
    if not path:
        return
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        for env in envelopes:
            f.write(base64.b64encode(env.SerializeToString()).decode("ascii") + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def envelopes_for(records, key, public_key, kept, signed_pb2):
    """One envelope per record: the kept one when the record is unchanged, else signed now."""
    out = []
    for r in records:
        old = kept.get(r.record_id)
        payload = r.SerializeToString()
        if old is not None and old.payload != payload:
            raise UsageError(
                "record %s differs from the one signed before (kept envelopes): the ledger would answer "
                "CONFLICT; correct an accepted record with a reversal and a new record_id" % r.record_id
            )
        out.append(old if old is not None else sign(key, public_key, r, signed_pb2))
    return out


def result_line(record_id, ack, ledger_pb2):
    status = ledger_pb2.Status.Name(ack.status).replace("STATUS_", "")
    if status == "REJECTED":
        return "%s,%s,,,,,%s" % (record_id, status, ack.reason), status
    lines = ack.lines
    reasons = "|".join([lines.voucher_reason, lines.renter_reason, lines.supplier_reason])
    return (
        "%s,%s,%d,%s,%s,%s,%s"
        % (record_id, status, ack.seq, lines.voucher_drawn, lines.renter_subsidy, lines.supplier_subsidy, reasons),
        status,
    )


def parser():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Exit status: 0 done, 1 rejected, 2 usage error, 3 unavailable"
    )
    p.add_argument("--server", default="127.0.0.1:7420", help="host:port of suanlid (no scheme)")
    p.add_argument("--key", required=True, help="the provider's key file (suanli keygen)")
    p.add_argument("--provider", help="USCC of the provider (owner of the key); for one record")
    p.add_argument("--csv", help="submit every record of this CSV file (the columns of `suanli usage submit`)")
    p.add_argument(
        "--envelopes",
        help="where signed envelopes are kept for retries (default: CSV.signed beside --csv; none for one record)",
    )
    p.add_argument("--renter", help="USCC of the renter")
    p.add_argument("--record-id", help="your own id for this record; reuse it (with the same fields) to retry")
    p.add_argument("--contract-id", default="")
    p.add_argument("--gpu-model", default="H100")
    p.add_argument("--gpu-count", type=int, default=8)
    p.add_argument("--gpu-hours", default="8", help="decimal string, at most 6 places")
    p.add_argument("--unit-price", default="12.50", help="yuan per GPU-hour, at most 4 places")
    p.add_argument("--end", help="RFC 3339 end of the span, with offset (required for one record)")
    p.add_argument("--hours", type=int, default=1, help="length of the span in hours (default 1)")
    p.add_argument("--voucher-id", default="")
    p.add_argument("--invoice-no", default="")
    p.add_argument("--proto-dir", default=default_proto_dir(), help="the ledger's proto/ directory")
    p.add_argument("--ca", help="for TLS: the CA certificate (PEM) that signed the server's certificate")
    p.add_argument("--client-cert", help="for mutual TLS: this client's certificate (PEM)")
    p.add_argument("--client-key", help="for mutual TLS: the key of --client-cert (PEM)")
    p.add_argument(
        "--single-signatures",
        action="store_true",
        help="CSV mode: sign each record alone instead of up to 64 records with one signature",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each batch's answer")
    return p


def run(args):
    import grpc
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    signed_pb2, ledger_pb2, ledger_pb2_grpc = generated_stubs(args.proto_dir)
    key = read_key(args.key)
    public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if args.csv:
        records = records_from_csv(args.csv, signed_pb2)
        envelopes_path = args.envelopes or args.csv + ".signed"
    else:
        if not args.provider:
            raise UsageError("one record needs --provider (or give --csv FILE)")
        records = records_from_args(args, signed_pb2)
        envelopes_path = args.envelopes
    ch = channel(args)
    stub = ledger_pb2_grpc.IngestStub(ch)
    batch_signed = bool(args.csv) and not args.single_signatures
    rejected, answered = 0, 0
    try:
        if batch_signed:
            # The batch names the ledger it is for: its origin, fetched once.
            origin = ledger_pb2_grpc.LedgerStub(ch).GetInfo(ledger_pb2.InfoRequest(), timeout=args.timeout).origin
            batches = batches_for(records, key, public_key, origin, kept_batches(envelopes_path, signed_pb2), signed_pb2)
            keep_envelopes(envelopes_path, batches)
            answers = stub.SubmitUsageBatchSigned(iter(batches), timeout=args.timeout)
        else:
            envelopes = envelopes_for(records, key, public_key, kept_envelopes(envelopes_path, signed_pb2), signed_pb2)
            keep_envelopes(envelopes_path, envelopes)
            answers = single_answers(stub, envelopes, ledger_pb2, args.timeout)
        print(RESULT_HEADER, flush=True)
        for ack in answers:
            record_id = records[ack.index].record_id
            line, status = result_line(record_id, ack, ledger_pb2)
            print(line, flush=True)
            answered += 1
            if status == "REJECTED":
                rejected += 1
                print("suanli_client: %s rejected: %s: %s" % (record_id, ack.reason, ack.detail), file=sys.stderr)
    except grpc.RpcError as e:
        print(
            "suanli_client: the ledger at %s: %s: %s; %d of %d records answered; sending the same "
            "records again is safe" % (args.server, e.code().name, e.details(), answered, len(records)),
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    return EXIT_REJECTED if rejected else EXIT_OK


def single_answers(stub, envelopes, ledger_pb2, timeout):
    """Single-signed envelopes sent with SubmitUsageBatch (at most 10,000 per call); the
    acks in order, each index counted from the first record sent."""
    for start in range(0, len(envelopes), BATCH_RECORDS_MAX):
        batch = envelopes[start : start + BATCH_RECORDS_MAX]
        answer = stub.SubmitUsageBatch(ledger_pb2.EnvelopeBatch(envelopes=batch), timeout=timeout)
        for ack in sorted(answer.acks, key=lambda a: a.index):
            yield offset_ack(ack, start, ledger_pb2)


def offset_ack(ack, start, ledger_pb2):
    """An ack of a SubmitUsageBatch call with its index counted from the first record sent."""
    out = ledger_pb2.Ack()
    out.CopyFrom(ack)
    out.index = ack.index + start
    return out


def main(argv=None):
    args = parser().parse_args(argv)  # argparse exits 2 on bad arguments
    try:
        return run(args)
    except UsageError as e:
        print("suanli_client: %s" % e, file=sys.stderr)
        return EXIT_USAGE


def main_exit():
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
