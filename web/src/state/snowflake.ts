// Snowflakes are 64-bit: compare them as decimal strings (shorter is older) rather
// than as lossy JavaScript numbers.

import type { Snowflake } from '../api/types';

export function compareIds(a: Snowflake, b: Snowflake): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

