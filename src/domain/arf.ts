/**
 * Field blocks (RFC 5322 header syntax) and the two machine report formats: ARF (RFC 5965,
 * `message/feedback-report`) and X-ARF (a JSON report, or the older YAML-style key/value report).
 * Pure string handling; MIME structure is found by samples.ts.
 */

/** ARF feedback-report fields (RFC 5965 section 3.1–3.2); values trimmed, as written. */
export interface ArfReport {
  feedbackType: string | null;
  userAgent: string | null;
  version: string | null;
  sourceIp: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string | null;
  arrivalDate: string | null;
  reportedDomain: string | null;
}

/** One header field: name as written, lower-case name, and the unfolded value (leading/trailing whitespace trimmed). */
export interface Field {
  name: string;
  lname: string;
  value: string;
}

/** The lines of a text, split at LF with a CR before it dropped (CRLF or LF mail text). */
export function* textLines(text: string): Generator<string> {
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    yield nl > pos && text.charCodeAt(nl - 1) === 13 ? text.slice(pos, nl - 1) : text.slice(pos, nl);
    pos = nl + 1;
  }
}

/**
 * Reads a block of `Name: value` lines (CRLF or LF, folded continuation lines) up to the first empty line.
 * A line that is no field continues the field above it (pasted headers lose their folding blanks); one before any
 * field is skipped. Never throws.
 */
export function parseFieldBlock(text: string): Field[] {
  const fields: Field[] = [];
  let name: string | null = null;
  let value = '';
  const push = (): void => {
    if (name !== null) fields.push({ name, lname: name.toLowerCase(), value: value.trim() });
    name = null;
    value = '';
  };
  for (const line of textLines(text)) {
    if (line === '') break;
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // Unfolding removes only the line break: the whitespace that starts the continuation stays.
      if (name !== null) value += line;
      continue;
    }
    const colon = headerNameEnd(line);
    const fieldName = colon === -1 ? '' : line.slice(0, colon).trimEnd();
    if (colon === -1 || !FIELD_NAME.test(fieldName)) {
      // A line that is no field: a continuation whose leading blank a paste lost (`(2603: 10b6:…) by …` under a
      // Received line), joined to the field above with a space; skipped when no field is open.
      if (name !== null) value += ` ${line}`;
      continue;
    }
    push();
    name = fieldName;
    value = line.slice(colon + 1);
  }
  push();
  return fields;
}

/** A field name as real mail writes it (token characters; no parentheses, quotes or brackets). */
const FIELD_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Index of the ':' ending a field name (RFC 5322 ftext, printable ASCII except ':', optionally followed by
 * blanks as in the obsolete syntax), or -1 when the line does not start with a field name.
 */
export function headerNameEnd(line: string): number {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c < 33 || c > 126 || c === 58) break;
    i++;
  }
  if (i === 0) return -1;
  while (i < line.length && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  return line.charCodeAt(i) === 58 ? i : -1;
}

/** The first field of that name (case-insensitive), or null. */
export function firstField(fields: Field[], name: string): string | null {
  const lname = name.toLowerCase();
  return fields.find((f) => f.lname === lname)?.value ?? null;
}

const orNull = (value: string | null | undefined): string | null => {
  if (value === null || value === undefined) return null;
  const trimmed = value.replace(/\s+/g, ' ').trim();
  return trimmed === '' ? null : trimmed;
};

/** The ARF report from the fields of a `message/feedback-report` part. */
export function arfReportFromFields(fields: Field[]): ArfReport {
  const get = (name: string): string | null => orNull(firstField(fields, name));
  return {
    feedbackType: get('Feedback-Type'),
    userAgent: get('User-Agent'),
    version: get('Version'),
    sourceIp: get('Source-IP'),
    originalMailFrom: get('Original-Mail-From'),
    originalRcptTo: get('Original-Rcpt-To'),
    arrivalDate: get('Arrival-Date') ?? get('Received-Date'),
    reportedDomain: get('Reported-Domain'),
  };
}

/** The ARF report in the text of a `message/feedback-report` part. */
export function parseFeedbackReport(text: string): ArfReport {
  return arfReportFromFields(parseFieldBlock(text));
}

/** An X-ARF report's fields, names as in the spec (`Report-Type`, `Category`, `Source`, `Source-Type`, `Date`, …). */
export interface XarfReport {
  format: 'json' | 'yaml';
  fields: Record<string, string>;
  reportType: string | null;
  category: string | null;
  source: string | null;
  sourceType: string | null;
  date: string | null;
  userAgent: string | null;
  version: string | null;
}

function xarfFrom(format: XarfReport['format'], fields: Record<string, string>): XarfReport {
  const lower = new Map(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]));
  const get = (name: string): string | null => orNull(lower.get(name.toLowerCase()));
  return {
    format,
    fields,
    reportType: get('Report-Type'),
    category: get('Category'),
    source: get('Source'),
    sourceType: get('Source-Type'),
    date: get('Date'),
    userAgent: get('User-Agent'),
    version: get('Version'),
  };
}

const XARF_KEYS = ['report-type', 'category', 'source', 'reported-from', 'source-type'];

/** Largest report text we try to read as JSON/YAML. */
const MAX_REPORT_TEXT = 256 * 1024;

/** Reads an X-ARF JSON report (a JSON object), or null when the text is not one. */
export function parseXarfJson(text: string): XarfReport | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || trimmed.length > MAX_REPORT_TEXT || !shallowJson(trimmed, MAX_JSON_DEPTH)) return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = Object.create(null) as Record<string, string>;
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[key] = String(v);
  }
  return xarfFrom('json', fields);
}

/** Reads an X-ARF 0.2 style report (`Key: value` lines, YAML); null unless it names a category/type and a source. */
export function parseXarfYaml(text: string): XarfReport | null {
  if (text.length > MAX_REPORT_TEXT) return null;
  const fields = Object.create(null) as Record<string, string>;
  for (const rawLine of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9-]{0,40}):(.*)$/.exec(rawLine.replace(/\r$/, ''));
    if (!m) continue;
    const key = m[1] ?? '';
    const v = (m[2] ?? '').trim().replace(/^(['"])(.*)\1$/, '$2');
    if (!(key in fields)) fields[key] = v;
  }
  const names = new Set(Object.keys(fields).map((k) => k.toLowerCase()));
  const typed = names.has('report-type') || names.has('category');
  if (!typed || !names.has('source')) return null;
  return xarfFrom('yaml', fields);
}

/** True when the object looks like an X-ARF report (has at least one of its characteristic keys). */
export function looksLikeXarf(report: XarfReport): boolean {
  const names = new Set(Object.keys(report.fields).map((k) => k.toLowerCase()));
  return XARF_KEYS.some((k) => names.has(k));
}

/** The ARF-shaped view of an X-ARF report, to show alongside. */
export function arfFromXarf(report: XarfReport): ArfReport {
  return {
    feedbackType: report.reportType ?? report.category,
    userAgent: report.userAgent,
    version: report.version,
    sourceIp: report.source,
    originalMailFrom: null,
    originalRcptTo: null,
    arrivalDate: report.date,
    reportedDomain: null,
  };
}

/**
 * An X-ARF report in the JSON of version 3 (`{"Version": "3", "Report": {"ReportType", "SourceIp", …}}`) or version 4
 * (`{"xarf_version": "4…", "category", "type", "source_identifier", "evidence": […]}`), as far as a desk reads it.
 */
export interface XarfJsonReport {
  version: string;
  /** v4 `type`, v3 `Report.ReportType`; lower-cased. */
  reportType: string | null;
  /** v4 `category`, v3 `Report.ReportClass`; lower-cased. */
  category: string | null;
  /** v4 `source_identifier`, v3 `Report.SourceIp`. */
  source: string | null;
  /** v4 `smtp_from`, v3 `Report.SmtpMailFromAddress`. */
  mailFrom: string | null;
  /** A reported domain when the report names one (v4 `domain` / `reported_domain`, v3 `Report.Domain`). */
  domain: string | null;
  date: string | null;
  /** Message samples (`message/rfc822` evidence), decoded from base64 when so encoded; at most MAX_XARF_SAMPLES. */
  samples: Buffer[];
}

/** Deepest nesting of objects and arrays read (an X-ARF report nests 3 or 4 levels; JSON.parse is slow on deep nesting). */
const MAX_JSON_DEPTH = 32;

/** One pass over the text: no object/array nesting deeper than `max` (brackets inside strings do not count). */
function shallowJson(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: the next character is escaped
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return false;
    } else if (c === 125 || c === 93) depth--;
  }
  return true;
}

/** Most samples of one X-ARF JSON report looked at. */
const MAX_XARF_SAMPLES = 4;

const str = (v: unknown): string | null => (typeof v === 'string' || typeof v === 'number' ? orNull(String(v).slice(0, 1000)) : null);
const lower = (v: unknown): string | null => str(v)?.toLowerCase() ?? null;
const BASE64 = /^[A-Za-z0-9+/=\r\n\t ]*$/;

function sampleBytes(payload: unknown, base64: boolean): Buffer | null {
  if (typeof payload !== 'string' || payload === '') return null;
  if (base64 && BASE64.test(payload)) return Buffer.from(payload, 'base64');
  return Buffer.from(payload, 'utf8');
}

/**
 * Reads the text as an X-ARF v3/v4 JSON report; null when it is not JSON, or JSON without the marks of either
 * version. The caller bounds the text (it is part of a sample already within the size limit); JSON.parse is linear
 * and a nesting it cannot take throws, which is null here.
 */
export function readXarfJson(text: string): XarfJsonReport | null {
  const start = text.search(/\S/);
  if (start === -1 || text.charCodeAt(start) !== 123 || !shallowJson(text, MAX_JSON_DEPTH)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const top = value as Record<string, unknown>;
  const samples: Buffer[] = [];
  if (typeof top.xarf_version === 'string' && (top.source_identifier !== undefined || top.category !== undefined)) {
    const evidence = Array.isArray(top.evidence) ? top.evidence : [];
    for (const item of evidence.slice(0, 16)) {
      if (samples.length >= MAX_XARF_SAMPLES || typeof item !== 'object' || item === null) continue;
      const e = item as Record<string, unknown>;
      const type = lower(e.content_type);
      if (type !== null && type !== 'message/rfc822' && type !== 'text/rfc822-headers') continue;
      const bytes = sampleBytes(e.payload, String(e.encoding ?? 'base64').toLowerCase() === 'base64');
      if (bytes) samples.push(bytes);
    }
    return {
      version: String(top.xarf_version).slice(0, 20),
      reportType: lower(top.type),
      category: lower(top.category),
      source: str(top.source_identifier),
      mailFrom: str(top.smtp_from),
      domain: lower(top.domain) ?? lower(top.reported_domain),
      date: str(top.timestamp),
      samples,
    };
  }
  const report = top.Report;
  if ((top.Version !== undefined || top.ReporterInfo !== undefined) && typeof report === 'object' && report !== null && !Array.isArray(report)) {
    const r = report as Record<string, unknown>;
    const list = Array.isArray(r.Samples) ? r.Samples : r.Sample !== undefined ? [r.Sample] : [];
    for (const item of list.slice(0, 16)) {
      if (samples.length >= MAX_XARF_SAMPLES || typeof item !== 'object' || item === null) continue;
      const s = item as Record<string, unknown>;
      const type = lower(s.ContentType);
      if (type !== null && type !== 'message/rfc822' && type !== 'text/rfc822-headers') continue;
      const bytes = sampleBytes(s.Payload, s.Base64Encoded === true || s.Base64Encoded === 'true');
      if (bytes) samples.push(bytes);
    }
    return {
      version: str(top.Version) ?? '3',
      reportType: lower(r.ReportType),
      category: lower(r.ReportClass),
      source: str(r.SourceIp) ?? str(r.Source),
      mailFrom: str(r.SmtpMailFromAddress),
      domain: lower(r.Domain) ?? lower(r.ReportedDomain),
      date: str(r.Date),
      samples,
    };
  }
  return null;
}
