/** A count on a pill ("99+" past 99), or nothing at zero. Hidden from assistive
 * technology: the element it sits on says the count in its label. `inline` sits in a
 * row instead of on an icon's corner; `quiet` is for plain unread messages, where red
 * is kept for what is addressed to the user. */
export function Badge({ count, inline = false, quiet = false }: { count: number; inline?: boolean; quiet?: boolean }) {
  if (count <= 0) return null;
  return (
    <span className={`badge${inline ? ' inline' : ''}${quiet ? ' quiet' : ''}`} aria-hidden="true">
      {count > 99 ? '99+' : count}
    </span>
  );
}
