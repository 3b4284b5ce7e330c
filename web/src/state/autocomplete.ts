// Mention autocomplete for the composer: which mention is being typed at the caret
// (`@al`, `#gen`), what it may become (members and mentionable roles of the guild,
// or a DM's people, and @everyone; the guild's text channels), and the text once one
// is chosen, in the form the server reads (`<@id>`, `<@&id>`, `<#id>`).

import { ChannelType, type Channel, type Member, type Role, type Snowflake, type User } from '../api/types';
import { displayName } from './selectors';

/** The composer shows at most this many suggestions. */
export const MAX_SUGGESTIONS = 8;

export interface MentionQuery {
  trigger: '@' | '#';
  /** What follows the trigger, up to the caret. */
  query: string;
  /** Where the trigger is, and the caret: the text between them is replaced. */
  start: number;
  end: number;
}

export interface Suggestion {
  /** Unique among the suggestions: what kind, and the id. */
  key: string;
  /** What the list shows: a name, `@everyone`, `#general`. */
  label: string;
  /** What the list shows beside it: a username, "Role". */
  detail?: string;
  /** What goes in the message. */
  insert: string;
}

/** The mention being typed at `caret`: a trigger at the start or after a space, then
 * no space up to the caret. */
export function mentionQueryAt(text: string, caret: number): MentionQuery | null {
  const before = text.slice(0, caret);
  const match = /(?:^|\s)([@#])([^\s@#]*)$/.exec(before);
  if (match === null) return null;
  const [, trigger, query = ''] = match;
  if (trigger !== '@' && trigger !== '#') return null;
  return { trigger, query, start: caret - query.length - 1, end: caret };
}

/** Who and what may be mentioned where the user writes. */
export interface MentionScope {
  members: Member[];
  roles: Role[];
  channels: Channel[];
  /** A DM's people, when the channel is a DM. */
  recipients: User[];
  guildId: Snowflake | undefined;
}

/** The suggestions for `query`: names starting with it first, then names holding it;
 * within each, people before roles before @everyone, by name. */
export function suggestionsFor(query: MentionQuery, scope: MentionScope): Suggestion[] {
  // `group`: people, then roles, then @everyone.
  const candidates: { suggestion: Suggestion; names: string[]; group: number }[] = [];
  if (query.trigger === '#') {
    for (const channel of scope.channels) {
      if (channel.guild_id !== scope.guildId || channel.type !== ChannelType.GuildText) continue;
      const name = channel.name ?? channel.id;
      candidates.push({ suggestion: { key: `channel:${channel.id}`, label: `#${name}`, insert: `<#${channel.id}>` }, names: [name], group: 0 });
    }
  } else {
    const people = scope.guildId === undefined ? scope.recipients.map((user) => ({ user })) : scope.members;
    for (const member of people) {
      const { user } = member;
      const name = displayName(user, member);
      candidates.push({
        suggestion: {
          key: `user:${user.id}`,
          label: name,
          // The username beside a nickname or display name tells people apart.
          ...(name === user.username ? {} : { detail: user.username }),
          insert: `<@${user.id}>`,
        },
        names: [name, user.username],
        group: 0,
      });
    }
    if (scope.guildId !== undefined) {
      for (const role of scope.roles) {
        // @everyone's role is the guild's id; it has a mention of its own.
        if (role.id === scope.guildId || role.mentionable !== true) continue;
        candidates.push({
          suggestion: { key: `role:${role.id}`, label: `@${role.name}`, detail: 'Role', insert: `<@&${role.id}>` },
          names: [role.name],
          group: 1,
        });
      }
      candidates.push({
        suggestion: { key: 'everyone', label: '@everyone', detail: 'Everyone in the channel', insert: '@everyone' },
        names: ['everyone'],
        group: 2,
      });
    }
  }
  const wanted = query.query.toLowerCase();
  const rank = (names: string[]) => {
    const lower = names.map((name) => name.toLowerCase());
    if (lower.some((name) => name.startsWith(wanted))) return 0;
    return lower.some((name) => name.includes(wanted)) ? 1 : -1;
  };
  return candidates
    .map(({ suggestion, names, group }) => ({ suggestion, group, rank: rank(names) }))
    .filter(({ rank: found }) => found >= 0)
    .sort((a, b) => a.rank - b.rank || a.group - b.group || a.suggestion.label.localeCompare(b.suggestion.label))
    .slice(0, MAX_SUGGESTIONS)
    .map(({ suggestion }) => suggestion);
}

/** `text` with the typed mention replaced by the chosen one and a space, and where
 * the caret goes. */
export function insertSuggestion(text: string, query: MentionQuery, suggestion: Suggestion): { text: string; caret: number } {
  const inserted = `${suggestion.insert} `;
  const rest = text.slice(query.end);
  return {
    text: text.slice(0, query.start) + inserted + (rest.startsWith(' ') ? rest.slice(1) : rest),
    caret: query.start + inserted.length,
  };
}
