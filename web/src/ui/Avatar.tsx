import type { Snowflake, Status } from '../api/types';

/** Enough distinct colours to tell neighbours apart; picked by the user id. */
const COLORS = ['#5865f2', '#3ba55c', '#faa61a', '#ed4245', '#eb459e', '#00a8fc'];

function colorOf(id: Snowflake): string {
  let hash = 0;
  for (const char of id) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return COLORS[hash % COLORS.length] ?? '#5865f2';
}

/** A round initial, with the presence dot when `status` is given. Decorative: the
 * name beside it is what assistive technology reads. */
export function Avatar({ id, name, status, size = 40 }: { id: Snowflake; name: string; status?: Status; size?: number }) {
  return (
    <span className="avatar" style={{ width: size, height: size, background: colorOf(id) }} aria-hidden="true">
      {(name.trim()[0] ?? '?').toUpperCase()}
      {status !== undefined && <span className={`status-dot status-${status}`} />}
    </span>
  );
}
