import { describe, expect, it } from 'vitest';

import { guildIconUrl, imageData, MAX_IMAGE_BYTES } from './images';

describe('guild icon URLs', () => {
  it('point at the CDN with the hash, GIF for animated icons', () => {
    expect(guildIconUrl({ id: '9', icon: '0123456789abcdef0123456789abcdef' })).toBe(
      '/cdn/icons/9/0123456789abcdef0123456789abcdef.png',
    );
    expect(guildIconUrl({ id: '9', icon: 'a_0123' })).toBe('/cdn/icons/9/a_0123.gif');
  });

  it('are null without an icon', () => {
    expect(guildIconUrl({ id: '9', icon: null })).toBeNull();
    expect(guildIconUrl({ id: '9' })).toBeNull();
  });
});

describe('image data', () => {
  it("is a base64 data URI of the file's bytes and type", async () => {
    const png = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: 'image/png' });
    await expect(imageData(png)).resolves.toEqual({ data: 'data:image/png;base64,iVBORw==' });
  });

  it('survives files larger than one slice', async () => {
    const bytes = new Uint8Array(100_000).map((_, i) => i % 256);
    const result = await imageData(new Blob([bytes], { type: 'image/jpeg' }));
    if (!('data' in result)) throw new Error(result.error);
    const decoded = Uint8Array.from(atob(result.data.split(',')[1] ?? ''), (char) => char.charCodeAt(0));
    expect(decoded.length).toBe(bytes.length);
    // One boolean: a deep comparison of 100k elements is slow to report.
    expect(decoded.every((byte, index) => byte === bytes[index])).toBe(true);
  });

  it('refuses other types and images past the JSON body limit', async () => {
    await expect(imageData(new Blob(['<html>'], { type: 'text/html' }))).resolves.toHaveProperty('error');
    const large = new Blob([new Uint8Array(MAX_IMAGE_BYTES + 1)], { type: 'image/png' });
    await expect(imageData(large)).resolves.toHaveProperty('error');
  });
});
