// Renders parsed Markdown as React elements: text is always a text node, so a
// message can never inject markup.

import { useState, type ReactNode } from 'react';

import { parse, type Node } from './parse';

export function Markdown({ source }: { source: string }) {
  return <>{render(parse(source))}</>;
}

function render(nodes: Node[]): ReactNode[] {
  return nodes.map((node, index) => {
    switch (node.kind) {
      case 'text':
        return node.text;
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
            {render(node.children)}
          </a>
        );
      case 'bold':
        return <strong key={index}>{render(node.children)}</strong>;
      case 'italic':
        return <em key={index}>{render(node.children)}</em>;
      case 'underline':
        return <u key={index}>{render(node.children)}</u>;
      case 'strike':
        return <s key={index}>{render(node.children)}</s>;
      case 'spoiler':
        return <Spoiler key={index}>{render(node.children)}</Spoiler>;
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
