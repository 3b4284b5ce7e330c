import { describe, expect, it } from 'vitest';

import { insertSuggestion, MAX_SUGGESTIONS, mentionQueryAt, suggestionsFor, type MentionScope } from './autocomplete';

const scope: MentionScope = {
  guildId: '10',
  members: [
    { user: { id: '1', username: 'alice' } },
    { user: { id: '2', username: 'bob_builder' }, nick: 'Bob' },
    { user: { id: '3', username: 'malory' } },
  ],
  roles: [
    { id: '10', name: '@everyone', permissions: '0', position: 0 },
    { id: '20', name: 'Moderators', permissions: '0', position: 1, mentionable: true },
    { id: '30', name: 'Muted', permissions: '0', position: 2, mentionable: false },
  ],
  channels: [
    { id: '100', type: 0, guild_id: '10', name: 'general' },
    { id: '101', type: 2, guild_id: '10', name: 'General voice' },
    { id: '102', type: 0, guild_id: '10', name: 'rules' },
    { id: '200', type: 0, guild_id: '99', name: 'elsewhere' },
  ],
  recipients: [],
};

const labels = (text: string) => {
  const query = mentionQueryAt(text, text.length);
  return query === null ? null : suggestionsFor(query, scope).map((suggestion) => suggestion.label);
};

describe('mention autocomplete', () => {
  it('finds the mention typed at the caret, only at a word start', () => {
    expect(mentionQueryAt('hi @al', 6)).toEqual({ trigger: '@', query: 'al', start: 3, end: 6 });
    expect(mentionQueryAt('#', 1)).toEqual({ trigger: '#', query: '', start: 0, end: 1 });
    expect(mentionQueryAt('hi @al there', 12)).toBeNull();
    expect(mentionQueryAt('me@example', 10)).toBeNull();
    // The caret in the middle: what is typed up to it counts.
    expect(mentionQueryAt('hi @alice', 5)).toEqual({ trigger: '@', query: 'a', start: 3, end: 5 });
  });

  it('suggests members by display name or username, prefix matches first, then mentionable roles and @everyone', () => {
    expect(labels('@')).toEqual(['alice', 'Bob', 'malory', '@Moderators', '@everyone']);
    expect(labels('@al')).toEqual(['alice', 'malory']);
    expect(labels('@BUILD')).toEqual(['Bob']);
    const query = mentionQueryAt('@', 1);
    // The username shows beside a nickname, not twice.
    expect(query === null ? [] : suggestionsFor(query, scope).map((suggestion) => suggestion.detail)).toEqual([
      undefined,
      'bob_builder',
      undefined,
      'Role',
      'Everyone in the channel',
    ]);
    expect(labels('@mu')).toEqual([]);
    expect(labels('@ever')).toEqual(['@everyone']);
  });

  it("suggests the guild's text channels for #", () => {
    expect(labels('see #')).toEqual(['#general', '#rules']);
    expect(labels('see #ru')).toEqual(['#rules']);
  });

  it("suggests a DM's people, and no @everyone, outside a guild", () => {
    const direct = { ...scope, guildId: undefined, recipients: [{ id: '2', username: 'bob_builder' }] };
    const query = mentionQueryAt('@', 1);
    expect(query === null ? [] : suggestionsFor(query, direct).map((suggestion) => suggestion.insert)).toEqual(['<@2>']);
  });

  it(`shows at most ${MAX_SUGGESTIONS}`, () => {
    const many = { ...scope, members: Array.from({ length: 20 }, (_, n) => ({ user: { id: String(n), username: `user${n}` } })) };
    const query = mentionQueryAt('@user', 5);
    expect(query === null ? [] : suggestionsFor(query, many)).toHaveLength(MAX_SUGGESTIONS);
  });

  it('inserts the mention in the form the server reads, with a space, and puts the caret after it', () => {
    const text = 'hi @al, see #ge';
    const user = mentionQueryAt(text, 6);
    if (user === null) throw new Error('no query');
    expect(insertSuggestion(text, user, { key: 'user:1', label: 'alice', insert: '<@1>' })).toEqual({
      text: 'hi <@1> , see #ge',
      caret: 8,
    });
    const channel = mentionQueryAt(text, text.length);
    if (channel === null) throw new Error('no query');
    expect(insertSuggestion(text, channel, { key: 'channel:100', label: '#general', insert: '<#100>' }).text).toBe('hi @al, see <#100> ');
  });
});
