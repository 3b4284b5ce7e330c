import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { Markdown } from './Markdown';
import { parse } from './parse';

const html = (source: string) => renderToStaticMarkup(<Markdown source={source} />);

describe('markdown', () => {
  it('renders the subset', () => {
    expect(html('**bold** *it* _it_ __under__ ~~gone~~ `x = 1`')).toBe(
      '<strong>bold</strong> <em>it</em> <em>it</em> <u>under</u> <s>gone</s> <code class="md-code">x = 1</code>',
    );
  });

  it('nests spans', () => {
    expect(html('**bold *and italic***')).toBe('<strong>bold <em>and italic</em></strong>');
  });

  it('keeps code literal, with an optional language line', () => {
    expect(parse('```rust\nlet **x** = 1;\n```')).toEqual([
      { kind: 'codeblock', language: 'rust', text: 'let **x** = 1;\n' },
    ]);
    expect(html('`**not bold**`')).toBe('<code class="md-code">**not bold**</code>');
  });

  it('hides spoilers until revealed', () => {
    expect(html('a ||secret|| b')).toBe(
      'a <span class="md-spoiler" role="button" tabindex="0" aria-label="Spoiler, activate to reveal"><span aria-hidden="true">secret</span></span> b',
    );
  });

  it('links web URLs, bare or masked, and nothing else', () => {
    expect(html('see https://example.com/a?b=1.')).toBe(
      'see <a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow ugc">https://example.com/a?b=1</a>.',
    );
    expect(html('[docs](https://example.com)')).toContain('<a href="https://example.com/"');
    expect(html('[click](javascript:alert(1))')).toBe('[click](javascript:alert(1))');
  });

  it('never injects markup from message text', () => {
    const out = html('<img src=x onerror=alert(1)> **<script>**');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<script');
    expect(out).toBe('&lt;img src=x onerror=alert(1)&gt; <strong>&lt;script&gt;</strong>');
  });

  it('leaves unclosed or spaced delimiters as text, and honours escapes', () => {
    expect(parse('2 * 3 * 4')).toEqual([{ kind: 'text', text: '2 * 3 * 4' }]);
    expect(parse('**open')).toEqual([{ kind: 'text', text: '**open' }]);
    expect(parse('\\*not italic\\*')).toEqual([{ kind: 'text', text: '*not italic*' }]);
  });

  it('stops nesting at a depth limit', () => {
    const deep = '||'.repeat(40) + 'x' + '||'.repeat(40);
    expect(() => parse(deep)).not.toThrow();
  });

  it('names mentions it knows and leaves unknown ones as written, not inside code', () => {
    const names = (target: string, id: string) => (id === '1' ? `${target}-one` : null);
    const rendered = renderToStaticMarkup(<Markdown source="hi <@1> <@!1> <@&1> <#1> <@2> `<@1>`" mentionName={names} />);
    expect(rendered).toBe(
      'hi <span class="md-mention" data-mention="user">@user-one</span> ' +
        '<span class="md-mention" data-mention="user">@user-one</span> ' +
        '<span class="md-mention" data-mention="role">@role-one</span> ' +
        '<span class="md-mention" data-mention="channel">#channel-one</span> &lt;@2&gt; <code class="md-code">&lt;@1&gt;</code>',
    );
  });
});
