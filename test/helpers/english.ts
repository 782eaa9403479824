/**
 * A simple check for English left on a Korean or Chinese page or mail: runs of three or more ASCII words in the
 * visible text, outside code, preformatted text, form values, addresses, links and ids. Product words (SPF, DKIM,
 * header names) never make a run of three on their own; `names` (the operator's configured name) are left out.
 */
export function englishRuns(html: string, names: string[] = []): string[] {
  let text = html
    .replace(/<(script|style|code|pre|textarea)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(?:[a-z]+|#\d+|#x[0-9a-f]+);/gi, ' ')
    .replace(/\bhttps?:\/\/\S+/g, ' ')
    .replace(/\S+@\S+/g, ' ');
  for (const name of names) text = text.split(name).join(' ');
  return text.match(/[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*){2,}/g) ?? [];
}
