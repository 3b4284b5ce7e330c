import { useStore } from '../state/hooks';
import { displayName } from '../state/selectors';

/** "alice is typing…" under the messages. Its line is always there, empty or not,
 * so the list never jumps when someone starts or stops typing. */
export function TypingIndicator({ channelId, guildId }: { channelId: string; guildId: string | undefined }) {
  const typing = useStore((state) => state.typing[channelId]);
  const members = useStore((state) => (guildId === undefined ? undefined : state.members[guildId]));
  const names = Object.keys(typing ?? {}).map((id) => {
    const member = members?.[id];
    return member === undefined ? 'Someone' : displayName(member.user, member);
  });
  return (
    <div className="typing" aria-live="polite">
      {names.length > 0 && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {typingSentence(names)}
        </>
      )}
    </div>
  );
}

function typingSentence(names: string[]): string {
  if (names.length === 1) return `${names[0] ?? ''} is typing…`;
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''} are typing…`;
  return 'Several people are typing…';
}
