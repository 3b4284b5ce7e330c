// Renders parsed Markdown as React elements: text is always a text node, so a
// message can never inject markup.

import { useState, type ReactNode } from 'react';

import { parse, type MentionTarget, type Node } from './parse';

/** The name a mention shows (without its `@` or `#`), or `null` for one unknown here. */
export type MentionName = (target: MentionTarget, id: string) => string | null;

export function Markdown({ source, mentionName }: { source: string; mentionName?: MentionName }) {
  return <>{render(parse(source), mentionName ?? (() => null))}</>;
}

function render(nodes: Node[], name: MentionName): ReactNode[] {
  return nodes.map((node, index) => {
    switch (node.kind) {
      case 'text':
        return node.text;
      case 'mention': {
        const known = name(node.target, node.id);
        if (known === null) return node.text;
        return (
          <span key={index} className="md-mention" data-mention={node.target}>
            {node.target === 'channel' ? '#' : '@'}
            {known}
          </span>
        );
      }
      case 'code':
        return <code key={index} className="md-code">{node.text}</code>;
      case 'codeblock':
        return (
          <pre key={index} className="md-codeblock" data-language={node.language ?? undefined}>
            <code>{node.text}</code>
          </pre>
        );
      case 'link':
        return (
          <a key={index} href={node.href} target="_blank" rel="noopener noreferrer nofollow ugc">
            {render(node.children, name)}
          </a>
        );
      case 'bold':
        return <strong key={index}>{render(node.children, name)}</strong>;
      case 'italic':
        return <em key={index}>{render(node.children, name)}</em>;
      case 'underline':
        return <u key={index}>{render(node.children, name)}</u>;
      case 'strike':
        return <s key={index}>{render(node.children, name)}</s>;
      case 'spoiler':
        return <Spoiler key={index}>{render(node.children, name)}</Spoiler>;
    }
  });
}

/** Hidden until clicked (or Enter/Space), like Discord's. */
function Spoiler({ children }: { children: ReactNode }) {
  const [shown, setShown] = useState(false);
  if (shown) return <span className="md-spoiler md-spoiler-shown">{children}</span>;
  return (
    <span
      className="md-spoiler"
      role="button"
      tabIndex={0}
      aria-label="Spoiler, activate to reveal"
      onClick={() => { setShown(true); }}
      onKeyDown={(event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          setShown(true);
        }
      }}
    >
      <span aria-hidden="true">{children}</span>
    </span>
  );
}
