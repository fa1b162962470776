// The signed messages of proto/suanli/v1/signed.proto and ledger.proto that the console
// builds, with their domain tags. Field numbers are those of the .proto files.
import { Writer } from './pb.js';

// Domain tags (signed.proto): a signature covers tag || payload.
export const DOMAIN = {
  holder: 'suanli/v1/holder\n',
  finance: 'suanli/v1/finance\n',
  read: 'suanli/v1/read\n',
};

export function envelope(payload, publicKey, signature) {
  return new Writer().bytesField(1, payload).bytesField(2, publicKey).bytesField(3, signature).finish();
}

// ReadRequest { issued_at_ms = 1; nonce = 2; oneof query { entity = 3; voucher = 4;
// periods = 5; report = 6; statement = 7; holder = 8 } }. `query` is one of
// { entity: {id} }, { voucher: {voucherId} }, { periods: {} },
// { report: {year, asOfSeq?, format} }, { statement: {id, year} }, { holder: {holderId} }.
export function readRequest(issuedAtMs, nonce, query) {
  const w = new Writer().int(1, issuedAtMs).bytesField(2, nonce);
  if (query.entity) w.message(3, new Writer().string(1, query.entity.id));
  else if (query.voucher) w.message(4, new Writer().string(1, query.voucher.voucherId));
  else if (query.periods) w.message(5, new Writer());
  else if (query.report) {
    const r = query.report;
    w.message(6, new Writer().int(1, r.year).optionalInt(2, r.asOfSeq).int(3, r.format ?? 0));
  } else if (query.statement) w.message(7, new Writer().string(1, query.statement.id).int(2, query.statement.year));
  else if (query.holder) w.message(8, new Writer().string(1, query.holder.holderId));
  else throw new Error('unknown query');
  return w.finish();
}

// HolderRequest { request_id = 1; holder_id = 2; oneof op { Authorize authorize = 3;
// Withdraw withdraw = 4 } }; Authorize { voucher_id = 1; provider_id = 2; limit = 3 };
// Withdraw { voucher_id = 1; provider_id = 2 }.
export function holderAuthorize(requestId, holderId, voucherId, providerId, limit) {
  return new Writer().string(1, requestId).string(2, holderId)
    .message(3, new Writer().string(1, voucherId).string(2, providerId).string(3, limit)).finish();
}

export function holderWithdraw(requestId, holderId, voucherId, providerId) {
  return new Writer().string(1, requestId).string(2, holderId)
    .message(4, new Writer().string(1, voucherId).string(2, providerId)).finish();
}

// FinanceRequest { request_id = 1; oneof op { ClosePeriod close_period = 2; Payout payout = 3;
// CloseYear close_year = 4 } }; ClosePeriod { name = 1 }; Payout { period = 1; payee_id = 2;
// PayableKind kind = 3; int32 year = 4; amount = 5; bank_ref = 6 }; CloseYear { int32 year = 1 }.
export const PAYABLE_KIND = { renter: 1, supplier: 2, voucher: 3 };

export function financeClosePeriod(requestId, name) {
  return new Writer().string(1, requestId).message(2, new Writer().string(1, name)).finish();
}

export function financePayout(requestId, p) {
  return new Writer().string(1, requestId).message(3, new Writer().string(1, p.period).string(2, p.payeeId)
    .int(3, PAYABLE_KIND[p.kind] ?? 0).int(4, p.year).string(5, p.amount).string(6, p.bankRef)).finish();
}

export function financeCloseYear(requestId, year) {
  return new Writer().string(1, requestId).message(4, new Writer().int(1, year)).finish();
}

// A fresh request id, `web-` and 16 hex digits (the CLI uses `cli-`): the same id again with
// the same request is answered DUPLICATE, so a retry is harmless.
export function requestId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
