// Money and times as the console writes them, the same rules as console/fmt.rs: money
// from the decimal string as written (never through a float) as ¥1,234,567.89; times in
// the program's time zone (the body's data-offset, seconds east of UTC) as 2026-06-30 12:00.

export function money(decimal) {
  const s = String(decimal).trim();
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) return s;
  const [, sign, int, frac = ''] = m;
  const grouped = int.replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  // Amounts here have at most two places (the ledger refuses more); pad to two.
  const f = frac.length <= 2 ? frac.padEnd(2, '0') : frac;
  return `${sign}¥${grouped}.${f}`;
}

const offset = Number(document.body.dataset.offset || 28800);

export function time(unixSeconds) {
  const d = new Date((Number(unixSeconds) + offset) * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}
