// `/oauth2/bot`: adding an application's bot to one of the user's servers, as the
// link a bot's developer shares asks (Discord's bot authorization): who the bot is,
// what it may do there, which server; nothing happens until Authorize.

import { useEffect, useId, useState, type SubmitEvent } from 'react';

import { describeError } from '../api/rest';
import type { MyGuild, User } from '../api/types';
import { navigate, parseRoute, type AddBotRoute } from '../router';
import { useSession, useStore } from '../state/hooks';
import { permissionNames } from '../state/permissions';
import { displayName } from '../state/selectors';
import { Avatar } from './Avatar';
import { PaneHeader, type PaneToggles } from './PaneHeader';

type Loaded = { bot: User; guilds: MyGuild[] };

export function AddBotScreen({ route, ...toggles }: PaneToggles & { route: AddBotRoute }) {
  const session = useSession();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    session.botRequest(route.clientId).then(
      (request) => { if (live) setLoaded(request); },
      (caught: unknown) => { if (live) setLoadError(describeError(caught)); },
    );
    return () => {
      live = false;
    };
  }, [session, route.clientId]);

  let body;
  if (loadError !== null) {
    body = (
      <>
        <h2>This bot cannot be added</h2>
        <p className="form-error" role="alert">{loadError}</p>
        <div className="notice-actions">
          <button type="button" onClick={() => { navigate({ name: 'home' }); }}>Close</button>
        </div>
      </>
    );
  } else if (loaded === null) {
    body = <p role="status">Loading…</p>;
  } else {
    body = <AddBotForm route={route} {...loaded} />;
  }
  return (
    <section className="pane" aria-label="Add a bot">
      <PaneHeader title="Add a bot" {...toggles} />
      <div className="notice add-bot">{body}</div>
    </section>
  );
}

function AddBotForm({ route, bot, guilds }: { route: AddBotRoute } & Loaded) {
  const session = useSession();
  // Servers the bot is in already cannot be chosen (the API would change nothing).
  const members = useStore((state) => state.members);
  const present = (id: string) => members[id]?.[bot.id] !== undefined;
  // A server chosen in advance is chosen here when the user may add the bot to it.
  const [guildId, setGuildId] = useState(
    () => guilds.find((guild) => guild.id === route.guildId && !present(guild.id))?.id ?? '',
  );
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<{ guild: MyGuild; location: string } | null>(null);
  const selectId = useId();
  const listId = useId();
  const name = displayName(bot);
  const permissions = permissionNames(route.permissions);
  // A link that fixes the server offers that one only.
  const choices = route.disableGuildSelect && route.guildId !== undefined ? guilds.filter((guild) => guild.id === route.guildId) : guilds;

  if (added !== null) {
    return (
      <div role="status">
        <h2>
          Added {name} to {added.guild.name}
        </h2>
        <a href={added.location} onClick={(event) => { followLocation(event, added.location); }}>
          Open {added.guild.name}
        </a>
      </div>
    );
  }

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const guild = choices.find((known) => known.id === guildId);
    if (guild === undefined) return;
    setBusy(true);
    setError(null);
    try {
      const { location } = await session.api.authorizeBot(bot.id, guild.id, route.permissions);
      setAdded({ guild, location });
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={(event) => void submit(event)}>
      <Avatar id={bot.id} name={name} size={80} />
      <h2>{name}</h2>
      <p className="muted">wants to join a server you manage</p>
      <label htmlFor={selectId}>Add to server</label>
      <select
        id={selectId}
        value={guildId}
        required
        disabled={route.disableGuildSelect && choices.length === 1}
        onChange={(event) => { setGuildId(event.target.value); }}
      >
        <option value="">Select a server</option>
        {choices.map((guild) => (
          <option key={guild.id} value={guild.id} disabled={present(guild.id)}>
            {present(guild.id) ? `${guild.name} (already added)` : guild.name}
          </option>
        ))}
      </select>
      {choices.length === 0 && (
        <p className="form-error" role="alert">
          You manage no server this bot can join: you must own it, or have Administrator or Manage Server there.
        </p>
      )}
      <p id={listId} className="add-bot-heading">
        {permissions.length === 0 ? `${name} asks for no permissions.` : `This will allow ${name} to:`}
      </p>
      {permissions.length > 0 && (
        <ul className="add-bot-permissions" aria-labelledby={listId}>
          {permissions.map((permission) => (
            <li key={permission}>{permission}</li>
          ))}
        </ul>
      )}
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="notice-actions">
        <button type="button" onClick={() => { navigate({ name: 'home' }); }}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy || guildId === ''}>
          Authorize
        </button>
      </div>
    </form>
  );
}

/** A location on this origin opens in the client; another one, as a plain link. */
function followLocation(event: { preventDefault: () => void }, location: string): void {
  const target = new URL(location, window.location.href);
  if (target.origin !== window.location.origin) return;
  event.preventDefault();
  navigate(parseRoute(target.pathname + target.search));
}
