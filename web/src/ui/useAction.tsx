// One failed action's message, shown where the action was taken, and a runner that
// sets it (the settings dialogs' buttons).

import { useCallback, useState } from 'react';

import { describeError } from '../api/rest';

/** One failed action's message, shown in the dialog, and a runner that sets it. */
export function useAction() {
  const [error, setError] = useState<string | null>(null);
  const run = useCallback((action: () => Promise<unknown>) => {
    setError(null);
    action().catch((caught: unknown) => {
      setError(describeError(caught));
    });
  }, []);
  const shown =
    error === null ? null : (
      <p className="form-error" role="alert">
        {error}
      </p>
    );
  return { run, shown };
}
