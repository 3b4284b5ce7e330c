// The Markdown subset messages use, parsed into a small tree that is rendered as
// React elements (never as HTML, so message text cannot inject markup):
//   ```code blocks``` (optional language line), `inline code`, **bold**, *italic*
//   or _italic_, __underline__, ~~strike~~, ||spoiler||, [masked](https://links),
//   bare http(s) links, \-escapes, and mentions (<@user>, <@!user>, <@&role>,
//   <#channel>), which the renderer names.
// Anything that does not close is literal text, as in Discord.

/** The spans that wrap other nodes. */
export type Wrapper = 'bold' | 'italic' | 'underline' | 'strike' | 'spoiler';

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'code'; text: string }
  | { kind: 'codeblock'; text: string; language: string | null }
  | { kind: 'link'; href: string; children: Node[] }
  | { kind: 'mention'; target: MentionTarget; id: string; text: string }
  | { kind: Wrapper; children: Node[] };

export type MentionTarget = 'user' | 'role' | 'channel';

const MENTION_PATTERN = /^<(@!?|@&|#)(\d{1,20})>/;

/** Paired delimiters, longest first so `**` wins over `*`. */
const PAIRS: readonly [string, Wrapper][] = [
  ['**', 'bold'],
  ['__', 'underline'],
  ['~~', 'strike'],
  ['||', 'spoiler'],
  ['*', 'italic'],
  ['_', 'italic'],
];

const ESCAPABLE = new Set(['\\', '*', '_', '~', '|', '`', '[', ']', '(', ')', '>', '#', '-']);
const URL_PATTERN = /^https?:\/\/[^\s<]+[^\s<.,:;"')\]!?]/;

/** Only web links are rendered as links: no `javascript:`, `data:` or relative URLs. */
export function safeHref(raw: string): string | null {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export function parse(source: string): Node[] {
  return parseInline(source, 0);
}

/** Nesting deeper than this is shown as text (a pathological message cannot blow the stack). */
const MAX_DEPTH = 8;

function parseInline(source: string, depth: number): Node[] {
  const nodes: Node[] = [];
  let text = '';
  const flush = () => {
    if (text !== '') nodes.push({ kind: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < source.length) {
    const rest = source.slice(i);
    const char = source[i] as string;

    if (char === '\\' && ESCAPABLE.has(source[i + 1] ?? '')) {
      text += source[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (rest.startsWith('```')) {
      const end = source.indexOf('```', i + 3);
      if (end > i + 3) {
        flush();
        nodes.push(codeBlock(source.slice(i + 3, end)));
        i = end + 3;
        continue;
      }
    }
    if (char === '`') {
      const end = source.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        nodes.push({ kind: 'code', text: source.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if (char === '[' && depth < MAX_DEPTH) {
      const link = maskedLink(source, i, depth);
      if (link !== null) {
        flush();
        nodes.push(link.node);
        i = link.end;
        continue;
      }
    }
    if (char === '<') {
      const match = MENTION_PATTERN.exec(rest);
      if (match !== null) {
        const [whole, sigil, id] = match as unknown as [string, string, string];
        const target: MentionTarget = sigil === '#' ? 'channel' : sigil === '@&' ? 'role' : 'user';
        flush();
        nodes.push({ kind: 'mention', target, id, text: whole });
        i += whole.length;
        continue;
      }
    }
    if (char === 'h') {
      const match = URL_PATTERN.exec(rest);
      const href = match === null ? null : safeHref(match[0]);
      if (match !== null && href !== null) {
        flush();
        nodes.push({ kind: 'link', href, children: [{ kind: 'text', text: match[0] }] });
        i += match[0].length;
        continue;
      }
    }
    const pair = depth < MAX_DEPTH ? PAIRS.find(([delimiter]) => rest.startsWith(delimiter)) : undefined;
    if (pair !== undefined) {
      const [delimiter, kind] = pair;
      const end = closing(source, i + delimiter.length, delimiter);
      if (end !== -1) {
        flush();
        nodes.push({ kind, children: parseInline(source.slice(i + delimiter.length, end), depth + 1) });
        i = end + delimiter.length;
        continue;
      }
    }
    text += char;
    i += 1;
  }
  flush();
  return nodes;
}

/** Where `delimiter` closes a span opened before `from`, or -1. The span must not be
 * empty, and a single `*`/`_` must not start with a space (`a * b * c` is text). */
function closing(source: string, from: number, delimiter: string): number {
  if (delimiter.length === 1 && /\s/.test(source[from] ?? ' ')) return -1;
  let at = from;
  while (at < source.length) {
    const end = source.indexOf(delimiter, at);
    if (end === -1) return -1;
    if (source[end - 1] === '\\') {
      at = end + 1;
      continue;
    }
    // A single `*` right before another `*` belongs to a `**` inside the span.
    if (delimiter.length === 1 && source[end + 1] === delimiter) {
      at = end + 2;
      continue;
    }
    // `***` closing `**bold *italic***`: the outer span closes last.
    let close = end;
    if (delimiter.length === 2) while (source[close + 2] === delimiter[0]) close += 1;
    return close > from ? close : -1;
  }
  return -1;
}

function codeBlock(inner: string): Node {
  // "```js\ncode```": a first line of one word is the language.
  const newline = inner.indexOf('\n');
  if (newline !== -1 && /^[\w+#-]+$/.test(inner.slice(0, newline))) {
    return { kind: 'codeblock', language: inner.slice(0, newline), text: inner.slice(newline + 1) };
  }
  return { kind: 'codeblock', language: null, text: inner.replace(/^\n/, '') };
}

function maskedLink(source: string, start: number, depth: number): { node: Node; end: number } | null {
  const close = source.indexOf('](', start + 1);
  if (close === -1) return null;
  const end = source.indexOf(')', close + 2);
  if (end === -1) return null;
  const label = source.slice(start + 1, close);
  const href = safeHref(source.slice(close + 2, end).trim());
  if (label === '' || label.includes('\n') || href === null) return null;
  return { node: { kind: 'link', href, children: parseInline(label, depth + 1) }, end: end + 1 };
}
