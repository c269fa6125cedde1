// Numbers as people read them, by Grafana unit name.

const SI = ['', 'k', 'M', 'G', 'T', 'P'];
const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function trim(n: number, digits = 3): string {
  if (n === 0) return '0';
  const abs = Math.abs(n);
  const d = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : digits;
  return String(Number(n.toFixed(d)));
}

function scaled(v: number, base: number, names: string[], suffix = ''): string {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < names.length - 1) {
    x /= base;
    i++;
  }
  return `${trim(x)}${names === SI ? names[i] : ` ${names[i]}`}${suffix}`;
}

/** `v` formatted for `unit` (Grafana names: percent, percentunit, bytes, Bps, s, ms, ops, reqps). */
export function formatValue(v: number, unit?: string): string {
  if (!Number.isFinite(v)) return String(v);
  switch (unit) {
    case 'percent':
      return `${trim(v)}%`;
    case 'percentunit':
      return `${trim(v * 100)}%`;
    case 'bytes':
      return scaled(v, 1024, IEC);
    case 'Bps':
      return `${scaled(v, 1024, IEC)}/s`;
    case 's':
      return v < 1 && v !== 0 ? `${trim(v * 1000)} ms` : `${trim(v)} s`;
    case 'ms':
      return `${trim(v)} ms`;
    case 'ops':
      return `${scaled(v, 1000, SI)}/s`;
    case 'reqps':
      return `${scaled(v, 1000, SI)} req/s`;
    default:
      return scaled(v, 1000, SI);
  }
}
