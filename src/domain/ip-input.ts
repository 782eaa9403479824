/**
 * What people type into an IP address field with an East Asian input method, made plain before it is validated:
 * full-width digits and letters ("１９８"), full-width full stops and colons ("．", "："), and the ideographic full
 * stop ("。", U+3002, and its half-width form U+FF61) that a Korean, Chinese or Japanese IME gives for ".".
 *
 * NFKC maps the full-width forms to ASCII (and U+FF61 to U+3002); the ideographic full stop has no compatibility
 * mapping, so it is replaced here. Anything that is not an address stays as it is, for the parser to refuse. An
 * input longer than `limit` is returned unchanged (the field's length check refuses it), so the work is bounded.
 */
export function normalizeIpInput(input: string, limit = 200): string {
  if (input.length > limit) return input;
  return input.normalize('NFKC').replace(/[\u3002\uff61\uff0e]/g, '.').replace(/\uff1a/g, ':').trim();
}
