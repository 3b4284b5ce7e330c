// Public images (guild icons; avatars the same way): where the CDN serves them and
// how a picked file becomes Discord's image data for a PATCH.

import type { Guild } from './types';

/** Discord's image data (a base64 `data:` URI) is sent inside a JSON body, which the
 * server caps at 1 MiB; base64 makes 3 bytes 4, so this is the largest image. */
export const MAX_IMAGE_BYTES = 750 * 1024;

/** The types the server accepts (it sniffs the bytes; this only steers the picker). */
export const IMAGE_TYPES = 'image/png,image/jpeg,image/gif,image/webp';

/** The guild's icon at the CDN (same origin), or null without one. Animated icons
 * (`a_` hashes) are GIFs; the server serves the stored type whatever the extension. */
export function guildIconUrl(guild: Pick<Guild, 'id' | 'icon'>): string | null {
  const hash = guild.icon;
  if (hash === undefined || hash === null || hash === '') return null;
  const extension = hash.startsWith('a_') ? 'gif' : 'png';
  return `/cdn/icons/${encodeURIComponent(guild.id)}/${encodeURIComponent(hash)}.${extension}`;
}

/** A picked file as Discord's image data, or an error to show. */
export async function imageData(file: Blob): Promise<{ data: string } | { error: string }> {
  if (!IMAGE_TYPES.split(',').includes(file.type)) return { error: 'Pick a PNG, JPEG, GIF or WebP image.' };
  if (file.size > MAX_IMAGE_BYTES) return { error: `The image is too large (at most ${String(MAX_IMAGE_BYTES / 1024)} KiB).` };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  // In slices: spreading a large array into one call overflows the stack.
  for (let start = 0; start < bytes.length; start += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
  }
  return { data: `data:${file.type};base64,${btoa(binary)}` };
}
