// A message's files: images inline at their recorded size (so nothing shifts when
// they load), audio and video with the browser's players (the CDN answers range
// requests, so they seek), anything else as a download link with its size. The
// server sniffed each type from the bytes; only those types are shown inline.

import type { Attachment } from '../api/types';
import { fileSize } from './fileSize';

/** The largest an inline image or video is drawn, in CSS pixels. */
const MAX_WIDTH = 400;
const MAX_HEIGHT = 300;

/** `width`×`height` scaled down to fit, never up. */
function fitted(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, MAX_WIDTH / width, MAX_HEIGHT / height);
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

function kind(attachment: Attachment): 'image' | 'video' | 'audio' | 'file' {
  const type = attachment.content_type ?? '';
  if (type.startsWith('image/') && attachment.width != null && attachment.height != null) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'file';
}

export function Attachments({ attachments }: { attachments: readonly Attachment[] }) {
  if (attachments.length === 0) return null;
  return (
    <ul className="attachments" aria-label="Attachments">
      {attachments.map((attachment) => (
        <li key={attachment.id}>
          <AttachmentView attachment={attachment} />
        </li>
      ))}
    </ul>
  );
}

function AttachmentView({ attachment }: { attachment: Attachment }) {
  const { url, filename } = attachment;
  switch (kind(attachment)) {
    case 'image': {
      const size = fitted(attachment.width ?? MAX_WIDTH, attachment.height ?? MAX_HEIGHT);
      return (
        <a href={url} target="_blank" rel="noreferrer">
          <img src={url} alt={attachment.description ?? filename} width={size.width} height={size.height} loading="lazy" />
        </a>
      );
    }
    case 'video':
      return <video src={url} controls preload="metadata" aria-label={filename} style={{ maxWidth: MAX_WIDTH, maxHeight: MAX_HEIGHT }} />;
    case 'audio':
      return (
        <figure className="attachment-audio">
          <figcaption>{filename}</figcaption>
          <audio src={url} controls preload="metadata" />
        </figure>
      );
    case 'file':
      return (
        <a className="attachment-file" href={url} download={filename}>
          <span>{filename}</span>
          <span className="muted">{fileSize(attachment.size)}</span>
        </a>
      );
  }
}
